package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/appuntamenti"
)

// settingsProbe is the probe module reading its settings per ente, with the settings
// type of the appointments module (cancel_hours and its Validate), the way a module
// switches to Mount.SettingsFor.
type settingsProbe struct {
	probe
	settingsFor func(ctx context.Context, out any) error
}

func (p *settingsProbe) Mount(m *services.Mount) error {
	if err := p.probe.Mount(m); err != nil {
		return err
	}
	p.settingsFor = m.SettingsFor
	m.Public.GET("/impostazioni", func(c echo.Context) error {
		s := appuntamenti.DefaultSettings()
		if err := m.SettingsFor(c.Request().Context(), &s); err != nil {
			return err
		}
		return c.String(http.StatusOK, fmt.Sprintf("cancel_hours=%d reminder_hours=%d", s.CancelHours, s.ReminderHours))
	})
	m.Public.GET("/impostazioni-installazione", func(c echo.Context) error {
		s := appuntamenti.DefaultSettings()
		if err := m.Settings(&s); err != nil {
			return err
		}
		return c.String(http.StatusOK, fmt.Sprintf("cancel_hours=%d", s.CancelHours))
	})
	return nil
}

func yamlNode(t *testing.T, text string) yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil {
		t.Fatal(err)
	}
	return *n.Content[0]
}

// TestSettingsForEnte: one module, three enti, three answers through real HTTP: the
// installation's settings (the union), the configuration's enti[].modules (Valdoria)
// and the database's (Borgomonte, as `sportello enti update --set` writes them); an
// invalid or unknown setting of an ente is an error naming it, and Settings keeps
// answering with the installation's.
func TestSettingsForEnte(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: func() []services.Module { return []services.Module{&settingsProbe{}} },
		Configure: func(c *config.Config) {
			twoComuni(c)
			c.Modules.Settings = map[string]yaml.Node{"prova": yamlNode(t, "cancel_hours: 48\nreminder_hours: 72\n")}
			c.Comune.Modules = map[string]yaml.Node{"prova": yamlNode(t, "cancel_hours: 12\n")}
		}}, func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		st := enti.NewStore(s.DB)
		bor, err := st.Get(ctx, "borgomonte")
		if err != nil {
			t.Fatal(err)
		}
		if err := bor.SetModuleSetting("prova", "cancel_hours", "6"); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, bor); err != nil {
			t.Fatal(err)
		}
		if err := s.App.Enti().Load(ctx); err != nil {
			t.Fatal(err)
		}
		for host, want := range map[string]string{
			"valdoria.localhost":   "cancel_hours=12 reminder_hours=72",
			"borgomonte.localhost": "cancel_hours=6 reminder_hours=72",
			"unione.localhost":     "cancel_hours=48 reminder_hours=72",
		} {
			if r := s.ClientFor(host).Get("/servizi/prova/impostazioni"); r.Status != 200 || r.Body != want {
				t.Fatalf("%s: %d %q, want %q", host, r.Status, r.Body, want)
			}
			if r := s.ClientFor(host).Get("/servizi/prova/impostazioni-installazione"); r.Body != "cancel_hours=48" {
				t.Fatalf("Settings on %s: %q", host, r.Body)
			}
		}

		// Refused: a value the module's Validate refuses, a key it does not know, a
		// wrong type. Each names the ente.
		var sf func(context.Context, any) error
		for _, m := range s.App.Modules() {
			if p, ok := m.(*settingsProbe); ok {
				sf = p.settingsFor
			}
		}
		if sf == nil {
			t.Fatal("the probe was not mounted")
		}
		for _, bad := range [][2]string{{"cancel_hours", "9999"}, {"cancel_hourz", "3"}, {"cancel_hours", "molte"}} {
			e, _ := st.Get(ctx, "borgomonte")
			e.ModuleSettings = nil
			if err := e.SetModuleSetting("prova", bad[0], bad[1]); err != nil {
				t.Fatal(err)
			}
			set := appuntamenti.DefaultSettings()
			err := sf(enti.WithEnte(ctx, e), &set)
			if !errors.Is(err, enti.ErrSetting) || !strings.Contains(err.Error(), "borgomonte") {
				t.Fatalf("%s=%s: %v", bad[0], bad[1], err)
			}
		}
	})
}

// TestSettingsOfUnknownModule: an ente's settings of a module the portal does not have
// (a typing error) stop the start with a message naming the ente and the module.
func TestSettingsOfUnknownModule(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			mods := []services.Module{&settingsProbe{}}
			db := storetest.Open(t, d, app.Migrations(mods))
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.Secrets.System = []string{apptest.SystemSecret}
			if d == store.Postgres {
				cfg.Database.URL = "postgres://in-test"
			}
			twoComuni(&cfg)
			cfg.Enti[1].Modules = map[string]yaml.Node{"appuntamneti": yamlNode(t, "cancel_hours: 12\n")}
			a, err := app.New(context.Background(), app.Options{Config: cfg, Modules: mods, DB: db, Version: "test", FastCrypto: true})
			if err == nil {
				a.Close()
				t.Fatal("started with settings of an unknown module")
			}
			if !errors.Is(err, enti.ErrSetting) || !strings.Contains(err.Error(), "borgomonte") || !strings.Contains(err.Error(), "appuntamneti") {
				t.Fatalf("error: %v", err)
			}
		})
	}
}
