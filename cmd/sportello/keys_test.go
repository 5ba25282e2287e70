package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/config"
)

func TestKeysCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	var out bytes.Buffer
	if err := keysCommand(ctx, cfg, []string{"list"}, &out); err == nil || !strings.Contains(err.Error(), "sportello keys init") {
		t.Fatalf("list before init: %v", err)
	}
	out.Reset()
	if err := keysCommand(ctx, cfg, []string{"init"}, &out); err != nil || !strings.Contains(out.String(), "created") {
		t.Fatalf("init: %v %s", err, out.String())
	}
	dir := cfg.DataDir + "/keys/stamp"
	first, err := stamp.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := keysCommand(ctx, cfg, []string{"rotate"}, &out); err != nil || !strings.Contains(out.String(), first.ActiveKID()+" is retired") {
		t.Fatalf("rotate: %v %s", err, out.String())
	}
	out.Reset()
	if err := keysCommand(ctx, cfg, nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), first.ActiveKID()+"  ES256 P-256  retired") || strings.Count(out.String(), "active (signs") != 1 {
		t.Fatalf("list:\n%s", out.String())
	}
	out.Reset()
	if err := keysCommand(ctx, cfg, []string{"jwks"}, &out); err != nil {
		t.Fatal(err)
	}
	ring, err := stamp.KeyRingFromJWKS(out.Bytes())
	if err != nil || len(ring.KIDs()) != 2 || strings.Contains(out.String(), `"d"`) {
		t.Fatalf("jwks: %v %s", err, out.String())
	}
	if err := keysCommand(ctx, cfg, []string{"burn"}, &out); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
}
