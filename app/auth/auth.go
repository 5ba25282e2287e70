// Package auth is the portal's OpenID Connect relying party: every login, citizen or
// staff, goes through it, whichever provider (the embedded one at /idp, a SPID/CIE
// broker, another comune's provider) is behind it.
//
// The flow is Authorization Code with PKCE (S256), state and nonce, on
// github.com/coreos/go-oidc/v3 and golang.org/x/oauth2: the ID token is verified
// (issuer, audience, expiry, signature against the provider's JWKS), userinfo is
// merged in, and the identity is linked to a citizen by the tax code in the claim
// https://attributes.eid.gov.it/fiscal_number ("TINIT-<codice fiscale>"; the older
// https://attributes.spid.gov.it/fiscalNumber and a configured claim are accepted),
// never by sub, which SPID/CIE make pairwise. Logout ends the local session and, when
// the provider has an end_session_endpoint, the provider's session too.
//
// Routes: GET /auth/login, GET /auth/login/:provider, GET /auth/callback,
// POST /auth/logout, GET /auth/uscita.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/codicefiscale"
	"github.com/comuni-italiani/sportello/app/web"
)

// Claim names from the SPID/CIE OpenID Connect profile.
const (
	ClaimFiscalNumber    = "https://attributes.eid.gov.it/fiscal_number"
	ClaimSPIDFiscalOld   = "https://attributes.spid.gov.it/fiscalNumber"
	ClaimRoles           = "roles"
	ClaimPreferredUser   = "preferred_username"
	pendingTTL           = 10 * time.Minute
	sessionPendingPrefix = "auth.pending."
	sessionProvider      = "auth.provider"
	sessionProfile       = "auth.profile"
)

// ProviderConfig is one OpenID Connect provider the portal trusts.
type ProviderConfig struct {
	// ID appears in URLs; Label on the login button (a message key or plain text).
	ID, Label    string
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string
	// FiscalClaim is an extra claim name holding the tax code.
	FiscalClaim string
	// TrustRoles accepts the "roles" claim (staff); only for the comune's own provider.
	TrustRoles bool
	// Embedded marks the portal's own provider: its credentials form is drawn on the
	// login page itself, and its pages are served on the host the citizen is on.
	Embedded bool
	// Kind is "spid" or "cie" for a broker of those identities: the login page draws
	// AgID's "Entra con SPID" / "Entra con CIE" button for it ("" is a plain button).
	Kind string
	// IdPs are the SPID identity providers the broker offers, listed in the SPID
	// button's menu; choosing one passes its Hint in the HintParam parameter of the
	// authorization request (Keycloak: kc_idp_hint). Empty: the button goes straight
	// to the broker, which shows its own list.
	IdPs      []IdentityProvider
	HintParam string
}

// IdentityProvider is one SPID identity provider in the SPID button's menu.
type IdentityProvider struct {
	// ID appears in the URL (/auth/login/<provider>?idp=<id>); Name in the menu.
	ID, Name string
	// Hint is the value sent to the broker (the provider's alias there).
	Hint string
}

// Options configure New.
type Options struct {
	Providers []ProviderConfig
	// BaseURL is the portal's public address; the callback is BaseURL/auth/callback.
	BaseURL string
	// BaseURLFor returns the portal's address for a request (an ente's host), for
	// the callback and the return after logout; nil means BaseURL.
	BaseURLFor func(ctx context.Context) string
	Renderer   *web.Renderer
	DB         *gorm.DB
	Log        *slog.Logger
	// HTTPClient talks to the providers (discovery, token, JWKS, userinfo).
	HTTPClient *http.Client
	// Now is the clock (tests).
	Now func() time.Time
}

// RP is the relying party.
type RP struct {
	o         Options
	providers []*provider
	byID      map[string]*provider
}

type provider struct {
	cfg ProviderConfig

	mu       sync.Mutex
	oidc     *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    *oauth2.Config
	endSess  string
}

// New builds the relying party. Providers are discovered lazily, on their first use,
// so that the portal starts even when a provider (or the embedded one, served by this
// very process) is not answering yet.
func New(o Options) (*RP, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if len(o.Providers) == 0 {
		return nil, errors.New("auth: no identity provider configured")
	}
	rp := &RP{o: o, byID: map[string]*provider{}}
	for _, pc := range o.Providers {
		if _, dup := rp.byID[pc.ID]; dup {
			return nil, fmt.Errorf("auth: provider %q configured twice", pc.ID)
		}
		if len(pc.Scopes) == 0 {
			pc.Scopes = []string{oidc.ScopeOpenID, "profile", "email"}
		}
		p := &provider{cfg: pc}
		rp.providers = append(rp.providers, p)
		rp.byID[pc.ID] = p
	}
	return rp, nil
}

// Mount registers the routes on e.
func (rp *RP) Mount(e *echo.Echo) {
	e.GET("/auth/login", rp.loginPage)
	e.GET("/auth/login/:provider", rp.start)
	e.GET("/auth/callback", rp.callback)
	e.POST("/auth/logout", rp.logout)
	e.GET("/auth/uscita", rp.loggedOut)
}

func (rp *RP) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, rp.o.HTTPClient)
}

// discover fetches the provider's configuration once (retrying on later calls after
// a failure).
func (rp *RP) discover(ctx context.Context, p *provider) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oidc != nil {
		return nil
	}
	op, err := oidc.NewProvider(rp.ctx(ctx), p.cfg.Issuer)
	if err != nil {
		return fmt.Errorf("auth: discovery of %s: %w", p.cfg.ID, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = op.Claims(&extra)
	p.oidc = op
	p.endSess = extra.EndSession
	p.verifier = op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: rp.o.Now})
	p.oauth = &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
		Endpoint: op.Endpoint(), RedirectURL: rp.o.BaseURL + "/auth/callback", Scopes: p.cfg.Scopes,
	}
	return nil
}

// LoginPage is the data of the login page: the SPID and CIE buttons, other
// providers' buttons, and the embedded provider's credentials form.
type LoginPage struct {
	SPID, CIE *ProviderConfig
	Others    []ProviderConfig
	// Embedded is the portal's own provider (nil when switched off); Form is its
	// credentials form, nil when its authorization request could not be prepared
	// (the page then shows a button to the provider's own page).
	Embedded *ProviderConfig
	Form     *CredentialsForm
	Next     string
}

// CredentialsForm is the embedded provider's username and password form drawn on the
// portal's login page. It posts to the provider's login page (Action) with the
// authorization request the portal prepared (Authorize, the request's query string),
// which the provider validates as if it had arrived at its authorization endpoint:
// the password goes to the provider only, and the login ends at the callback as every
// other login does.
type CredentialsForm struct {
	Action, Authorize string
}

func (rp *RP) loginPage(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if v := web.CurrentViewer(c); v != nil {
		return c.Redirect(http.StatusSeeOther, landing(v, next))
	}
	page := LoginPage{Next: next}
	for _, p := range rp.providers {
		cfg := p.cfg
		switch {
		case cfg.Embedded && page.Embedded == nil:
			page.Embedded = &cfg
			form, err := rp.credentialsForm(c, p, next)
			if err != nil {
				rp.o.Log.Error("embedded provider unavailable for the login form", "err", err)
			}
			page.Form = form
		case cfg.Kind == "spid" && page.SPID == nil:
			page.SPID = &cfg
		case cfg.Kind == "cie" && page.CIE == nil:
			page.CIE = &cfg
		default:
			page.Others = append(page.Others, cfg)
		}
	}
	return rp.o.Renderer.Render(c, http.StatusOK, "auth/login.html", page)
}

// sessionFormState names the pending login of the credentials form, reused while it
// is fresh so that reloading the login page does not pile up pending logins.
const sessionFormState = "auth.formstate"

// credentialsForm prepares the authorization request of the embedded provider's form.
func (rp *RP) credentialsForm(c echo.Context, p *provider, next string) (*CredentialsForm, error) {
	ctx := c.Request().Context()
	if err := rp.discover(ctx, p); err != nil {
		return nil, err
	}
	sm := web.Sessions(c)
	if sm == nil {
		return nil, errors.New("auth: no session")
	}
	var pend pending
	state := sm.GetString(ctx, sessionFormState)
	raw := ""
	if state != "" {
		raw = sm.GetString(ctx, sessionPendingPrefix+state)
	}
	// Reused only while fresh for the whole time the form may stay open, and for the
	// same return address.
	if raw == "" || json.Unmarshal([]byte(raw), &pend) != nil || pend.Provider != p.cfg.ID ||
		pend.Next != next || rp.o.Now().Sub(pend.Created) > pendingTTL/2 {
		if state != "" {
			sm.Remove(ctx, sessionPendingPrefix+state)
		}
		state = randomString()
		pend = pending{Provider: p.cfg.ID, Nonce: randomString(), Verifier: oauth2.GenerateVerifier(),
			Next: next, Created: rp.o.Now().UTC()}
		b, _ := json.Marshal(pend)
		sm.Put(ctx, sessionPendingPrefix+state, string(b))
		sm.Put(ctx, sessionFormState, state)
	}
	au, err := url.Parse(rp.oauthFor(ctx, p).AuthCodeURL(state, oidc.Nonce(pend.Nonce), oauth2.S256ChallengeOption(pend.Verifier)))
	if err != nil {
		return nil, err
	}
	// The provider's login page is its authorization endpoint's sibling "accedi".
	action := strings.TrimSuffix(au.Path, "/authorize") + "/accedi"
	return &CredentialsForm{Action: action, Authorize: au.RawQuery}, nil
}

type pending struct {
	Provider string    `json:"p"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Next     string    `json:"x"`
	Created  time.Time `json:"t"`
}

func (rp *RP) start(c echo.Context) error {
	p, ok := rp.byID[c.Param("provider")]
	if !ok {
		return web.ErrNotFound
	}
	ctx := c.Request().Context()
	if err := rp.discover(ctx, p); err != nil {
		rp.o.Log.Error("identity provider unavailable", "provider", p.cfg.ID, "err", err)
		return &web.Error{Status: http.StatusServiceUnavailable, Key: "auth.provider_unavailable", Err: err}
	}
	opts := []oauth2.AuthCodeOption{}
	if idp := c.QueryParam("idp"); idp != "" {
		found := false
		for _, ip := range p.cfg.IdPs {
			if ip.ID == idp && p.cfg.HintParam != "" {
				opts, found = append(opts, oauth2.SetAuthURLParam(p.cfg.HintParam, ip.Hint)), true
			}
		}
		if !found {
			return web.ErrNotFound
		}
	}
	sm := web.Sessions(c)
	state, nonce := randomString(), randomString()
	verifier := oauth2.GenerateVerifier()
	b, _ := json.Marshal(pending{Provider: p.cfg.ID, Nonce: nonce, Verifier: verifier,
		Next: safeNext(c.QueryParam("next")), Created: rp.o.Now().UTC()})
	sm.Put(ctx, sessionPendingPrefix+state, string(b))
	oc := rp.oauthFor(ctx, p)
	opts = append(opts, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	url := oc.AuthCodeURL(state, opts...)
	return c.Redirect(http.StatusSeeOther, url)
}

// refuse records a security event and answers with a clear page.
func (rp *RP) refuse(c echo.Context, action, key string, status int, details map[string]any, err error) error {
	e := web.AuditEntryFor(c, nil, action)
	e.Outcome, e.Details = audit.Denied, details
	if aerr := audit.Record(c.Request().Context(), rp.o.DB, e); aerr != nil {
		return aerr
	}
	return &web.Error{Status: status, Key: key, Err: err}
}

func (rp *RP) callback(c echo.Context) error {
	ctx := c.Request().Context()
	sm := web.Sessions(c)
	state := c.QueryParam("state")
	raw := ""
	if state != "" {
		raw = sm.PopString(ctx, sessionPendingPrefix+state)
	}
	var pend pending
	if raw == "" || json.Unmarshal([]byte(raw), &pend) != nil || rp.o.Now().Sub(pend.Created) > pendingTTL {
		return rp.refuse(c, "auth.callback_bad_state", "auth.error.state", http.StatusBadRequest, nil, errors.New("unknown or expired state"))
	}
	p, ok := rp.byID[pend.Provider]
	if !ok {
		return rp.refuse(c, "auth.callback_bad_state", "auth.error.state", http.StatusBadRequest, nil, errors.New("provider gone"))
	}
	if e := c.QueryParam("error"); e != "" {
		// The provider refused or the citizen cancelled: not an attack, but worth a line.
		rp.o.Log.Info("provider returned an error", "provider", p.cfg.ID, "error", e)
		return &web.Error{Status: http.StatusUnauthorized, Key: "auth.error.provider"}
	}
	if err := rp.discover(ctx, p); err != nil {
		return &web.Error{Status: http.StatusServiceUnavailable, Key: "auth.provider_unavailable", Err: err}
	}
	tok, err := rp.oauthFor(ctx, p).Exchange(rp.ctx(ctx), c.QueryParam("code"), oauth2.VerifierOption(pend.Verifier))
	if err != nil {
		return rp.refuse(c, "auth.code_exchange_failed", "auth.error.exchange", http.StatusBadRequest,
			map[string]any{"provider": p.cfg.ID}, err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := p.verifier.Verify(rp.ctx(ctx), rawID)
	if err != nil {
		return rp.refuse(c, "auth.id_token_invalid", "auth.error.token", http.StatusBadRequest,
			map[string]any{"provider": p.cfg.ID}, err)
	}
	if idt.Nonce != pend.Nonce {
		return rp.refuse(c, "auth.id_token_invalid", "auth.error.token", http.StatusBadRequest,
			map[string]any{"provider": p.cfg.ID, "reason": "nonce"}, errors.New("nonce mismatch"))
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return err
	}
	if ui, err := p.oidc.UserInfo(rp.ctx(ctx), oauth2.StaticTokenSource(tok)); err == nil {
		if ui.Subject != idt.Subject {
			return rp.refuse(c, "auth.id_token_invalid", "auth.error.token", http.StatusBadRequest,
				map[string]any{"provider": p.cfg.ID, "reason": "userinfo subject"}, errors.New("userinfo sub differs"))
		}
		extra := map[string]any{}
		if err := ui.Claims(&extra); err == nil {
			for k, v := range extra {
				if _, ok := claims[k]; !ok {
					claims[k] = v
				}
			}
		}
	} else {
		rp.o.Log.Warn("userinfo failed; using ID token claims only", "provider", p.cfg.ID, "err", err)
	}
	v, profile, err := identity(p.cfg, claims)
	if err != nil {
		return rp.refuse(c, "auth.identity_refused", "auth.error.identity", http.StatusForbidden,
			map[string]any{"provider": p.cfg.ID, "reason": err.Error()}, err)
	}
	if err := web.Login(c, v); err != nil {
		return err
	}
	pb, _ := json.Marshal(profile)
	sm.Put(ctx, sessionProvider, p.cfg.ID)
	sm.Put(ctx, sessionProfile, string(pb))
	e := web.AuditEntryFor(c, v, "auth.session_login")
	e.SubjectCF, e.Details = v.FiscalCode, map[string]any{"provider": p.cfg.ID}
	if err := audit.Record(ctx, rp.o.DB, e); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, landing(v, pend.Next))
}

// Profile is what the identity provider said about the person, for the personal area.
type Profile struct {
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	BirthDate     string `json:"birthdate"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Provider      string `json:"provider"`
}

// SetProfile keeps p as the logged-in person's profile in the session (the login
// does it; test servers use it to give a test login an e-mail address).
func SetProfile(c echo.Context, p Profile) {
	if sm := web.Sessions(c); sm != nil {
		pb, _ := json.Marshal(p)
		sm.Put(c.Request().Context(), sessionProfile, string(pb))
	}
}

// CurrentProfile returns the logged-in person's profile from the session.
func CurrentProfile(c echo.Context) Profile {
	var p Profile
	if sm := web.Sessions(c); sm != nil {
		_ = json.Unmarshal([]byte(sm.GetString(c.Request().Context(), sessionProfile)), &p)
	}
	return p
}

// identity maps verified claims to the session's viewer. Staff are recognised only
// by a roles claim from a provider trusted for roles; citizens only by a valid tax code.
func identity(pc ProviderConfig, claims map[string]any) (*web.Viewer, Profile, error) {
	str := func(k string) string { s, _ := claims[k].(string); return s }
	prof := Profile{GivenName: str("given_name"), FamilyName: str("family_name"), BirthDate: str("birthdate"),
		Email: str("email"), Provider: pc.ID}
	prof.EmailVerified, _ = claims["email_verified"].(bool)
	name := strings.TrimSpace(prof.GivenName + " " + prof.FamilyName)
	cf := ""
	for _, k := range []string{pc.FiscalClaim, ClaimFiscalNumber, ClaimSPIDFiscalOld} {
		if k != "" && str(k) != "" {
			cf = FiscalCodeFromClaim(str(k))
			break
		}
	}
	var roles []string
	if pc.TrustRoles {
		if rs, ok := claims[ClaimRoles].([]any); ok {
			for _, r := range rs {
				if s, ok := r.(string); ok && s != "" {
					roles = append(roles, s)
				}
			}
		}
	}
	if len(roles) > 0 {
		user := str(ClaimPreferredUser)
		if user == "" {
			return nil, prof, errors.New("staff identity without preferred_username")
		}
		return &web.Viewer{Kind: "staff", ID: user, DisplayName: name, FiscalCode: cf, Roles: roles}, prof, nil
	}
	if cf == "" {
		return nil, prof, errors.New("no tax code in the identity")
	}
	if err := codicefiscale.Validate(cf); err != nil {
		return nil, prof, fmt.Errorf("tax code in the identity is invalid: %w", err)
	}
	return &web.Viewer{Kind: "citizen", ID: cf, DisplayName: name, FiscalCode: cf}, prof, nil
}

// FiscalCodeFromClaim extracts the tax code from a fiscal_number claim value
// ("TINIT-RSSMRA80A01H501U", or the bare code).
func FiscalCodeFromClaim(v string) string {
	v = strings.ToUpper(strings.TrimSpace(v))
	v = strings.TrimPrefix(v, "TINIT-")
	return codicefiscale.Normalize(v)
}

func (rp *RP) logout(c echo.Context) error {
	ctx := c.Request().Context()
	sm := web.Sessions(c)
	v := web.CurrentViewer(c)
	p := rp.byID[sm.GetString(ctx, sessionProvider)]
	if v != nil {
		e := web.AuditEntryFor(c, v, "auth.session_logout")
		e.SubjectCF = v.FiscalCode
		if err := audit.Record(ctx, rp.o.DB, e); err != nil {
			return err
		}
	}
	if err := web.Logout(c); err != nil {
		return err
	}
	after := rp.base(ctx) + "/auth/uscita"
	if p != nil {
		if err := rp.discover(ctx, p); err == nil && p.endSess != "" {
			if to, err := endSessionURL(p.endSess, p.cfg.ClientID, after); err == nil {
				return c.Redirect(http.StatusSeeOther, to)
			}
		}
	}
	return c.Redirect(http.StatusSeeOther, "/auth/uscita")
}

// endSessionURL is the provider's end_session_endpoint with the logout request merged
// into any query it already has. It names the client and where to come back
// (client_id and post_logout_redirect_uri, which RP-Initiated Logout 1.0 allows
// without id_token_hint): the ID token, which carries the tax code, never travels in
// a URL, where proxies and the provider's access log would keep it. A provider may
// then ask the person to confirm the logout.
func endSessionURL(endpoint, clientID, after string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || !u.IsAbs() {
		return "", fmt.Errorf("auth: end_session_endpoint %q is not an absolute URL", endpoint)
	}
	q := u.Query()
	q.Set("client_id", clientID)
	q.Set("post_logout_redirect_uri", after)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (rp *RP) loggedOut(c echo.Context) error {
	return rp.o.Renderer.Render(c, http.StatusOK, "auth/logged_out.html", nil)
}

// landing is where a fresh login goes: the page that asked for it, else the person's
// home (personal area or back office).
func landing(v *web.Viewer, next string) string {
	if next != "" {
		return next
	}
	if v.Kind == "staff" {
		return "/backoffice"
	}
	return "/area-personale"
}

// safeNext accepts only a local path (web.SafeLocalPath, shared by every return
// address of the portal) outside /auth/, so the login cannot be used as an open
// redirect nor loop back into itself.
func safeNext(next string) string {
	next = web.SafeLocalPath(next)
	if next == "" {
		return ""
	}
	if u, err := url.Parse(next); err != nil || u.Path == "/auth" || strings.HasPrefix(u.Path, "/auth/") {
		return ""
	}
	return next
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ProviderOf returns the id of the provider the session's person logged in with ("" if
// nobody is logged in).
func ProviderOf(c echo.Context) string {
	if sm := web.Sessions(c); sm != nil {
		return sm.GetString(c.Request().Context(), sessionProvider)
	}
	return ""
}

// base is the portal's address for ctx's request.
func (rp *RP) base(ctx context.Context) string {
	if rp.o.BaseURLFor != nil {
		return rp.o.BaseURLFor(ctx)
	}
	return rp.o.BaseURL
}

// oauthFor is p's client configuration with the callback on the request's host, so
// that a citizen who starts on a comune's portal comes back to it.
func (rp *RP) oauthFor(ctx context.Context, p *provider) *oauth2.Config {
	oc := *p.oauth
	oc.RedirectURL = rp.base(ctx) + "/auth/callback"
	if p.cfg.Embedded {
		// The embedded provider answers on every host of the portal: its pages are
		// served on the citizen's own comune (name and coat of arms), and its session
		// lives with the portal's. Tokens still come from its issuer.
		if u, err := url.Parse(oc.Endpoint.AuthURL); err == nil {
			if b, err := url.Parse(rp.base(ctx)); err == nil {
				u.Scheme, u.Host = b.Scheme, b.Host
				oc.Endpoint.AuthURL = u.String()
			}
		}
	}
	return &oc
}
