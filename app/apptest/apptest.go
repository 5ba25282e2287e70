// Package apptest runs the real portal (app.New, every middleware, the real router) on
// an httptest server over a fresh SQLite or PostgreSQL database, and gives tests
// cookie-carrying clients that speak to it over real HTTP.
package apptest

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/auth"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
)

// Options adjust the portal under test.
type Options struct {
	// Modules replaces the built-in module list; nil means app.Builtin(). Modules keep
	// state from Mount, so one instance must not serve two servers: with Each, use
	// NewModules.
	Modules []services.Module
	// NewModules, when set, builds a fresh module list for each server.
	NewModules func() []services.Module
	// DB reuses a database (already migrated) instead of creating a fresh one, for
	// tests of several portal processes on one database.
	DB *gorm.DB
	// RealCrypto keeps production password and client-secret hashing (benchmarks).
	RealCrypto bool
	// Host replaces 127.0.0.1 in the base URL (for example "localhost"), so that a
	// cookie jar keeps two portals' cookies apart.
	Host string
	// Configure edits the configuration before the portal starts.
	Configure func(*config.Config)
}

// SystemSecret is the system secret (secrets.system) of the portals this package
// starts, so that several portals on one database agree. Fictional, tests only.
const SystemSecret = "apptest-system-secret-not-for-production-0123"

// Server is a running portal.
type Server struct {
	*httptest.Server
	App *app.App
	DB  *gorm.DB
	// BaseURL is the portal's public address (http.base_url); clients use it.
	BaseURL string
	t       testing.TB
}

// New starts a portal on dialect d. It is stopped when t ends.
func New(t testing.TB, d store.Dialect, o Options) *Server {
	t.Helper()
	mods := o.Modules
	if o.NewModules != nil {
		mods = o.NewModules()
	}
	if mods == nil {
		mods = app.Builtin()
	}
	db := o.DB
	if db == nil {
		db = storetest.Open(t, d, app.Migrations(mods))
	}
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.BaseURL = "http://" + ts.Listener.Addr().String()
	if o.Host != "" {
		cfg.HTTP.BaseURL = strings.Replace(cfg.HTTP.BaseURL, "127.0.0.1", o.Host, 1)
	}
	cfg.HTTP.Addr = ts.Listener.Addr().String()
	cfg.Secrets.System = []string{SystemSecret}
	if d == store.Postgres {
		cfg.Database.URL = "postgres://in-test" // the DB is passed in; this only marks the dialect
	}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	var log *slog.Logger
	if os.Getenv("SPORTELLO_TEST_LOG") != "" {
		// SPORTELLO_TEST_LOG=1 shows the portal's log (the errors behind a 500).
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := app.New(context.Background(), app.Options{Config: cfg, Modules: mods, DB: db, Version: "test",
		FastCrypto: !o.RealCrypto, RegisterPortalClient: true, Log: log})
	if err != nil {
		t.Fatalf("apptest: app.New: %v", err)
	}
	a.Echo().POST("/_test/login", testLogin)
	ts.Config.Handler = a.Handler()
	ts.Start()
	t.Cleanup(func() { ts.Close(); a.Close() })
	return &Server{Server: ts, App: a, DB: db, BaseURL: cfg.HTTP.BaseURL, t: t}
}

// testLogin puts a viewer in the session. It exists only in servers built by this
// package: module tests use it to act as a citizen or staff member; the login flow
// itself is tested through real OIDC in app/auth.
func testLogin(c echo.Context) error {
	v := &web.Viewer{Kind: c.FormValue("kind"), ID: c.FormValue("id"), DisplayName: c.FormValue("name"),
		FiscalCode: c.FormValue("cf"), Roles: strings.Fields(c.FormValue("roles"))}
	if err := web.Login(c, v); err != nil {
		return err
	}
	if email := c.FormValue("email"); email != "" {
		auth.SetProfile(c, auth.Profile{Email: email, EmailVerified: true, Provider: "test"})
	}
	return c.NoContent(http.StatusNoContent)
}

// Client is a browser-like client: it keeps cookies and does not follow redirects, so
// tests see each 303.
type Client struct {
	HTTP *http.Client
	base string
	t    testing.TB
}

// ClientFor returns a new client, with its own cookie jar, that reaches the portal
// under host name host (an ente's host, "borgomonte.localhost"): requests go to the
// test server whatever the name resolves to.
func (s *Server) ClientFor(host string) *Client {
	jar, _ := cookiejar.New(nil)
	addr := s.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	s.t.Cleanup(tr.CloseIdleConnections)
	return &Client{
		HTTP: &http.Client{Jar: jar, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		base: "http://" + net.JoinHostPort(host, port), t: s.t,
	}
}

// Client returns a new client with an empty cookie jar.
func (s *Server) Client() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{
		HTTP: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		base: s.BaseURL, t: s.t,
	}
}

// LoginAs makes c's session belong to v (see testLogin).
func (s *Server) LoginAs(c *Client, v web.Viewer) {
	s.t.Helper()
	r := c.PostForm("/_test/login", url.Values{"kind": {v.Kind}, "id": {v.ID}, "name": {v.DisplayName},
		"cf": {v.FiscalCode}, "roles": {strings.Join(v.Roles, " ")}})
	if r.Status != http.StatusNoContent {
		s.t.Fatalf("apptest: login as %s: status %d", v.ID, r.Status)
	}
}

// LoginWithEmail is LoginAs with the e-mail address the login's profile carries
// (where a citizen's case notices go).
func (s *Server) LoginWithEmail(c *Client, v web.Viewer, email string) {
	s.t.Helper()
	r := c.PostForm("/_test/login", url.Values{"kind": {v.Kind}, "id": {v.ID}, "name": {v.DisplayName},
		"cf": {v.FiscalCode}, "roles": {strings.Join(v.Roles, " ")}, "email": {email}})
	if r.Status != http.StatusNoContent {
		s.t.Fatalf("apptest: login as %s: status %d", v.ID, r.Status)
	}
}

// Response is what a request returned, body read.
type Response struct {
	Status int
	Header http.Header
	Body   string
	// URL is the address the answer came from.
	URL string
}

// Do sends req and reads the whole answer.
func (c *Client) Do(req *http.Request) *Response {
	c.t.Helper()
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("apptest: %s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &Response{Status: res.StatusCode, Header: res.Header, Body: string(b), URL: req.URL.String()}
}

// Get fetches path.
func (c *Client) Get(path string) *Response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	return c.Do(req)
}

// GetLang fetches path with an Accept-Language header.
func (c *Client) GetLang(path, lang string) *Response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Accept-Language", lang)
	return c.Do(req)
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// CSRF returns the client's CSRF token, visiting the home page first if the client
// has none yet.
func (c *Client) CSRF() string {
	c.t.Helper()
	u, _ := url.Parse(c.base)
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == "sportello_csrf" {
			return ck.Value
		}
	}
	c.Get("/privacy")
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == "sportello_csrf" {
			return ck.Value
		}
	}
	c.t.Fatal("apptest: no CSRF cookie")
	return ""
}

// PostForm posts form to path with the client's CSRF token added.
func (c *Client) PostForm(path string, form url.Values) *Response {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("_csrf") == "" {
		form.Set("_csrf", c.CSRF())
	}
	return c.PostRaw(path, form)
}

// PostRaw posts form exactly as given (no CSRF token added).
func (c *Client) PostRaw(path string, form url.Values) *Response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.Do(req)
}

// FormToken extracts the _csrf value of the first form in an HTML body.
func FormToken(body string) string {
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// Each runs fn once per dialect with a fresh portal, in parallel subtests.
func Each(t *testing.T, o Options, fn func(t *testing.T, s *Server)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, New(t, d, o))
		})
	}
}

// GetURL fetches an absolute URL (a redirect to the identity provider, say).
func (c *Client) GetURL(u string) *Response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return c.Do(req)
}

// Follow follows the redirects that r starts (at most 10) with GET, as a browser does,
// and returns the first answer that is not a redirect, with URL set to where it came
// from.
func (c *Client) Follow(r *Response) *Response {
	c.t.Helper()
	for range 10 {
		if r.Status < 300 || r.Status > 399 {
			return r
		}
		loc := r.Header.Get("Location")
		base, _ := url.Parse(r.URL)
		if r.URL == "" {
			base, _ = url.Parse(c.base)
		}
		next, err := base.Parse(loc)
		if err != nil {
			c.t.Fatalf("apptest: bad Location %q: %v", loc, err)
		}
		r = c.GetURL(next.String())
	}
	c.t.Fatal("apptest: more than 10 redirects")
	return nil
}

var (
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// Submit posts the first POST form of page with its hidden fields (the CSRF token,
// pending request ids) plus fields, as a browser does.
func (c *Client) Submit(page *Response, fields url.Values) *Response {
	c.t.Helper()
	return c.SubmitAction(page, "", fields)
}

// Logout submits the header's logout form of a logged-in page.
func (c *Client) Logout(page *Response) *Response {
	c.t.Helper()
	return c.SubmitAction(page, "/auth/logout", nil)
}

// SubmitAction is Submit for the page's POST form with the given action ("" for the
// first form other than the header's logout form).
func (c *Client) SubmitAction(page *Response, want string, fields url.Values) *Response {
	c.t.Helper()
	action, body, ok := findForm(page.Body, want)
	if !ok {
		c.t.Fatalf("apptest: no POST form in page %s:\n%s", page.URL, page.Body)
	}
	form := url.Values{}
	for _, h := range hiddenField.FindAllStringSubmatch(body, -1) {
		form.Set(h[1], html.UnescapeString(h[2]))
	}
	for k, v := range fields {
		form[k] = v
	}
	base, _ := url.Parse(page.URL)
	if page.URL == "" {
		base, _ = url.Parse(c.base)
	}
	target, _ := base.Parse(action)
	req, _ := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.Do(req)
}

// findForm finds the page's POST form with action want, or with want "" the first
// one other than the header's logout form (which comes first on every logged-in
// page), and returns its action and markup, so that only that form's hidden fields
// are sent.
func findForm(page, want string) (action, body string, ok bool) {
	for _, loc := range formAction.FindAllStringSubmatchIndex(page, -1) {
		a := html.UnescapeString(page[loc[2]:loc[3]])
		if (want == "" && a == "/auth/logout") || (want != "" && a != want) {
			continue
		}
		rest := page[loc[0]:]
		if end := strings.Index(rest, "</form>"); end >= 0 {
			rest = rest[:end]
		}
		return a, rest, true
	}
	return "", "", false
}

// Ctx returns ctx carrying the portal's first ente, as a request on its host would:
// tests that call the App's services directly (not through HTTP) need it for the
// ente-owned tables (app/enti).
func (s *Server) Ctx(ctx context.Context) context.Context {
	list := s.App.Enti().All(ctx)
	if len(list) == 0 {
		return ctx
	}
	return enti.WithEnte(ctx, list[0])
}

// All returns the portal's database with every ente's rows readable (enti.AllEnti):
// for tests that check what was written, across comuni.
func (s *Server) All() *gorm.DB { return enti.AllEnti(s.DB, "test inspection") }

// EachOnOnePage fails t unless a list read page by page showed n distinct items (what
// names them in the message), each on exactly one page: seen counts the pages each
// item appeared on. Every paginated list's test checks this.
func EachOnOnePage[K comparable](t testing.TB, seen map[K]int, n int, what string) {
	t.Helper()
	if len(seen) != n {
		t.Fatalf("%d distinct %s over the pages, want %d", len(seen), what, n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("%s %v on %d pages", what, k, c)
		}
	}
}
