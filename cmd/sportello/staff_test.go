package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/config"
)

var printedCode = regexp.MustCompile(`Activation code:  ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})\n`)

func TestStaffCommand(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			if d == store.Postgres {
				// A fresh, empty database: the command must ask for `sportello migrate`
				// unless the accounts tables are there.
				cfg.Database.URL = storetest.PostgresURL(t, nil)
				var out bytes.Buffer
				err := staffCommand(context.Background(), cfg, []string{"create", "--username", "admin"}, &out)
				if err == nil || !strings.Contains(err.Error(), "sportello migrate") {
					t.Fatalf("unmigrated database: %v", err)
				}
				db, err := store.Open(context.Background(), store.Options{URL: cfg.Database.URL})
				if err != nil {
					t.Fatal(err)
				}
				migs := append(audit.Migrations(), accounts.Migrations()...)
				if err := store.Migrate(context.Background(), db, migs); err != nil {
					t.Fatal(err)
				}
				store.Close(db)
			}
			ctx := context.Background()
			var out bytes.Buffer
			err := staffCommand(ctx, cfg, []string{"create", "--username", "Admin", "--given-name", "Ada", "--family-name", "Neri",
				"--email", "ada@comune.example", "--roles", "admin, urp_operator"}, &out)
			if err != nil {
				t.Fatalf("create: %v\n%s", err, out.String())
			}
			m := printedCode.FindStringSubmatch(out.String())
			t.Logf("output:\n%s", out.String())
			if m == nil || !strings.Contains(out.String(), "admin (Ada Neri)") || !strings.Contains(out.String(), "/idp/attiva") {
				t.Fatalf("output:\n%s", out.String())
			}
			db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL, DataDir: cfg.DataDir})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close(db)
			svc := accounts.New(db, accounts.Options{})
			if a, err := svc.CheckActivation(ctx, "admin", m[1], ""); err != nil || !a.HasRole(roles.URP) {
				t.Fatalf("printed code: %v", err)
			}
			out.Reset()
			if err := staffCommand(ctx, cfg, []string{"create", "--username", "admin", "--roles", "boss"}, &out); err == nil ||
				!strings.Contains(out.String(), "--roles: Choose one of the values offered.") || !strings.Contains(out.String(), "--email: This field is required.") {
				t.Fatalf("bad input: %v\n%s", err, out.String())
			}
			out.Reset()
			err = staffCommand(ctx, cfg, []string{"create", "--username", "admin", "--given-name", "A", "--family-name", "B",
				"--email", "b@comune.example", "--roles", "urp_operator"}, &out)
			if err == nil || !strings.Contains(out.String(), "--username: This username is already taken.") {
				t.Fatalf("duplicate username: %v\n%s", err, out.String())
			}
			out.Reset()
			if err := staffCommand(ctx, cfg, []string{"reset", "--username", "admin"}, &out); err != nil || printedCode.FindStringSubmatch(out.String())[1] == m[1] {
				t.Fatalf("reset: %v\n%s", err, out.String())
			}
			if _, err := svc.CheckActivation(ctx, "admin", m[1], ""); err == nil {
				t.Fatal("the old code survived the reset")
			}
		})
	}
}
