package certificates_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/certificates"
)

func TestKeysCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	var out bytes.Buffer
	if err := runCommand(ctx, cfg, "keys", []string{"list"}, &out); err == nil || !strings.Contains(err.Error(), "sportello certificati keys init") {
		t.Fatalf("list before init: %v", err)
	}
	out.Reset()
	if err := runCommand(ctx, cfg, "keys", []string{"init"}, &out); err != nil || !strings.Contains(out.String(), "created") {
		t.Fatalf("init: %v %s", err, out.String())
	}
	dir := cfg.DataDir + "/keys/stamp"
	first, err := stamp.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runCommand(ctx, cfg, "keys", []string{"rotate"}, &out); err != nil || !strings.Contains(out.String(), first.ActiveKID()+" is retired") {
		t.Fatalf("rotate: %v %s", err, out.String())
	}
	out.Reset()
	if err := runCommand(ctx, cfg, "keys", nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), first.ActiveKID()+"  ES256 P-256  retired") || strings.Count(out.String(), "active (signs") != 1 {
		t.Fatalf("list:\n%s", out.String())
	}
	out.Reset()
	if err := runCommand(ctx, cfg, "keys", []string{"jwks"}, &out); err != nil {
		t.Fatal(err)
	}
	ring, err := stamp.KeyRingFromJWKS(out.Bytes())
	if err != nil || len(ring.KIDs()) != 2 || strings.Contains(out.String(), `"d"`) {
		t.Fatalf("jwks: %v %s", err, out.String())
	}
	if err := runCommand(ctx, cfg, "keys", []string{"burn"}, &out); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
}

// runCommand runs the module's command name as `sportello certificati name args...`
// would, writing to out.
func runCommand(ctx context.Context, cfg config.Config, name string, args []string, out io.Writer) error {
	for _, c := range certificates.New().Commands() {
		if c.Name == name {
			return c.Run(ctx, &services.CommandEnv{Config: cfg, Stdout: out, Stderr: out}, args)
		}
	}
	return fmt.Errorf("no command %q", name)
}
