package app_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/urp"
)

func TestDisabledModule(t *testing.T) {
	t.Parallel()
	s := apptest.New(t, store.SQLite, apptest.Options{Modules: modules(), Configure: func(c *config.Config) {
		c.Modules.Disabled = []string{"prova"}
	}})
	c := s.Client()
	if r := c.Get("/servizi/prova"); r.Status != http.StatusNotFound {
		t.Fatalf("disabled module sheet: %d", r.Status)
	}
	if strings.Contains(c.Get("/servizi").Body, "/servizi/prova") {
		t.Fatal("disabled module in catalogue")
	}
}

func TestErrorPages(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: modules, Configure: func(c *config.Config) { c.HTTP.BodyLimit = "2K" }},
		func(t *testing.T, s *apptest.Server) {
			c := s.Client()
			cases := []struct {
				name   string
				do     func() *apptest.Response
				status int
				want   string
			}{
				{"404 it", func() *apptest.Response { return c.Get("/non-esiste") }, 404, "Pagina non trovata"},
				{"404 en", func() *apptest.Response { return c.GetLang("/non-esiste", "en-GB,en;q=0.8") }, 404, "Page not found"},
				{"csrf missing", func() *apptest.Response {
					return c.PostRaw("/servizi/prova/aggiungi", url.Values{"name": {"x"}})
				}, 403, "Il modulo è scaduto"},
				{"csrf wrong", func() *apptest.Response {
					c.CSRF()
					return c.PostRaw("/servizi/prova/aggiungi", url.Values{"name": {"x"}, "_csrf": {"forged"}})
				}, 403, "Il modulo è scaduto"},
				{"413", func() *apptest.Response {
					return c.PostForm("/servizi/prova/aggiungi", url.Values{"name": {strings.Repeat("x", 4096)}})
				}, 413, "Contenuto troppo grande"},
				{"panic", func() *apptest.Response { return c.Get("/servizi/prova/panico") }, 500, "Errore interno"},
				{"json 404", func() *apptest.Response { return c.Get("/api/nulla") }, 404, `"status":404`},
			}
			for _, tc := range cases {
				r := tc.do()
				if r.Status != tc.status || !strings.Contains(r.Body, tc.want) {
					t.Errorf("%s: got %d, want %d with %q", tc.name, r.Status, tc.status, tc.want)
				}
				if strings.Contains(r.Body, "secret internal detail") || strings.Contains(r.Body, "goroutine") {
					t.Errorf("%s: internal error text reached the page", tc.name)
				}
			}
			var csrf int64
			s.All().Model(&audit.Event{}).Where("action = ?", "security.csrf_rejected").Count(&csrf)
			if csrf != 2 {
				t.Errorf("CSRF rejections audited: %d, want 2", csrf)
			}
			// None of the refused posts changed the data.
			if r := c.Get("/servizi/prova/elenco"); r.Body != "items=0" {
				t.Fatalf("refused requests changed data: %q", r.Body)
			}
		})
}

func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: modules}, func(t *testing.T, s *apptest.Server) {
		c := s.Client()
		if r := c.Get("/readyz"); r.Status != 200 {
			t.Fatalf("readyz: %d", r.Status)
		}
		if err := store.Close(s.DB); err != nil {
			t.Fatal(err)
		}
		r := c.Get("/servizi/urp/")
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "Servizio temporaneamente non disponibile") {
			t.Fatalf("db down: %d", r.Status)
		}
		if r := c.Get("/readyz"); r.Status != http.StatusServiceUnavailable {
			t.Fatalf("readyz with db down: %d", r.Status)
		}
		if r := c.Get("/healthz"); r.Status != 200 {
			t.Fatalf("healthz is about the process: %d", r.Status)
		}
	})
}

func TestSecurityHeadersAndLanguage(t *testing.T) {
	t.Parallel()
	s := apptest.New(t, store.SQLite, apptest.Options{NewModules: modules})
	c := s.Client()
	r := c.Get("/")
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP: %s", csp)
	}
	if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Referrer-Policy") == "" || r.Header.Get("X-Request-Id") == "" {
		t.Fatalf("headers: %v", r.Header)
	}
	if !strings.Contains(r.Body, `<html lang="it">`) {
		t.Fatal("Italian is the default")
	}
	if r := c.Get("/servizi?lang=en"); !strings.Contains(r.Body, `<html lang="en">`) || !strings.Contains(r.Body, "Service catalogue") {
		t.Fatal("language switch")
	}
	if r := c.Get("/"); !strings.Contains(r.Body, `<html lang="en">`) {
		t.Fatal("the language choice is remembered")
	}
	for _, ck := range c.HTTP.Jar.Cookies(mustURL(s.URL)) {
		if ck.Name == "sportello_csrf" && ck.Value == "" {
			t.Fatal("empty csrf cookie")
		}
	}
	m := c.Get("/metrics")
	if m.Status != 200 || !strings.Contains(m.Body, "sportello_http_requests_total") {
		t.Fatalf("metrics: %d %s", m.Status, m.Body[:min(len(m.Body), 3000)])
	}
}

var paramRE = regexp.MustCompile(`:[a-z_]+`)

func mustURL(s string) *url.URL { u, _ := url.Parse(s); return u }

// TestGracefulShutdown: cancelling Serve's context (what SIGTERM does) lets a request
// that is already running finish with its full answer.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	a, err := app.New(context.Background(), app.Options{Config: cfg, Modules: modules(), FastCrypto: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	started := make(chan struct{})
	a.Echo().GET("/lento", func(c echo.Context) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return c.String(http.StatusOK, "finito")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	var wg sync.WaitGroup
	var body string
	var status int
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, err := http.Get("http://" + ln.Addr().String() + "/lento")
		if err != nil {
			t.Error(err)
			return
		}
		defer res.Body.Close()
		b := make([]byte, 64)
		n, _ := res.Body.Read(b)
		body, status = string(b[:n]), res.StatusCode
	}()
	<-started
	cancel()
	wg.Wait()
	if status != 200 || body != "finito" {
		t.Fatalf("in-flight request cut: %d %q", status, body)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}

// TestRestartKeepsData: the embedded database survives a restart.
func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	ctx := context.Background()
	a, err := app.New(ctx, app.Options{Config: cfg, Modules: modules(), FastCrypto: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.SeedDemo(ctx); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b, err := app.New(ctx, app.Options{Config: cfg, Modules: modules(), FastCrypto: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var n int64
	enti.AllEnti(b.DB(), "test").Table("urp_offices").Count(&n)
	if n != 4 {
		t.Fatalf("offices after restart: %d", n)
	}
	if _, err := b.SeedDemo(ctx); err != nil {
		t.Fatal(err)
	}
	enti.AllEnti(b.DB(), "test").Table("urp_offices").Count(&n)
	if n != 4 {
		t.Fatalf("demo is not idempotent: %d offices", n)
	}
}

// TestSchemaBehindRefused: serve refuses a PostgreSQL schema that is behind and says
// which command fixes it.
func TestSchemaBehindRefused(t *testing.T) {
	t.Parallel()
	s := apptest.New(t, store.Postgres, apptest.Options{Modules: []services.Module{urp.New()}})
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database.URL = "postgres://in-test"
	cfg.Secrets.System = []string{apptest.SystemSecret}
	_, err := app.New(context.Background(), app.Options{Config: cfg, Modules: modules(), DB: s.DB, FastCrypto: true})
	if err == nil || !strings.Contains(err.Error(), "sportello migrate") {
		t.Fatalf("want refusal naming the command, got %v", err)
	}
	if _, err := app.New(context.Background(), app.Options{Config: cfg, Modules: modules(), DB: s.DB, Migrate: true, FastCrypto: true}); err != nil {
		t.Fatalf("with --migrate: %v", err)
	}
}

func TestAuditViewer(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: modules}, func(t *testing.T, s *apptest.Server) {
		if _, err := s.App.SeedDemo(context.Background()); err != nil {
			t.Fatal(err)
		}
		op := s.Client()
		s.LoginAs(op, web.Viewer{Kind: "staff", ID: "op1", Roles: []string{"urp_operator"}})
		long := strings.Repeat("chiuso ", 100)
		r := op.PostForm("/backoffice/urp/1/avviso", url.Values{"notice_it": {long}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "supera i 400 caratteri") || !strings.Contains(r.Body, "chiuso chiuso") {
			t.Fatalf("too long notice: %d", r.Status)
		}
		var notice string
		s.All().Table("urp_offices").Where("id = 1").Pluck("notice_it", &notice)
		if notice != "" {
			t.Fatal("a refused form changed the data")
		}
		if r := op.PostForm("/backoffice/urp/1/avviso", url.Values{"notice_it": {"Chiuso il 24 dicembre"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("notice: %d", r.Status)
		}
		if r := s.Client().Get("/servizi/urp/"); !strings.Contains(r.Body, "Chiuso il 24 dicembre") {
			t.Fatal("notice not shown to citizens")
		}
		admin := s.Client()
		s.LoginAs(admin, web.Viewer{Kind: "staff", ID: "admin1", Roles: []string{"admin"}})
		a := admin.Get("/backoffice/audit?actor=op1&action=urp.")
		if a.Status != 200 || !strings.Contains(a.Body, "urp.notice_update") || !strings.Contains(a.Body, "1 evento trovato") {
			t.Fatalf("audit viewer: %d", a.Status)
		}
		if r := admin.Get("/backoffice/audit?from=31-12-2026"); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "data valida") {
			t.Fatalf("bad date: %d", r.Status)
		}
		if r := admin.Get("/backoffice/posta"); r.Status != 200 || !strings.Contains(r.Body, "Nessun server SMTP") {
			t.Fatalf("dev mailbox: %d", r.Status)
		}
	})
}

// TestCSRFOnEveryForm posts without a token to every state-changing route the portal
// registers (platform and modules) and expects a 403 refusal each time, logged in as
// an admin so that no guard answers first.
func TestCSRFOnEveryForm(t *testing.T) {
	t.Parallel()
	s := apptest.New(t, store.SQLite, apptest.Options{})
	c := s.Client()
	s.LoginAs(c, web.Viewer{Kind: "staff", ID: "admin", Roles: []string{"admin"}})
	c.CSRF()
	checked := 0
	for _, r := range s.App.Echo().Routes() {
		if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodDelete && r.Method != http.MethodPatch {
			continue
		}
		if r.Path == "/_test/login" || s.App.CSRFExempt(r.Path) {
			continue
		}
		path := strings.NewReplacer(":id", "1", ":provider", "sportello", "*", "x").Replace(r.Path)
		path = paramRE.ReplaceAllString(path, "1")
		req, _ := http.NewRequest(r.Method, s.URL+path, strings.NewReader("a=b"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res := c.Do(req)
		if res.Status != http.StatusForbidden {
			t.Errorf("%s %s without CSRF token: %d, want 403", r.Method, r.Path, res.Status)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no form routes found")
	}
	t.Logf("%d state-changing routes refuse a missing CSRF token", checked)
}

// TestRatingQuestion: the question that closes a service records an anonymous score,
// refuses nonsense with 422 leaving nothing behind, and shows averages to admins.
func TestRatingQuestion(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: modules}, func(t *testing.T, s *apptest.Server) {
		c := s.Client()
		page := c.Get("/servizi/urp/")
		if !strings.Contains(page.Body, "Quanto è stato facile usare questo servizio?") {
			t.Fatal("no rating question at the end of the service")
		}
		for _, bad := range []url.Values{
			{"servizio": {"urp"}, "voto": {"9"}},
			{"servizio": {"inesistente"}, "voto": {"4"}},
			{"servizio": {"urp"}, "voto": {"4"}, "commento": {strings.Repeat("x", 501)}},
		} {
			if r := c.PostForm("/valutazione", bad); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "da 1 a 5") {
				t.Fatalf("bad rating %v: %d", bad, r.Status)
			}
		}
		for _, v := range []string{"4", "5"} {
			r := c.PostForm("/valutazione", url.Values{"servizio": {"urp"}, "voto": {v}, "ritorno": {"/servizi/urp/"}})
			if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/servizi/urp/" {
				t.Fatalf("rating: %d %s", r.Status, r.Header.Get("Location"))
			}
		}
		if r := c.Get("/servizi/urp/"); !strings.Contains(r.Body, "Grazie") {
			t.Fatal("no thanks after rating")
		}
		var n int64
		s.All().Table("service_ratings").Count(&n)
		if n != 2 {
			t.Fatalf("ratings stored: %d", n)
		}
		admin := s.Client()
		s.LoginAs(admin, web.Viewer{Kind: "staff", ID: "admin1", Roles: []string{"admin"}})
		if d := admin.Get("/backoffice"); !strings.Contains(d.Body, "4,5 / 5") || !strings.Contains(d.Body, "Uffici, orari e contatti") {
			t.Fatal("average rating not on the admin dashboard")
		}
	})
}

// TestRatingReturnAddress: the rating form's return address goes through the shared
// web.SafeLocalPath; anything a browser could read as another site falls back to the
// service's page.
func TestRatingReturnAddress(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: modules}, func(t *testing.T, s *apptest.Server) {
		c := s.Client()
		c.Get("/servizi/urp/")
		for ret, want := range map[string]string{
			"/servizi/urp/?x=1":    "/servizi/urp/?x=1",
			"/\t/evil.example":     "/servizi/urp",
			"/\\evil.example":      "/servizi/urp",
			"/%2F%2Fevil.example":  "/servizi/urp",
			"%2F%2Fevil.example":   "/servizi/urp",
			"/%5Cevil.example":     "/servizi/urp",
			"/\n/evil.example":     "/servizi/urp",
			"//evil.example":       "/servizi/urp",
			"https://evil.example": "/servizi/urp",
			"/\x01/evil.example":   "/servizi/urp",
		} {
			r := c.PostForm("/valutazione", url.Values{"servizio": {"urp"}, "voto": {"4"}, "ritorno": {ret}})
			if strings.ContainsAny(ret, "\x01") && r.Status == http.StatusBadRequest {
				continue // control characters are refused at the edge, before the handler
			}
			if r.Status != http.StatusSeeOther || r.Header.Get("Location") != want {
				t.Errorf("return address %q: %d %q, want %q", ret, r.Status, r.Header.Get("Location"), want)
			}
		}
	})
}

// TestProviderMetadataCacheable: the provider's discovery document and JWKS are public
// metadata: cacheable, without a session cookie; pages keep no-store.
func TestProviderMetadataCacheable(t *testing.T) {
	t.Parallel()
	s := apptest.New(t, store.SQLite, apptest.Options{NewModules: modules})
	c := s.Client()
	for _, p := range []string{"/idp/.well-known/openid-configuration", "/idp/jwks"} {
		r := c.Get(p)
		if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "public, max-age=300" || r.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: %d, Cache-Control %q, Set-Cookie %q", p, r.Status, r.Header.Get("Cache-Control"), r.Header.Get("Set-Cookie"))
		}
	}
	if r := c.Get("/"); r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("home page: Cache-Control %q", r.Header.Get("Cache-Control"))
	}
}
