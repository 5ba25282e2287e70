package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/config"
)

func getHost(t *testing.T, c *apptest.Client, base, host, path string) *apptest.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Host = host
	return c.Do(req)
}

// A single ente with no host names answers on any host, as a one-comune portal always
// has.
func TestSingleEnteAnswersOnEveryHost(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		c := s.Client()
		for _, h := range []string{"127.0.0.1", "sportello.comune.example", "whatever.localhost:8080"} {
			r := getHost(t, c, s.BaseURL, h, "/")
			if r.Status != http.StatusOK || !strings.Contains(r.Body, "Comune di Valdoria") {
				t.Fatalf("host %s: %d", h, r.Status)
			}
		}
		var e enti.Ente
		if err := s.DB.Where("id = ?", "valdoria").Take(&e).Error; err != nil || e.Name != "Comune di Valdoria" {
			t.Fatalf("the configured comune is not in the enti table: %+v %v", e, err)
		}
	})
}

// With host names configured, an unknown host gets a plain 404 that names no comune;
// probes answer on any host.
func TestUnknownHostIsPlainNotFound(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{Configure: func(c *config.Config) {
		c.Comune.Hosts = []string{"valdoria.localhost", "127.0.0.1"}
	}}, func(t *testing.T, s *apptest.Server) {
		c := s.Client()
		if r := getHost(t, c, s.BaseURL, "VALDORIA.localhost:8080", "/servizi"); r.Status != http.StatusOK ||
			!strings.Contains(r.Body, "Comune di Valdoria") {
			t.Fatalf("own host: %d", r.Status)
		}
		for _, path := range []string{"/", "/servizi", "/idp/accedi", "/backoffice", "/no-such-page"} {
			r := getHost(t, c, s.BaseURL, "roccabruna.localhost", path)
			if r.Status != http.StatusNotFound || strings.Contains(r.Body, "Valdoria") ||
				!strings.Contains(r.Body, "Portale non trovato") {
				t.Fatalf("unknown host %s: %d\n%s", path, r.Status, r.Body)
			}
			if r.Header.Get("Set-Cookie") != "" {
				t.Fatalf("unknown host %s got a cookie: %s", path, r.Header.Get("Set-Cookie"))
			}
		}
		if r := getHost(t, c, s.BaseURL, "roccabruna.localhost", "/healthz"); r.Status != http.StatusOK {
			t.Fatalf("healthz on any host: %d", r.Status)
		}
	})
}

// Pages show the ente as stored: a change made by `sportello enti update` (another
// process) reaches the pages when the registry reloads.
func TestPagesShowTheEnteFromTheDatabase(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		st := enti.NewStore(s.DB)
		e, err := st.Get(ctx, "valdoria")
		if err != nil {
			t.Fatal(err)
		}
		e.Name, e.Phone = "Comune di Valdoria Alta", "0000 123456"
		if err := st.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := s.App.Enti().Load(ctx); err != nil {
			t.Fatal(err)
		}
		r := s.Client().Get("/")
		if !strings.Contains(r.Body, "Comune di Valdoria Alta") || !strings.Contains(r.Body, "0000 123456") {
			t.Fatalf("home does not show the stored ente:\n%s", r.Body)
		}
	})
}

// Starting again with the same configuration leaves the ente as it was.
func TestConfigSyncIsIdempotent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, app.Migrations(app.Builtin()), func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		cfg := config.Default()
		st := enti.NewStore(db)
		if err := enti.SyncConfig(ctx, st, cfg); err != nil {
			t.Fatal(err)
		}
		first, err := st.Get(ctx, "valdoria")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // so that a rewrite would show in updated_at
		if err := enti.SyncConfig(ctx, st, cfg); err != nil {
			t.Fatal(err)
		}
		again, _ := st.Get(ctx, "valdoria")
		if !again.UpdatedAt.Equal(first.UpdatedAt) {
			t.Fatalf("identical configuration rewrote the row: %v -> %v", first.UpdatedAt, again.UpdatedAt)
		}
		cfg.Comune.Phone = "+39 0000 999999"
		if err := enti.SyncConfig(ctx, st, cfg); err != nil {
			t.Fatal(err)
		}
		changed, _ := st.Get(ctx, "valdoria")
		if changed.Phone != "+39 0000 999999" || !changed.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("changed configuration: %+v", changed)
		}
	})
}

// A module the ente does not offer is absent from its catalogue and its routes answer
// 404; the other modules are untouched.
func TestEnteDisabledModule(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{Configure: func(c *config.Config) {
		c.Comune.DisabledModules = []string{"certificati"}
	}}, func(t *testing.T, s *apptest.Server) {
		c := s.Client()
		if r := c.Get("/servizi"); r.Status != http.StatusOK || strings.Contains(r.Body, `href="/servizi/certificati"`) ||
			!strings.Contains(r.Body, `href="/servizi/urp"`) {
			t.Fatalf("catalogue:\n%s", r.Body)
		}
		// Nor does its footer link the certificate check, which would answer 404.
		if r := c.Get("/"); r.Status != http.StatusOK || strings.Contains(r.Body, `href="/verifica"`) ||
			!strings.Contains(r.Body, `href="/segnala-disservizio"`) {
			t.Fatalf("home without certificates: %d, the footer links /verifica", r.Status)
		}
		for _, p := range []string{"/servizi/certificati", "/verifica", "/backoffice/certificati"} {
			if r := c.Get(p); r.Status != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", p, r.Status)
			}
		}
		if r := c.Get("/servizi/urp"); r.Status != http.StatusOK {
			t.Errorf("urp: %d", r.Status)
		}
	})
}

// The footer links the certificate check where the comune offers certificates.
func TestFooterLinksVerificationWhereOffered(t *testing.T) {
	t.Parallel()
	s := apptest.New(t, store.SQLite, apptest.Options{})
	if r := s.Client().Get("/"); r.Status != http.StatusOK || !strings.Contains(r.Body, `href="/verifica"`) {
		t.Fatalf("home: %d, no link to /verifica in the footer", r.Status)
	}
}

// Rows written before several comuni (ente_id ”) are given to the only ente at
// start; the audit log's append-only guard allows exactly that change.
func TestRowsBeforeSeveralComuniAreAdopted(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		all := s.All()
		if err := all.Exec(`INSERT INTO audit_events (at, actor_kind, actor_id, action, outcome, ente_id) VALUES (?, 'staff', 'old', 'old.action', 'ok', '')`,
			time.Now().UTC()).Error; err != nil {
			t.Fatal(err)
		}
		if err := all.Exec(`INSERT INTO service_ratings (created_at, service, score, comment, ente_id) VALUES (?, 'certificati', 5, '', '')`,
			time.Now().UTC()).Error; err != nil {
			t.Fatal(err)
		}
		n, err := enti.Adopt(ctx, s.DB, []string{"audit_events", "service_ratings"})
		if err != nil || n != 2 {
			t.Fatalf("adopted %d rows: %v", n, err)
		}
		var owner string
		all.Table("audit_events").Where("actor_id = 'old'").Pluck("ente_id", &owner)
		if owner != "valdoria" {
			t.Fatalf("old audit entry belongs to %q", owner)
		}
		// Any other change to an audit entry is still refused, the adopted one too.
		if err := all.Exec(`UPDATE audit_events SET action = 'forged' WHERE actor_id = 'old'`).Error; err == nil {
			t.Fatal("the audit log accepted an update")
		}
		if err := all.Exec(`UPDATE audit_events SET ente_id = 'other' WHERE actor_id = 'old'`).Error; err == nil {
			t.Fatal("the audit log let an entry change ente")
		}
	})
}
