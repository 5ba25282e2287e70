package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/codicefiscale"
	"github.com/comuni-italiani/sportello/app/idp"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
)

const testPassword = "Cipresso-Lungo-42"

// citizenCF is a fictional person's tax code: Lucia Verdi, born 20/05/1990 in L219.
func citizenCF(t testing.TB) string {
	cf, err := codicefiscale.Compute("Verdi", "Lucia", time.Date(1990, 5, 20, 0, 0, 0, 0, time.UTC), true, "L219")
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

// issueCitizen registers a citizen at the desk (through the service) and issues
// credentials, as the URP operator does after checking an identity document.
func issueCitizen(t testing.TB, s *apptest.Server, cf string) accounts.Credentials {
	t.Helper()
	ctx := context.Background()
	acc := s.App.Accounts()
	a, err := acc.RegisterCitizen(ctx, "op.urp", accounts.CitizenInput{FiscalCode: cf, GivenName: "Lucia",
		FamilyName: "Verdi", BirthDate: time.Date(1990, 5, 20, 0, 0, 0, 0, time.UTC), Email: "lucia.verdi@example.org",
		IDDocType: accounts.DocCIE, IDDocNumber: "CA11111BB", DocumentSeen: true})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := acc.IssueCredentials(ctx, "op.urp", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// activate goes through the activation pages as the citizen does at home.
func activate(t testing.TB, c *apptest.Client, cred accounts.Credentials, password string) {
	t.Helper()
	page := c.Get("/idp/attiva")
	r := c.Follow(c.Submit(page, url.Values{"username": {cred.Username}, "code": {cred.ActivationCode}}))
	if r.Status != 200 || !strings.Contains(r.Body, `autocomplete="new-password"`) {
		t.Fatalf("activation: password step: %d %s", r.Status, r.URL)
	}
	r = c.Follow(c.Submit(r, url.Values{"password": {password}, "password_confirm": {password}}))
	if r.Status != 200 || !strings.Contains(r.Body, "Salta questo passaggio") {
		t.Fatalf("activation: TOTP step: %d %s", r.Status, r.URL)
	}
	r = c.Follow(c.Submit(r, url.Values{"skip": {"1"}}))
	if r.Status != 200 || !strings.Contains(r.Body, "Credenziali attivate") {
		t.Fatalf("activation: done: %d %s", r.Status, r.URL)
	}
}

// login starts at a page that needs a login and goes through the portal's login page,
// the provider's pages and the callback, returning the page it lands on.
func login(t *testing.T, c *apptest.Client, startPath, provider, username, password, totpSecret string) *apptest.Response {
	t.Helper()
	r := c.Follow(c.Get(startPath))
	if provider == "comune" {
		// The comune's credentials form is on the login page itself; it posts to the
		// provider with the authorization request the portal prepared.
		if r.Status != 200 || !strings.Contains(r.Body, `action="/idp/accedi"`) || !strings.Contains(r.Body, `name="authorize"`) {
			t.Fatalf("expected the login page with the comune's credentials form, got %d %s", r.Status, r.URL)
		}
		r = c.SubmitAction(r, "/idp/accedi", url.Values{"username": {username}, "password": {password}})
		return finishLogin(t, c, r, totpSecret)
	}
	if r.Status != 200 || !strings.Contains(r.Body, "/auth/login/"+provider) {
		t.Fatalf("expected the login page offering %s, got %d %s", provider, r.Status, r.URL)
	}
	next := ""
	if u, _ := url.Parse(r.URL); u != nil {
		next = u.Query().Get("next")
	}
	start := "/auth/login/" + provider
	if next != "" {
		start += "?next=" + url.QueryEscape(next)
	}
	form := c.Follow(c.Get(start))
	if form.Status != 200 || !strings.Contains(form.Body, `autocomplete="current-password"`) {
		t.Fatalf("expected the provider's login form, got %d %s", form.Status, form.URL)
	}
	r = c.Submit(form, url.Values{"username": {username}, "password": {password}})
	return finishLogin(t, c, r, totpSecret)
}

// finishLogin goes on from the answer to the password: the TOTP step when due, then
// the callback and the page the login lands on.
func finishLogin(t *testing.T, c *apptest.Client, r *apptest.Response, totpSecret string) *apptest.Response {
	t.Helper()
	if totpSecret != "" {
		page := c.Follow(r)
		if !strings.Contains(page.Body, `autocomplete="one-time-code"`) {
			t.Fatalf("expected the TOTP step, got %d %s", page.Status, page.URL)
		}
		// The enrolment used the current time step; the server accepts the next one.
		code, _ := totp.GenerateCode(totpSecret, time.Now().Add(30*time.Second))
		r = c.Submit(page, url.Values{"code": {code}})
	}
	return c.Follow(r)
}

func auditCount(t *testing.T, s *apptest.Server, action, outcome string) int64 {
	t.Helper()
	var n int64
	q := s.All().Model(&audit.Event{}).Where("action = ?", action)
	if outcome != "" {
		q = q.Where("outcome = ?", outcome)
	}
	q.Count(&n)
	return n
}

// TestCitizenJourney: issue at the desk -> activate -> login -> personal area -> logout,
// all over real HTTP and real OpenID Connect between the portal and its own provider.
func TestCitizenJourney(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		cf := citizenCF(t)
		cred := issueCitizen(t, s, cf)
		c := s.Client()
		activate(t, c, cred, testPassword)
		area := login(t, c, "/area-personale", "comune", cred.Username, testPassword, "")
		if area.Status != 200 || !strings.HasSuffix(area.URL, "/area-personale") ||
			!strings.Contains(area.Body, "Lucia Verdi") || !strings.Contains(area.Body, cf) {
			t.Fatalf("personal area: %d %s", area.Status, area.URL)
		}
		if auditCount(t, s, "auth.session_login", "ok") != 1 || auditCount(t, s, "auth.login", "ok") != 1 {
			t.Fatal("login not audited")
		}
		// The session cookie is HttpOnly and SameSite=Lax.
		res, _ := c.HTTP.Get(s.BaseURL + "/area-personale")
		res.Body.Close()
		// A citizen has no business in the back office.
		if r := c.Get("/backoffice"); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "Accesso negato") {
			t.Fatalf("citizen in back office: %d", r.Status)
		}
		// Logout ends the portal session and the provider's; the ID token (with the
		// tax code) does not travel in the redirect URL.
		bye := c.Logout(area)
		if loc := bye.Header.Get("Location"); bye.Status != http.StatusSeeOther || strings.Contains(loc, "id_token_hint") ||
			strings.Contains(loc, "eyJ") || !strings.Contains(loc, "client_id=sportello") {
			t.Fatalf("logout redirect: %d %s", bye.Status, loc)
		}
		out := c.Follow(bye)
		if out.Status != 200 || !strings.Contains(out.Body, "area personale completata") {
			t.Fatalf("logout: %d %s", out.Status, out.URL)
		}
		if r := c.Get("/area-personale"); r.Status != http.StatusSeeOther {
			t.Fatalf("still logged in after logout: %d", r.Status)
		}
		again := c.Follow(c.Get("/auth/login/comune"))
		if !strings.Contains(again.Body, `autocomplete="current-password"`) {
			t.Fatal("the provider's session survived the logout")
		}
		if auditCount(t, s, "auth.session_logout", "ok") != 1 {
			t.Fatal("logout not audited")
		}
	})
}

// TestStaffLoginWithTOTP: staff log in with password and TOTP and land in the back
// office with their roles' pages only.
func TestStaffLoginWithTOTP(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		ctx := s.Ctx(context.Background())
		acc := s.App.Accounts()
		st, cred, err := acc.CreateStaff(ctx, "admin", accounts.StaffInput{Username: "m.ferri", GivenName: "Marco",
			FamilyName: "Ferri", Email: "m.ferri@comune.valdoria.example", Roles: []string{roles.URP}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := acc.CheckActivation(ctx, cred.Username, cred.ActivationCode, "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		secret, _, err := acc.BeginTOTP(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := totp.GenerateCode(secret, time.Now())
		if err := acc.ConfirmTOTP(ctx, st.ID, code); err != nil {
			t.Fatal(err)
		}
		if _, err := acc.Activate(ctx, cred.Username, cred.ActivationCode, testPassword, "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		c := s.Client()
		dash := login(t, c, "/backoffice", "comune", "m.ferri", testPassword, secret)
		if dash.Status != 200 || !strings.Contains(dash.Body, "Cruscotto") || !strings.Contains(dash.Body, `href="/backoffice/credenziali"`) {
			t.Fatalf("staff dashboard: %d %s", dash.Status, dash.URL)
		}
		if r := c.Get("/backoffice/credenziali"); r.Status != 200 {
			t.Fatalf("URP operator at the desk: %d", r.Status)
		}
		if r := c.Get("/backoffice/personale"); r.Status != http.StatusForbidden {
			t.Fatalf("URP operator in staff administration: %d", r.Status)
		}
		if r := c.Get("/area-personale"); r.Status != http.StatusForbidden {
			t.Fatalf("staff in a citizen's personal area: %d", r.Status)
		}
	})
}

// TestCallbackRefusals: a callback with an unknown state, or replayed after use, is
// refused with a clear page and an audit entry.
func TestCallbackRefusals(t *testing.T) {
	t.Parallel()
	s := apptest.New(t, store.SQLite, apptest.Options{})
	cred := issueCitizen(t, s, citizenCF(t))
	c := s.Client()
	activate(t, c, cred, testPassword)

	r := c.Get("/auth/callback?state=forged&code=whatever")
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "scaduta o non è valida") {
		t.Fatalf("forged state: %d", r.Status)
	}
	if auditCount(t, s, "auth.callback_bad_state", audit.Denied) != 1 {
		t.Fatal("forged state not audited")
	}
	// Complete a login by hand to capture the callback URL, then replay it.
	form := c.Follow(c.Get("/auth/login/comune"))
	cb := c.Submit(form, url.Values{"username": {cred.Username}, "password": {testPassword}})
	callback := cb.Header.Get("Location")
	if !strings.Contains(callback, "/auth/callback?") {
		t.Fatalf("expected a redirect to the callback, got %q", callback)
	}
	if r := c.Follow(cb); r.Status != 200 || !strings.Contains(r.Body, "Lucia Verdi") {
		t.Fatalf("login: %d %s", r.Status, r.URL)
	}
	replay := c.GetURL(callback)
	if replay.Status != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d", replay.Status)
	}
	// An attacker who stole the callback URL, in another browser, gets nothing either.
	thief := s.Client()
	if r := thief.GetURL(callback); r.Status != http.StatusBadRequest {
		t.Fatalf("stolen callback: %d", r.Status)
	}
	if auditCount(t, s, "auth.callback_bad_state", audit.Denied) != 3 {
		t.Fatalf("refusals audited: %d", auditCount(t, s, "auth.callback_bad_state", audit.Denied))
	}
	// An open redirect through next= is not possible.
	c2 := s.Client()
	page := c2.Follow(c2.Get("/auth/login?next=" + url.QueryEscape("https://evil.example/")))
	if strings.Contains(page.Body, "evil.example") {
		t.Fatal("next= accepted an external URL")
	}
}

// TestTwoProcessesShareSessions: two portal processes on one PostgreSQL database, as
// behind a load balancer; a citizen who logs in through one is logged in on the other.
func TestTwoProcessesShareSessions(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, store.Postgres, apptest.Options{})
	b := apptest.New(t, store.Postgres, apptest.Options{DB: a.DB, Configure: func(c *config.Config) {
		c.HTTP.BaseURL = a.BaseURL // one public address, two replicas
	}})
	cred := issueCitizen(t, a, citizenCF(t))
	c := a.Client()
	activate(t, c, cred, testPassword)
	if r := login(t, c, "/area-personale", "comune", cred.Username, testPassword, ""); !strings.Contains(r.Body, "Lucia Verdi") {
		t.Fatalf("login on A: %d", r.Status)
	}
	// The same browser (same cookies) now reaches replica B.
	r := c.GetURL(b.URL + "/area-personale")
	if r.Status != 200 || !strings.Contains(r.Body, "Lucia Verdi") {
		t.Fatalf("replica B does not see the session: %d", r.Status)
	}
}

// TestExternalProvider: the relying party against an independent provider, configured
// only by URL and client credentials. Portal A's embedded provider acts as the
// external provider of portal B (as a SPID/CIE broker would).
func TestExternalProvider(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, a *apptest.Server) {
		ctx := context.Background()
		b := apptest.New(t, store.SQLite, apptest.Options{Host: "localhost", Configure: func(c *config.Config) {
			id, secret, err := a.App.IdP().AddClient(ctx, "Portale B", []string{c.HTTP.BaseURL + "/auth/callback"}, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.App.IdP().SetPostLogoutURIs(ctx, id, []string{c.HTTP.BaseURL + "/auth/uscita"}); err != nil {
				t.Fatal(err)
			}
			// B offers its own provider and A's: the login page lists both.
			c.Auth.Providers = []config.OIDCProvider{{ID: "valdoria", Label: "Comune di Valdoria", Issuer: a.BaseURL + "/idp",
				ClientID: id, ClientSecret: secret, Scopes: []string{"openid", "profile", "email"}}}
		}})
		cf := citizenCF(t)
		cred := issueCitizen(t, a, cf)
		c := a.Client()
		activate(t, c, cred, testPassword)
		cb := b.Client()
		cb.HTTP.Jar = c.HTTP.Jar // one browser
		if lp := cb.Get("/auth/login"); !strings.Contains(lp.Body, `action="/idp/accedi"`) ||
			!strings.Contains(lp.Body, `href="/auth/login/valdoria"`) || !strings.Contains(lp.Body, "Comune di Valdoria") {
			t.Fatal("the login page does not offer every configured provider")
		}
		area := login(t, cb, "/area-personale", "valdoria", cred.Username, testPassword, "")
		if area.Status != 200 || !strings.Contains(area.URL, "localhost") || !strings.Contains(area.Body, cf) {
			t.Fatalf("login on B through A: %d %s", area.Status, area.URL)
		}
		// B names itself (client_id) and its return address, without the ID token: A,
		// where the person is still logged in, asks to confirm, then returns to B.
		confirm := cb.Follow(cb.Logout(area))
		if !strings.HasPrefix(confirm.URL, a.BaseURL+"/idp/uscita?") || !strings.Contains(confirm.Body, "Vuoi uscire?") {
			t.Fatalf("logout on B through A's end_session: %d %s", confirm.Status, confirm.URL)
		}
		out := cb.Follow(cb.Submit(confirm, nil))
		if !strings.Contains(out.URL, "localhost") || !strings.Contains(out.Body, "area personale completata") {
			t.Fatalf("logout on B through A's end_session: %d %s", out.Status, out.URL)
		}
	})
}

// TestProductionRefusesDemoAccounts: serve refuses to start in production while demo
// accounts are active.
func TestProductionRefusesDemoAccounts(t *testing.T) {
	t.Parallel()
	s := apptest.New(t, store.SQLite, apptest.Options{})
	if _, err := s.App.SeedDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Env = "production"
	cfg.HTTP.BaseURL = "https://sportello.comune.example"
	cfg.DataDir = t.TempDir()
	cfg.Secrets.System = []string{apptest.SystemSecret}
	_, err := app.New(context.Background(), app.Options{Config: cfg, DB: s.DB, FastCrypto: true})
	if err == nil || !strings.Contains(err.Error(), "demo accounts") {
		t.Fatalf("production with demo accounts: %v", err)
	}
}

// TestBlockEndsOpenSession: a citizen blocked at the desk loses the session already
// open at the portal, and the event is audited.
func TestBlockEndsOpenSession(t *testing.T) {
	t.Parallel()
	s := apptest.New(t, store.SQLite, apptest.Options{})
	cred := issueCitizen(t, s, citizenCF(t))
	c := s.Client()
	activate(t, c, cred, testPassword)
	if r := login(t, c, "/area-personale", "comune", cred.Username, testPassword, ""); r.Status != 200 {
		t.Fatalf("login: %d", r.Status)
	}
	acc, err := s.App.Accounts().ByUsername(context.Background(), cred.Username)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.App.Accounts().Block(context.Background(), "op.urp", acc.ID, "documento smarrito"); err != nil {
		t.Fatal(err)
	}
	// The first check after login found the account active and is trusted for up to
	// accountRecheck; a fresh process (no cache) sees the block at once.
	b := apptest.New(t, store.SQLite, apptest.Options{DB: s.DB, Configure: func(cfg *config.Config) { cfg.HTTP.BaseURL = s.BaseURL }})
	r := c.GetURL(b.URL + "/area-personale")
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/auth/login") {
		t.Fatalf("blocked citizen still in: %d", r.Status)
	}
	if r := c.GetURL(s.URL + "/area-personale"); r.Status != http.StatusSeeOther {
		t.Fatalf("the session survived on the first process: %d", r.Status)
	}
	if auditCount(t, s, "security.session_ended", audit.Denied) != 1 {
		t.Fatal("ended session not audited")
	}
}

// TestProductionRefusesAnyDemoData: blocking the demo accounts is not enough: while
// demo residents, offices or certificates remain, production refuses to start and
// says what it found. A database without demo data starts.
func TestProductionRefusesAnyDemoData(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		prod := func() error {
			cfg := config.Default()
			cfg.Env = "production"
			cfg.HTTP.BaseURL = "https://sportello.comune.example"
			cfg.DataDir = t.TempDir()
			cfg.Secrets.System = []string{apptest.SystemSecret}
			a, err := app.New(ctx, app.Options{Config: cfg, DB: s.DB, FastCrypto: true})
			if err == nil {
				a.Close()
			}
			return err
		}
		// Without demo data the demo check passes (what fails next is the missing
		// production stamp keys, which this test does not provide).
		if err := prod(); err != nil && strings.Contains(err.Error(), "demo") {
			t.Fatalf("production without demo data: %v", err)
		}
		if _, err := s.App.SeedDemo(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.DB.Exec("UPDATE accounts SET status = 'blocked' WHERE created_by = 'demo'").Error; err != nil {
			t.Fatal(err)
		}
		err := prod()
		if err == nil {
			t.Fatal("production started with blocked demo accounts and the demo register")
		}
		for _, want := range []string{"demo accounts", "demo residents", "anagrafe", "accounts", "urp", "certificati"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the refusal does not name %q: %v", want, err)
			}
		}
	})
}

// TestCommandsLeavePortalClientAlone: a command that builds the app (as `sportello demo
// codes` does) on another base URL changes no registration at the embedded provider,
// and the running portal's login and logout keep working.
func TestCommandsLeavePortalClientAlone(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		clients := func() []idp.Client {
			list, err := s.App.IdP().ListClients(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return list
		}
		before := clients()
		cfg := config.Default()
		cfg.HTTP.BaseURL = "http://127.0.0.1:1"
		cfg.DataDir = t.TempDir()
		cfg.Secrets.System = []string{apptest.SystemSecret} // the same installation
		a, err := app.New(ctx, app.Options{Config: cfg, DB: s.DB, FastCrypto: true})
		if err != nil {
			t.Fatal(err)
		}
		var codes strings.Builder
		if err := a.DemoCodes(ctx, &codes); err != nil {
			t.Fatal(err)
		}
		a.Close()
		if after := clients(); !reflect.DeepEqual(after, before) {
			t.Fatalf("a command changed the clients:\nbefore %+v\nafter  %+v", before, after)
		}
		cred := issueCitizen(t, s, citizenCF(t))
		c := s.Client()
		activate(t, c, cred, testPassword)
		area := login(t, c, "/area-personale", "comune", cred.Username, testPassword, "")
		if out := c.Follow(c.Logout(area)); out.Status != 200 || !strings.Contains(out.Body, "area personale completata") {
			t.Fatalf("logout after the command: %d %s", out.Status, out.URL)
		}
	})
}

// TestLoginPageSPIDAndCIE: one login page with AgID's "Entra con SPID" button and its
// list of identity providers, the "Entra con CIE" button and the comune's credentials
// form; choosing a SPID provider passes its hint to the broker; a provider not in the
// list is a 404. Portal A's embedded provider plays the SPID and the CIE broker.
func TestLoginPageSPIDAndCIE(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, a *apptest.Server) {
		ctx := context.Background()
		b := apptest.New(t, store.SQLite, apptest.Options{Host: "localhost", Configure: func(c *config.Config) {
			id, secret, err := a.App.IdP().AddClient(ctx, "Broker", []string{c.HTTP.BaseURL + "/auth/callback"}, false)
			if err != nil {
				t.Fatal(err)
			}
			c.Auth.Providers = []config.OIDCProvider{
				{ID: "spid", Label: "SPID", Kind: "spid", Issuer: a.BaseURL + "/idp", ClientID: id, ClientSecret: secret,
					IdPHintParam: "kc_idp_hint", IdPs: []config.SPIDIdP{
						{ID: "demo-uno", Name: "Gestore Demo Uno", Hint: "spid-demo-1"},
						{ID: "demo-due", Name: "Gestore Demo Due", Hint: "spid-demo-2"}}},
				{ID: "cie", Label: "CIE", Kind: "cie", Issuer: a.BaseURL + "/idp", ClientID: id, ClientSecret: secret},
			}
		}})
		c := b.Client()
		lp := c.Get("/auth/login?next=" + url.QueryEscape("/area-personale"))
		for _, want := range []string{"Entra con SPID", "Entra con CIE", "Gestore Demo Uno", "Gestore Demo Due",
			`href="/auth/login/spid?idp=demo-uno&amp;next=%2farea-personale"`, `href="/auth/login/cie?next=%2farea-personale"`,
			`action="/idp/accedi"`, `name="authorize"`, `autocomplete="current-password"`, "Non hai SPID, CIE o credenziali?"} {
			if !strings.Contains(lp.Body, want) {
				t.Fatalf("login page lacks %q:\n%s", want, lp.Body)
			}
		}
		r := c.Get("/auth/login/spid?idp=demo-due")
		loc, _ := url.Parse(r.Header.Get("Location"))
		if r.Status != http.StatusSeeOther || loc == nil || loc.Query().Get("kc_idp_hint") != "spid-demo-2" {
			t.Fatalf("SPID provider choice: %d %s", r.Status, r.Header.Get("Location"))
		}
		if r := c.Get("/auth/login/spid?idp=sconosciuto"); r.Status != http.StatusNotFound {
			t.Fatalf("unknown SPID provider: %d", r.Status)
		}
		if r := c.Get("/auth/login/cie"); r.Status != http.StatusSeeOther || strings.Contains(r.Header.Get("Location"), "kc_idp_hint") {
			t.Fatalf("CIE: %d %s", r.Status, r.Header.Get("Location"))
		}
		// The home's help speaks of SPID and CIE only where they are offered.
		if !strings.Contains(c.Get("/").Body, "Non hai SPID o CIE?") || strings.Contains(a.Client().Get("/").Body, "SPID") {
			t.Error("home: the help about SPID and CIE does not follow the configuration")
		}
		// Only the comune's credentials: no word of SPID or CIE.
		only := a.Client().Get("/auth/login")
		if only.Status != 200 || strings.Contains(only.Body, "SPID") || strings.Contains(only.Body, "CIE") ||
			!strings.Contains(only.Body, "Non hai ancora le credenziali?") || !strings.Contains(only.Body, `action="/idp/accedi"`) {
			t.Fatalf("login page with the comune's credentials only: %d", only.Status)
		}
		// A forged authorization request in the form is refused like one at the
		// authorization endpoint, before the password is looked at.
		forged := a.Client()
		forged.Get("/auth/login")
		if r := forged.PostForm("/idp/accedi", url.Values{"authorize": {"client_id=nessuno&response_type=code&scope=openid"},
			"username": {"chiunque"}, "password": {"qualsiasi"}}); r.Status != http.StatusBadRequest {
			t.Fatalf("forged authorization request: %d", r.Status)
		}
		// Reloading the page reuses its pending login instead of piling them up.
		one, two := a.Client(), ""
		first := one.Get("/auth/login")
		two = one.Get("/auth/login").Body
		if f := authorizeField(first.Body); f == "" || f != authorizeField(two) {
			t.Fatal("the login page prepared a new authorization request on reload")
		}
	})
}

func authorizeField(body string) string {
	i := strings.Index(body, `name="authorize" value="`)
	if i < 0 {
		return ""
	}
	rest := body[i+len(`name="authorize" value="`):]
	return rest[:strings.Index(rest, `"`)]
}

// TestAuditInWords: the back office's audit log names actions and actor kinds in
// Italian, and desk actions (recorded below the pages, by the accounts service) carry
// the operator's client address.
func TestAuditInWords(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{}, func(t *testing.T, s *apptest.Server) {
		acct, err := s.App.Accounts().RegisterCitizen(s.Ctx(context.Background()), "op.urp", accounts.CitizenInput{
			FiscalCode: citizenCF(t), GivenName: "Lucia", FamilyName: "Verdi", BirthDate: time.Date(1990, 5, 20, 0, 0, 0, 0, time.UTC),
			IDDocType: accounts.DocCIE, IDDocNumber: "CA11111BB", DocumentSeen: true})
		if err != nil {
			t.Fatal(err)
		}
		op := s.Client()
		s.LoginAs(op, web.Viewer{Kind: "staff", ID: "op.urp", Roles: []string{roles.URP}})
		r := op.PostForm(fmt.Sprintf("/backoffice/credenziali/%d/blocco", acct.ID), url.Values{"reason": {"Documento smarrito"}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("block at the desk: %d", r.Status)
		}
		var ev audit.Event
		if err := s.All().Where("action = ?", accounts.ActBlock).Take(&ev).Error; err != nil || ev.IP == "" {
			t.Fatalf("desk action without the client address: %+v %v", ev, err)
		}
		admin := s.Client()
		s.LoginAs(admin, web.Viewer{Kind: "staff", ID: "admin1", Roles: []string{"admin"}})
		page := admin.Get("/backoffice/audit")
		for _, want := range []string{"Indirizzo IP del client", ev.IP, "Personale", "Blocco dell&#39;account"} {
			if !strings.Contains(page.Body, want) {
				t.Errorf("audit page lacks %q", want)
			}
		}
		// Every action on the page is in words: the code appears only in the small
		// line kept for the filter, never alone in the action's cell.
		cells := regexp.MustCompile(`<td>([^<]*)<br><small class="code-mono`).FindAllStringSubmatch(page.Body, -1)
		if len(cells) == 0 {
			t.Fatal("no action cells")
		}
		for _, m := range cells {
			if regexp.MustCompile(`^[a-z_]+\.[a-z_.]+$`).MatchString(strings.TrimSpace(m[1])) {
				t.Errorf("action shown as a code: %q", m[1])
			}
		}
	})
}
