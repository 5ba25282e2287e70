package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/idp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
)

func TestIDPCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	var out bytes.Buffer
	run := func(args ...string) (string, error) {
		out.Reset()
		err := idpCommand(ctx, cfg, args, &out)
		return out.String(), err
	}
	if _, err := run("clients", "list"); err == nil || !strings.Contains(err.Error(), "sportello migrate") {
		t.Fatalf("no schema: %v", err)
	}
	db, err := store.Open(ctx, store.Options{DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(db)
	if err := store.Migrate(ctx, db, append(audit.Migrations(), idp.Migrations()...)); err != nil {
		t.Fatal(err)
	}

	if _, err := run("clients", "add", "--name", "Biblioteca"); err == nil {
		t.Fatal("add without a redirect URI succeeded")
	}
	o, err := run("clients", "add", "--name", "Biblioteca civica", "--redirect-uri", "https://biblioteca.example/cb",
		"--post-logout-uri", "https://biblioteca.example/")
	if err != nil {
		t.Fatal(err, o)
	}
	id := regexp.MustCompile(`client_id:\s+(\S+)`).FindStringSubmatch(o)
	secret := regexp.MustCompile(`client_secret:\s+(\S+)`).FindStringSubmatch(o)
	if id == nil || secret == nil || len(secret[1]) < 40 {
		t.Fatalf("add output:\n%s", o)
	}
	o, err = run("clients", "add", "--name", "App", "--redirect-uri", "http://127.0.0.1:9999/cb", "--public")
	if err != nil || !strings.Contains(o, "public client") {
		t.Fatalf("add public: %v\n%s", err, o)
	}
	o, err = run("--config", "ignored.yaml", "clients", "list")
	if err != nil || !strings.Contains(o, "Biblioteca civica") || !strings.Contains(o, "confidential") ||
		!strings.Contains(o, "public") || !strings.Contains(o, "https://biblioteca.example/") || strings.Contains(o, secret[1]) {
		t.Fatalf("list: %v\n%s", err, o)
	}
	if o, err = run("clients", "remove", id[1]); err != nil || !strings.Contains(o, "removed") {
		t.Fatalf("remove: %v\n%s", err, o)
	}
	if _, err = run("clients", "remove", id[1]); err == nil {
		t.Fatal("second remove succeeded")
	}
	o, err = run("keys", "rotate")
	if err != nil || !strings.Contains(o, "new signing key") {
		t.Fatalf("rotate: %v\n%s", err, o)
	}
	var keys int64
	db.Table("idp_keys").Count(&keys)
	if keys != 2 {
		t.Fatalf("%d keys after rotation", keys)
	}
	if _, err := run("keys", "burn"); err == nil {
		t.Fatal("unknown command accepted")
	}

	// The portal client, registered by two replicas; one address is then forgotten.
	box, err := app.SystemSecrets(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := idp.New(ctx, idp.Options{DB: db, BaseURL: "https://a.comune.example", Box: box})
	if err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{"https://a.comune.example", "https://b.comune.example"} {
		if _, _, err := p.EnsurePortalClient(ctx, base+"/auth/callback", base+"/auth/uscita"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := run("portal", "forget"); err == nil {
		t.Fatal("portal forget without a base URL succeeded")
	}
	if o, err = run("portal", "forget", "https://b.comune.example/"); err != nil || !strings.Contains(o, "no longer accepts https://b.comune.example") {
		t.Fatalf("portal forget: %v\n%s", err, o)
	}
	o, err = run("clients", "list")
	if err != nil || !strings.Contains(o, "https://a.comune.example/auth/callback") || strings.Contains(o, "b.comune.example") {
		t.Fatalf("list after portal forget: %v\n%s", err, o)
	}
}
