package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/config"
)

// TestSecretsCommand: on a development portal (system secret generated into the
// data directory) with the demo loaded, `secrets rotate` with a new secret in front
// reseals everything, a second run changes nothing, and the portal then starts with
// the new secret alone and still reads the demo staff's TOTP secrets.
func TestSecretsCommand(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			if d == store.Postgres {
				cfg.Database.URL = storetest.PostgresURL(t, nil)
			}
			start := func(cfg config.Config) *app.App {
				t.Helper()
				a, err := app.New(ctx, app.Options{Config: cfg, Migrate: true, FastCrypto: true})
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			a := start(cfg)
			if _, err := a.SeedDemo(ctx); err != nil {
				t.Fatal(err)
			}
			a.Close()
			devFile := filepath.Join(cfg.DataDir, secretbox.DevFileName)
			b, err := os.ReadFile(devFile)
			if err != nil {
				t.Fatalf("no development secret file: %v", err)
			}
			if st, _ := os.Stat(devFile); st.Mode().Perm() != 0o600 {
				t.Fatalf("development secret file mode %04o, want 0600", st.Mode().Perm())
			}
			devSecret := strings.TrimSpace(string(b))
			run := func(cfg config.Config, args ...string) string {
				t.Helper()
				var out bytes.Buffer
				if err := secretsCommand(ctx, cfg, args, &out); err != nil {
					t.Fatalf("secrets %v: %v\n%s", args, err, out.String())
				}
				return out.String()
			}
			devID := mustBox(t, devSecret).KeyID()
			if o := run(cfg, "status"); !strings.Contains(o, "idp_keys.private_pem") || !strings.Contains(o, devID+" (newest)") ||
				strings.Contains(o, devSecret) {
				t.Fatalf("status:\n%s", o)
			}
			const newSecret = "cmd-test-new-system-secret-0123456789abcdef"
			cfg.Secrets.System = []string{newSecret, devSecret}
			o := run(cfg, "--config", "ignored.yaml", "rotate")
			if !regexp.MustCompile(`accounts\.totp_secret\s+[1-9][0-9]* value`).MatchString(o) ||
				!regexp.MustCompile(`idp_keys\.private_pem\s+1 value`).MatchString(o) ||
				!regexp.MustCompile(`idp_secrets\.value\s+2 value`).MatchString(o) {
				t.Fatalf("rotate:\n%s", o)
			}
			if o := run(cfg, "rotate"); regexp.MustCompile(`\s[1-9]\d* value`).MatchString(o) {
				t.Fatalf("second rotate changed values:\n%s", o)
			}
			newID := mustBox(t, newSecret).KeyID()
			o = run(cfg, "status")
			cols := regexp.MustCompile(`(?m)^  \S+\s+(key id|no sealed values).*$`).FindAllString(o, -1)
			if len(cols) != 4 {
				t.Fatalf("status lists %d columns:\n%s", len(cols), o)
			}
			for _, line := range cols {
				if strings.Contains(line, devID) || (!strings.Contains(line, newID+" (newest)") && !strings.Contains(line, "no sealed values")) {
					t.Fatalf("after rotation a column still names the old key id or misses the new one: %q", line)
				}
			}
			cfg.Secrets.System = []string{newSecret}
			a = start(cfg)
			defer a.Close()
			var codes bytes.Buffer
			if err := a.DemoCodes(ctx, &codes); err != nil || !regexp.MustCompile(`demo\.urp\s+\d{6}`).MatchString(codes.String()) {
				t.Fatalf("demo codes after rotation: %v\n%s", err, codes.String())
			}
			var out bytes.Buffer
			if err := secretsCommand(ctx, cfg, []string{"shred"}, &out); err == nil || !strings.Contains(out.String(), "Usage: sportello secrets") {
				t.Fatalf("unknown subcommand: %v", err)
			}
		})
	}
}

func mustBox(t *testing.T, secrets ...string) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(secrets)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
