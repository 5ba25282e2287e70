package idp_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/idp"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/templates"
)

// fastHash keeps the suite quick.
var fastHash = accounts.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func migrations() []*store.Migration {
	var m []*store.Migration
	m = append(m, web.Migrations()...)
	m = append(m, audit.Migrations()...)
	m = append(m, notify.Migrations()...)
	m = append(m, accounts.Migrations()...)
	m = append(m, idp.Migrations()...)
	return m
}

// clock is the accounts service's settable clock. TOTP refuses a code whose time
// step was already used, so tests move it on between codes.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var (
	tplOnce sync.Once
	tplFS   fs.FS
)

// pageFS is the part of the portal's templates these pages use: the layout,
// partials, error page, the provider's pages and the messages they need. Pages of
// other packages are left out, so that work in progress elsewhere cannot break
// these tests; the whole set is checked by the app's own tests.
func pageFS(t testing.TB) fs.FS {
	tplOnce.Do(func() {
		m := fstest.MapFS{}
		err := fs.WalkDir(templates.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			keep := strings.HasPrefix(p, "layouts/") || strings.HasPrefix(p, "partials/") ||
				strings.HasPrefix(p, "errors/") || strings.HasPrefix(p, "idp/")
			if strings.HasPrefix(p, "locales/") {
				switch path.Base(p) {
				case "core.yaml", "idp.yaml", "accounts.yaml":
					keep = true
				}
			}
			if !keep {
				return nil
			}
			b, err := fs.ReadFile(templates.FS, p)
			if err != nil {
				return err
			}
			m[p] = &fstest.MapFile{Data: b}
			return nil
		})
		if err != nil {
			panic(err)
		}
		tplFS = m
	})
	return tplFS
}

// env is a portal with the provider mounted, on a real HTTP server.
type env struct {
	t        *testing.T
	db       *gorm.DB
	srv      *httptest.Server
	base     string
	clk      *clock
	accounts *accounts.Service
	idp      *idp.Provider
	ctx      context.Context

	// The portal's own client, as app/auth uses it.
	clientID, secret string
	redirect         string
	postLogout       string
}

func newEnv(t *testing.T, d store.Dialect) *env {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t, d, migrations())
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	base := "http://" + srv.Listener.Addr().String()
	i18n, err := web.LoadI18n(pageFS(t), "locales")
	if err != nil {
		t.Fatalf("messages: %v", err)
	}
	cfg := config.Default()
	render, err := web.NewRenderer(pageFS(t), i18n, web.Site{Comune: cfg.Comune, BaseURL: base})
	if err != nil {
		t.Fatalf("templates: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	clk := &clock{t: time.Now().UTC()}
	acc := accounts.New(db, accounts.Options{Now: clk.Now, Hash: fastHash, BaseURL: base,
		Outbox: notify.NewOutbox(nil), I18n: i18n, Issuer: cfg.Comune.Name, Log: log, Roles: testRoles})
	p, err := idp.New(ctx, idp.Options{DB: db, Accounts: acc, Renderer: render, BaseURL: base, Log: log, SecretHashCost: 4})
	if err != nil {
		t.Fatalf("idp.New: %v", err)
	}
	e := web.New(web.Options{Log: log, Renderer: render, Sessions: web.NewSessions(db, 8*time.Hour, 30*time.Minute, false),
		BodyLimit: "1M", CSRFExempt: idp.CSRFExempt})
	p.Mount(e)
	// The relying party's pages, as far as these tests need them.
	e.GET("/auth/callback", func(c echo.Context) error { return c.String(http.StatusOK, "callback") })
	srv.Config.Handler = e
	srv.Start()
	t.Cleanup(srv.Close)
	env := &env{t: t, db: db, srv: srv, base: base, clk: clk, accounts: acc, idp: p, ctx: ctx,
		redirect: base + "/auth/callback", postLogout: base + "/auth/uscita"}
	env.clientID, env.secret, err = p.EnsurePortalClient(ctx, env.redirect, env.postLogout)
	if err != nil {
		t.Fatalf("EnsurePortalClient: %v", err)
	}
	return env
}

// each runs fn once per dialect, in parallel subtests.
func each(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, d))
		})
	}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t    *testing.T
	http *http.Client
	base string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

func (b *browser) do(req *http.Request) *response {
	b.t.Helper()
	req.Header.Set("Accept-Language", "it")
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return &response{Status: res.StatusCode, Header: res.Header, Body: string(body), Location: res.Header.Get("Location")}
}

func (b *browser) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.base + u
	}
	return u
}

func (b *browser) get(u string) *response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.abs(u), nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) *response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.abs(u), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	csrfField   = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	reqField    = regexp.MustCompile(`name="req" value="([^"]+)"`)
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	secretField = regexp.MustCompile(`<span class="code-mono">([A-Z2-7 ]+)</span>`)
)

func match(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in page:\n%s", re, body)
	}
	return m[1]
}

// submit posts the first form of page with its hidden fields (the CSRF token, the
// pending request) plus fields.
func (b *browser) submit(page *response, fields url.Values) *response {
	b.t.Helper()
	form := url.Values{"_csrf": {match(b.t, csrfField, page.Body)}}
	for _, m := range hiddenField.FindAllStringSubmatch(page.Body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	for k, v := range fields {
		form[k] = v
	}
	return b.post(strings.ReplaceAll(match(b.t, formAction, page.Body), "&amp;", "&"), form)
}

func expect(t *testing.T, r *response, status int, contains ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; Location %q; body:\n%s", r.Status, status, r.Location, r.Body)
	}
	for _, s := range contains {
		if !strings.Contains(r.Body, s) {
			t.Fatalf("page lacks %q:\n%s", s, r.Body)
		}
	}
	if strings.Contains(r.Body, "[idp.") || strings.Contains(r.Body, "[accounts.") || strings.Contains(r.Body, "[validation.") {
		t.Fatalf("page shows a raw message key:\n%s", r.Body)
	}
}

// rp is a relying party speaking to the provider like app/auth does: discovery,
// Authorization Code with PKCE S256, state and nonce, ID token verification.
type rp struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    *oauth2.Config
	ctx      context.Context
}

func (e *env) rp(clientID, secret string, scopes ...string) *rp {
	e.t.Helper()
	ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: 30 * time.Second})
	op, err := oidc.NewProvider(ctx, e.base+"/idp")
	if err != nil {
		e.t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email", "sportello"}
	}
	return &rp{provider: op, ctx: ctx, verifier: op.Verifier(&oidc.Config{ClientID: clientID}),
		oauth: &oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: op.Endpoint(),
			RedirectURL: e.redirect, Scopes: scopes}}
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// flow is one authorization request in progress.
type flow struct {
	state, nonce, verifier string
	url                    string
}

func (r *rp) start(extra ...oauth2.AuthCodeOption) *flow {
	f := &flow{state: random(), nonce: random(), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}, extra...)
	f.url = r.oauth.AuthCodeURL(f.state, opts...)
	return f
}

// callback checks that r redirects to the client's callback with the flow's state and
// returns the code.
func (f *flow) callback(t *testing.T, e *env, r *response) string {
	t.Helper()
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, e.redirect+"?") {
		t.Fatalf("expected a redirect to the callback, got %d %q:\n%s", r.Status, r.Location, r.Body)
	}
	u, _ := url.Parse(r.Location)
	q := u.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != f.state {
		t.Fatalf("state %q, want %q", q.Get("state"), f.state)
	}
	return q.Get("code")
}

// exchange redeems code with the flow's PKCE verifier and verifies the ID token.
func (r *rp) exchange(t *testing.T, f *flow, code string) (*oauth2.Token, *oidc.IDToken, string) {
	t.Helper()
	tok, err := r.oauth.Exchange(r.ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ctx, raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != f.nonce {
		t.Fatalf("nonce %q, want %q", idt.Nonce, f.nonce)
	}
	return tok, idt, raw
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// Accounts.

const testPassword = "gatto-pianoforte-lampione-42"

type person struct {
	account  *accounts.Account
	username string
	password string
	secret   string // TOTP secret, if enrolled
}

// citizen creates an active citizen account through the accounts API.
func (e *env) citizen(cf, given, family string, birth time.Time, email string) *person {
	e.t.Helper()
	a, err := e.accounts.RegisterCitizen(e.ctx, "operatore", accounts.CitizenInput{FiscalCode: cf, GivenName: given,
		FamilyName: family, BirthDate: birth, Email: email, IDDocType: accounts.DocCIE, IDDocNumber: "CA12345AB",
		DocumentSeen: true})
	if err != nil {
		e.t.Fatalf("register citizen: %v", err)
	}
	cred, err := e.accounts.IssueCredentials(e.ctx, "operatore", a.ID)
	if err != nil {
		e.t.Fatalf("issue credentials: %v", err)
	}
	a, err = e.accounts.Activate(e.ctx, cred.Username, cred.ActivationCode, testPassword, "127.0.0.1")
	if err != nil {
		e.t.Fatalf("activate: %v", err)
	}
	return &person{account: a, username: cred.Username, password: testPassword}
}

// staff creates an active staff account with TOTP through the accounts API.
func (e *env) staff(username string, roles ...string) *person {
	e.t.Helper()
	a, cred, err := e.accounts.CreateStaff(e.ctx, "admin", accounts.StaffInput{Username: username, GivenName: "Giulia",
		FamilyName: "Bianchi", Email: username + "@comune.valdoria.example", Roles: roles})
	if err != nil {
		e.t.Fatalf("create staff: %v", err)
	}
	if _, err := e.accounts.CheckActivation(e.ctx, cred.Username, cred.ActivationCode, "127.0.0.1"); err != nil {
		e.t.Fatalf("check activation: %v", err)
	}
	secret, _, err := e.accounts.BeginTOTP(e.ctx, a.ID)
	if err != nil {
		e.t.Fatalf("begin TOTP: %v", err)
	}
	if err := e.accounts.ConfirmTOTP(e.ctx, a.ID, e.totp(secret)); err != nil {
		e.t.Fatalf("confirm TOTP: %v", err)
	}
	a, err = e.accounts.Activate(e.ctx, cred.Username, cred.ActivationCode, testPassword, "127.0.0.1")
	if err != nil {
		e.t.Fatalf("activate staff: %v", err)
	}
	return &person{account: a, username: cred.Username, password: testPassword, secret: secret}
}

// totp returns the current code of secret, first moving the accounts clock to a new
// time step (a step is accepted once).
func (e *env) totp(secret string) string {
	e.t.Helper()
	e.clk.Advance(31 * time.Second)
	code, err := totp.GenerateCode(secret, e.clk.Now())
	if err != nil {
		e.t.Fatalf("totp: %v", err)
	}
	return code
}

// login drives the provider's login pages from an authorization request to the code.
func (e *env) login(t *testing.T, b *browser, f *flow, p *person) string {
	t.Helper()
	r := b.get(f.url)
	if r.Status != http.StatusSeeOther || !strings.Contains(r.Location, "/idp/accedi?req=") {
		t.Fatalf("authorize: expected the login page, got %d %q:\n%s", r.Status, r.Location, r.Body)
	}
	page := b.get(r.Location)
	expect(t, page, http.StatusOK, `autocomplete="username"`, `autocomplete="current-password"`)
	r = b.submit(page, url.Values{"username": {p.username}, "password": {p.password}})
	if p.secret != "" {
		if r.Status != http.StatusSeeOther || !strings.Contains(r.Location, "/idp/accedi/codice") {
			t.Fatalf("expected the second factor step, got %d %q:\n%s", r.Status, r.Location, r.Body)
		}
		page = b.get(r.Location)
		expect(t, page, http.StatusOK, `autocomplete="one-time-code"`)
		r = b.submit(page, url.Values{"code": {e.totp(p.secret)}})
	}
	return f.callback(t, e, r)
}

// testRoles are the roles of a portal with a registry and a social-services module,
// whose staff the provider logs in.
var testRoles = func() roles.List {
	l, err := roles.Assemble(roles.Platform(), []roles.Def{
		{ID: "anagrafe_officer", Title: "accounts.role.urp_operator", Description: "accounts.role_desc.urp_operator"},
		{ID: "social_officer", Title: "accounts.role.urp_operator", Description: "accounts.role_desc.urp_operator"}})
	if err != nil {
		panic(err)
	}
	return l
}()
