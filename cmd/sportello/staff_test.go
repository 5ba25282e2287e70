package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
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

// TestStaffGrantCommand: `sportello staff grant|revoke|grants` gives a union's officer a
// role in a member comune and takes it back, audited in that comune's log; a comune's
// staff get no role in another comune.
func TestStaffGrantCommand(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			if d == store.Postgres {
				cfg.Database.URL = storetest.PostgresURL(t, nil)
			}
			run := func(args ...string) (string, error) {
				var out bytes.Buffer
				err := staffCommand(ctx, cfg, args, &out)
				return out.String(), err
			}
			// The first run migrates (embedded) or is told to; then the enti.
			if d == store.Postgres {
				db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL})
				if err != nil {
					t.Fatal(err)
				}
				if err := store.Migrate(ctx, db, append(append(enti.Migrations(), audit.Migrations()...), accounts.Migrations()...)); err != nil {
					t.Fatal(err)
				}
				store.Close(db)
			} else if _, err := run("grants", "--account", "nobody"); err == nil {
				t.Fatal("grants of an unknown account")
			}
			db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL, DataDir: cfg.DataDir})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close(db)
			st := enti.NewStore(db)
			for _, e := range []*enti.Ente{
				{ID: "unione-valdoria", Kind: enti.KindUnione, Name: "Unione dei Comuni di Valdoria"},
				{ID: "valdoria", Kind: enti.KindComune, Name: "Comune di Valdoria", ParentID: "unione-valdoria"},
				{ID: "borgomonte", Kind: enti.KindComune, Name: "Comune di Borgomonte", ParentID: "unione-valdoria"},
			} {
				if err := st.Put(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			for _, u := range [][2]string{{"sociale", "unione-valdoria"}, {"urp.valdoria", "valdoria"}} {
				if out, err := run("create", "--username", u[0], "--given-name", "Anna", "--family-name", "Riva",
					"--email", u[0]+"@example.org", "--roles", "urp_operator", "--ente", u[1]); err != nil {
					t.Fatalf("create %s: %v\n%s", u[0], err, out)
				}
			}
			if out, err := run("grant", "--account", "sociale", "--ente", "borgomonte", "--role", "urp_operator"); err != nil ||
				!strings.Contains(out, "sociale now holds urp_operator in borgomonte") {
				t.Fatalf("grant: %v\n%s", err, out)
			}
			if out, err := run("grant", "--account", "sociale", "--ente", "borgomonte", "--role", "urp_operator"); err != nil ||
				!strings.Contains(out, "nothing changed") {
				t.Fatalf("grant again: %v\n%s", err, out)
			}
			if out, err := run("grants", "--account", "sociale"); err != nil ||
				!strings.Contains(out, "staff of unione-valdoria") || !strings.Contains(out, "borgomonte") {
				t.Fatalf("grants: %v\n%s", err, out)
			}
			for _, bad := range [][]string{
				{"grant", "--account", "urp.valdoria", "--ente", "borgomonte", "--role", "urp_operator"},
				{"grant", "--account", "sociale", "--ente", "borgomonte", "--role", "boss"},
				{"grant", "--account", "sociale", "--ente", "roccabruna", "--role", "urp_operator"},
				{"grant", "--account", "sociale", "--ente", "borgomonte"},
			} {
				if out, err := run(bad...); err == nil {
					t.Fatalf("%v accepted:\n%s", bad, out)
				}
			}
			if out, err := run("revoke", "--account", "sociale", "--ente", "borgomonte", "--role", "urp_operator"); err != nil ||
				!strings.Contains(out, "no longer holds") {
				t.Fatalf("revoke: %v\n%s", err, out)
			}
			var n int64
			if err := db.Table("staff_grants").Count(&n).Error; err != nil || n != 0 {
				t.Fatalf("grants left: %d %v", n, err)
			}
			var actions []string
			if err := db.Table("audit_events").Where("ente_id = ? AND action LIKE ?", "borgomonte", "staff.%").
				Order("id").Pluck("action", &actions).Error; err != nil {
				t.Fatal(err)
			}
			if strings.Join(actions, ",") != "staff.grant,staff.revoke" {
				t.Fatalf("Borgomonte's audit: %v", actions)
			}
		})
	}
}
