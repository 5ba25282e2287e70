package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/config"
)

func TestEntiCommand(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			if d == store.Postgres {
				cfg.Database.URL = storetest.PostgresURL(t, nil)
				var out bytes.Buffer
				if err := entiCommand(ctx, cfg, []string{"list"}, &out); err == nil || !strings.Contains(err.Error(), "sportello migrate") {
					t.Fatalf("unmigrated database: %v", err)
				}
				db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL})
				if err != nil {
					t.Fatal(err)
				}
				if err := store.Migrate(ctx, db, enti.Migrations()); err != nil {
					t.Fatal(err)
				}
				store.Close(db)
			}
			run := func(args ...string) (string, error) {
				var out bytes.Buffer
				err := entiCommand(ctx, cfg, args, &out)
				return out.String(), err
			}
			if _, err := run("add", "--id", "unione-valdoria", "--kind", "unione", "--name", "Unione dei Comuni di Valdoria",
				"--hosts", "Unione.Valdoria.localhost"); err != nil {
				t.Fatal(err)
			}
			if _, err := run("add", "--id", "roccabruna", "--parent", "unione-valdoria", "--name", "Comune di Roccabruna",
				"--istat-code", "099998", "--hosts", "roccabruna.localhost, www.roccabruna.example", "--theme-color", "#006633"); err != nil {
				t.Fatal(err)
			}
			// Refusals name the problem and change nothing.
			for _, bad := range [][]string{
				{"add", "--id", "roccabruna", "--name", "Again"},
				{"add", "--id", "Bad Id", "--name", "X"},
				{"add", "--id", "monte", "--name", "X", "--hosts", "roccabruna.localhost"},
				{"add", "--id", "monte", "--name", "X", "--istat-code", "12"},
				{"add", "--id", "monte", "--name", "X", "--parent", "roccabruna"},
				{"update", "--id", "nessuno", "--name", "X"},
				{"update", "--id", "roccabruna", "--theme-color", "green"},
			} {
				if out, err := run(bad...); err == nil {
					t.Errorf("%v accepted:\n%s", bad, out)
				}
			}
			if _, err := run("update", "--id", "roccabruna", "--phone", "0000 111111"); err != nil {
				t.Fatal(err)
			}
			out, err := run("list")
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"roccabruna", "unione-valdoria", "Comune di Roccabruna", "roccabruna.localhost,www.roccabruna.example",
				"unione.valdoria.localhost", "099998"} {
				if !strings.Contains(out, want) {
					t.Errorf("list lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "monte") {
				t.Errorf("a refused ente was stored:\n%s", out)
			}
			db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL, DataDir: cfg.DataDir})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close(db)
			e, err := enti.NewStore(db).Get(ctx, "roccabruna")
			if err != nil || e.Phone != "0000 111111" || e.Name != "Comune di Roccabruna" || e.ThemeColor != "#006633" || e.ParentID != "unione-valdoria" {
				t.Fatalf("after update: %+v %v", e, err)
			}
		})
	}
}

// TestEntiSetModuleSetting: `sportello enti update --set module.key=value` stores an
// ente's own setting of a module; unknown modules, bad keys and non-scalar values are
// refused and change nothing; an empty value removes the setting.
func TestEntiSetModuleSetting(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			if d == store.Postgres {
				cfg.Database.URL = storetest.PostgresURL(t, nil)
				db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL})
				if err != nil {
					t.Fatal(err)
				}
				if err := store.Migrate(ctx, db, enti.Migrations()); err != nil {
					t.Fatal(err)
				}
				store.Close(db)
			}
			run := func(args ...string) error {
				var out bytes.Buffer
				return entiCommand(ctx, cfg, args, &out)
			}
			if err := run("add", "--id", "roccabruna", "--name", "Comune di Roccabruna"); err != nil {
				t.Fatal(err)
			}
			if err := run("update", "--id", "roccabruna", "--set", "appuntamenti.cancel_hours=12", "--set", "appuntamenti.bring_cie=Carta d'identità scaduta"); err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"nessuno.cancel_hours=1", "appuntamenti.Cancel Hours=1", "appuntamenti.cancel_hours={a: 1}", "cancel_hours=1"} {
				if err := run("update", "--id", "roccabruna", "--set", bad, "--name", "Cambiato"); err == nil {
					t.Fatalf("--set %s accepted", bad)
				}
			}
			db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL, DataDir: cfg.DataDir})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close(db)
			e, err := enti.NewStore(db).Get(ctx, "roccabruna")
			if err != nil || e.Name != "Comune di Roccabruna" {
				t.Fatalf("after refusals: %+v %v", e, err)
			}
			var s struct {
				CancelHours int    `yaml:"cancel_hours"`
				BringCIE    string `yaml:"bring_cie"`
			}
			if err := e.DecodeModule("appuntamenti", &s); err != nil || s.CancelHours != 12 || s.BringCIE != "Carta d'identità scaduta" {
				t.Fatalf("stored setting: %+v %v (%q)", s, err, e.ModuleSettings)
			}
			if err := run("update", "--id", "roccabruna", "--set", "appuntamenti.cancel_hours=", "--set", "appuntamenti.bring_cie="); err != nil {
				t.Fatal(err)
			}
			if e, err = enti.NewStore(db).Get(ctx, "roccabruna"); err != nil || len(e.ModuleSettings) != 0 {
				t.Fatalf("after removing: %q %v", e.ModuleSettings, err)
			}
		})
	}
}

// TestEntiCitus: `sportello enti citus` prints the distribution of the migrated schema:
// ente-owned tables by ente_id, co-located; the others as reference tables. SQLite is
// refused.
func TestEntiCitus(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			if d == store.Postgres {
				cfg.Database.URL = storetest.PostgresURL(t, app.Migrations(app.EnabledModules(cfg, app.Builtin())))
			}
			var out bytes.Buffer
			err := entiCommand(ctx, cfg, []string{"citus"}, &out)
			if d == store.SQLite {
				if err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
					t.Fatalf("citus on SQLite: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			text := out.String()
			for _, want := range []string{
				"SELECT create_distributed_table('anagrafe_persons', 'ente_id');",
				"SELECT create_distributed_table('cases', 'ente_id', colocate_with => 'anagrafe_persons');",
				"SELECT create_distributed_table('audit_events', 'ente_id', colocate_with => 'anagrafe_persons');",
				"SELECT create_reference_table('accounts');",
				"SELECT create_reference_table('staff_grants');",
				"SELECT create_reference_table('enti');",
			} {
				if !strings.Contains(text, want) {
					t.Fatalf("missing %s in:\n%s", want, text)
				}
			}
			if strings.Contains(text, "create_reference_table('cases')") || strings.Count(text, "create_distributed_table('cases'") != 1 {
				t.Fatalf("cases both reference and distributed:\n%s", text)
			}
		})
	}
}
