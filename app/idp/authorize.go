package idp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/web"
)

// The provider's own state in the portal session. Its keys start with "idp.", apart
// from the relying party's viewer (web.Login): being logged in at the provider (so
// that the next authorization request needs no password) is not being logged in to the
// portal.
const (
	sessLogin      = "idp.login"
	sessPending    = "idp.pending"
	sessActivation = "idp.activation"
)

const (
	// pendingTTL bounds how long a login page may stay open.
	pendingTTL = 30 * time.Minute
	// maxPending bounds the authorization requests one session keeps (one per tab).
	maxPending = 5
	// secondFactorTTL is how long a verified password waits for its second factor.
	secondFactorTTL = 5 * time.Minute
)

// idpLogin is a completed login at the provider in this browser session.
type idpLogin struct {
	AccountID int64     `json:"a"`
	AuthTime  time.Time `json:"t"`
	AMR       []string  `json:"m"`
}

// pendingAuth is an authorization request waiting for the visitor to log in. Only the
// original request is kept; it is validated again by fosite at every step, so a client
// removed or changed meanwhile is noticed.
type pendingAuth struct {
	Query   string    `json:"q"`
	Created time.Time `json:"c"`
	// Username is what was typed, to fill the form again.
	Username string `json:"u,omitempty"`
	// AccountID is set once the password was right and a second factor is due.
	AccountID int64     `json:"a,omitempty"`
	PwdAt     time.Time `json:"p,omitempty"`
	// Enrol is set when the second factor must be enrolled first; Secret and URL are
	// the enrolment begun (shown again if the first code is wrong).
	Enrol  bool   `json:"e,omitempty"`
	Secret string `json:"s,omitempty"`
	URL    string `json:"l,omitempty"`
}

func (p *Provider) getJSON(c echo.Context, key string, out any) bool {
	sm := web.Sessions(c)
	if sm == nil {
		return false
	}
	raw := sm.GetString(c.Request().Context(), key)
	return raw != "" && json.Unmarshal([]byte(raw), out) == nil
}

func (p *Provider) putJSON(c echo.Context, key string, v any) {
	if sm := web.Sessions(c); sm != nil {
		b, _ := json.Marshal(v)
		sm.Put(c.Request().Context(), key, string(b))
	}
}

func (p *Provider) remove(c echo.Context, key string) {
	if sm := web.Sessions(c); sm != nil {
		sm.Remove(c.Request().Context(), key)
	}
}

// pendings returns the session's live pending requests.
func (p *Provider) pendings(c echo.Context) map[string]*pendingAuth {
	m := map[string]*pendingAuth{}
	p.getJSON(c, sessPending, &m)
	now := p.now()
	for id, pa := range m {
		if pa == nil || now.Sub(pa.Created) > pendingTTL {
			delete(m, id)
		}
	}
	return m
}

func (p *Provider) savePendings(c echo.Context, m map[string]*pendingAuth) {
	if len(m) == 0 {
		p.remove(c, sessPending)
		return
	}
	p.putJSON(c, sessPending, m)
}

func (p *Provider) addPending(c echo.Context, query string) string {
	m := p.pendings(c)
	for len(m) >= maxPending {
		ids := make([]string, 0, len(m))
		for id := range m {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return m[ids[i]].Created.Before(m[ids[j]].Created) })
		delete(m, ids[0])
	}
	id := randomToken(16)
	m[id] = &pendingAuth{Query: query, Created: p.now().UTC().Truncate(time.Second)}
	p.savePendings(c, m)
	return id
}

func (p *Provider) pending(c echo.Context, id string) *pendingAuth {
	if id == "" {
		return nil
	}
	return p.pendings(c)[id]
}

func (p *Provider) setPending(c echo.Context, id string, pa *pendingAuth) {
	m := p.pendings(c)
	m[id] = pa
	p.savePendings(c, m)
}

func (p *Provider) dropPending(c echo.Context, id string) {
	m := p.pendings(c)
	delete(m, id)
	p.savePendings(c, m)
}

// currentLogin returns the provider login of this session and its account, if the
// account can still log in; a stale login is forgotten.
func (p *Provider) currentLogin(c echo.Context) (*idpLogin, *accounts.Account, error) {
	var l idpLogin
	if !p.getJSON(c, sessLogin, &l) || l.AccountID == 0 {
		return nil, nil, nil
	}
	a, err := p.accounts.Get(c.Request().Context(), l.AccountID)
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && a.Status != accounts.StatusActive) {
		p.remove(c, sessLogin)
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return &l, a, nil
}

// actx is the request context carrying the request id for the accounts audit entries.
func actx(c echo.Context) context.Context {
	return accounts.WithRequestID(c.Request().Context(), web.RequestID(c))
}

// authorizeError answers a refused authorization request: back to the client with
// the error when the client and its redirect URI are known and valid, else (unknown
// client, unregistered redirect URI) with an error page, never a redirect.
func (p *Provider) authorizeError(c echo.Context, ar fosite.AuthorizeRequester, err error) error {
	rfc := fosite.ErrorToRFC6749Error(err)
	attrs := []any{"error", rfc.ErrorField, "hint", rfc.HintField, "request_id", web.RequestID(c)}
	if rfc.CodeField >= 500 {
		p.log.Error("authorization request failed", append(attrs, "err", err, "debug", rfc.DebugField)...)
	} else {
		p.log.Info("authorization request refused", attrs...)
	}
	// Errors always go back in the query: form_post would need an inline script
	// (forbidden by the portal's CSP) and fragments are for implicit flows.
	if a, ok := ar.(*fosite.AuthorizeRequest); ok && a.ResponseMode != fosite.ResponseModeDefault {
		a.ResponseMode = fosite.ResponseModeQuery
	}
	if ar == nil || !ar.IsRedirectURIValid() {
		status := http.StatusBadRequest
		if rfc.CodeField >= 500 {
			status = http.StatusInternalServerError
		}
		return &web.Error{Status: status, Key: "idp.error.request", Err: err}
	}
	p.oauth.WriteAuthorizeError(c.Request().Context(), c.Response(), ar, err)
	return nil
}

// newAuthorizeRequest validates an authorization request with fosite, then with the
// rules fosite leaves to later steps or applies more loosely, so that a request the
// provider will refuse is refused before the login form is shown (not after the
// citizen typed the password). Clients accept response_mode=query only (see Client),
// so fosite refuses the others.
func (p *Provider) newAuthorizeRequest(ctx context.Context, r *http.Request) (fosite.AuthorizeRequester, error) {
	ar, err := p.oauth.NewAuthorizeRequest(ctx, r)
	if err != nil {
		return ar, err
	}
	form := ar.GetRequestForm()
	// Redirect URIs match exactly. fosite accepts a loopback URI on any port (RFC 8252,
	// for native apps); the comune's clients are web clients registered with exact
	// URIs. nil: the URI is not verified, so the refusal is a page, never a redirect.
	if raw := form.Get("redirect_uri"); raw != "" && !slices.Contains(ar.GetClient().GetRedirectURIs(), raw) {
		return nil, fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' is not one the client registered (exact match required).")
	}
	// PKCE with S256 (fosite checks it only when the code is issued).
	switch {
	case form.Get("code_challenge") == "":
		return ar, fosite.ErrInvalidRequest.WithHint("Clients must use PKCE: 'code_challenge' is missing.")
	case form.Get("code_challenge_method") != "S256":
		return ar, fosite.ErrInvalidRequest.WithHint("The 'code_challenge_method' must be 'S256'.")
	}
	// prompt: only the values the provider knows, and "none" alone (OpenID Connect
	// Core 3.1.2.1; fosite checks it only when the code is issued).
	pr := strings.Fields(form.Get("prompt"))
	for _, v := range pr {
		if !slices.Contains(p.config.AllowedPromptValues, v) {
			return ar, fosite.ErrInvalidRequest.WithHintf("Unknown 'prompt' value %q.", v)
		}
	}
	if slices.Contains(pr, "none") && len(pr) > 1 {
		return ar, fosite.ErrInvalidRequest.WithHint("'prompt=none' cannot be combined with other values.")
	}
	return ar, nil
}

// reauthorize validates a pending request again.
func (p *Provider) reauthorize(c echo.Context, pa *pendingAuth) (fosite.AuthorizeRequester, error) {
	r, err := http.NewRequestWithContext(c.Request().Context(), http.MethodGet, Path+"/authorize?"+pa.Query, nil)
	if err != nil {
		return nil, err
	}
	return p.newAuthorizeRequest(c.Request().Context(), r)
}

func prompts(ar fosite.AuthorizeRequester) []string {
	return strings.Fields(ar.GetRequestForm().Get("prompt"))
}

// fresh reports whether a login at authTime satisfies the request's max_age.
func (p *Provider) fresh(ar fosite.AuthorizeRequester, authTime time.Time) bool {
	maxAge, err := strconv.ParseInt(ar.GetRequestForm().Get("max_age"), 10, 64)
	if err != nil || maxAge <= 0 {
		return true
	}
	return !authTime.Add(time.Duration(maxAge) * time.Second).Before(p.now())
}

// authorize is the authorization endpoint. A visitor already logged in at the
// provider gets a code at once (single sign-on); anyone else is sent to the login
// page, with the request kept in the session under a random id. Consent is implicit:
// every client is the comune's own (see the package documentation).
func (p *Provider) authorize(c echo.Context) error {
	ctx := c.Request().Context()
	ar, err := p.newAuthorizeRequest(ctx, c.Request())
	if err != nil {
		return p.authorizeError(c, ar, err)
	}
	login, acct, err := p.currentLogin(c)
	if err != nil {
		return err
	}
	pr := prompts(ar)
	if acct != nil && !slices.Contains(pr, "login") && p.fresh(ar, login.AuthTime) {
		return p.issue(c, ar, acct, login, p.now().UTC().Truncate(time.Second))
	}
	if slices.Contains(pr, "none") {
		return p.authorizeError(c, ar, fosite.ErrLoginRequired)
	}
	id := p.addPending(c, ar.GetRequestForm().Encode())
	return web.Redirect(c, Path+"/accedi?req="+url.QueryEscape(id))
}

// issue answers the authorization request with a code for account a.
func (p *Provider) issue(c echo.Context, ar fosite.AuthorizeRequester, a *accounts.Account, login *idpLogin, requestedAt time.Time) error {
	ctx := c.Request().Context()
	for _, s := range ar.GetRequestedScopes() {
		if slices.Contains(SupportedScopes, s) {
			ar.GrantScope(s)
		}
	}
	sub := subject(p.subSalt, a.ID)
	sess := NewSession()
	sess.Subject = sub
	sess.AccountID = a.ID
	sess.Claims = &jwt.IDTokenClaims{
		Subject: sub, Issuer: p.issuer, AuthTime: login.AuthTime, RequestedAt: requestedAt,
		AuthenticationMethodsReferences: login.AMR, Extra: claimsFor(a, ar.GetGrantedScopes()),
	}
	resp, err := p.oauth.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		return p.authorizeError(c, ar, err)
	}
	p.oauth.WriteAuthorizeResponse(ctx, c.Response(), ar, resp)
	return nil
}

// finishLogin records a completed login (password and, when due, second factor),
// remembers it in the session (whose token is renewed first, against fixation) and
// answers the pending request.
func (p *Provider) finishLogin(c echo.Context, id string, pa *pendingAuth, ar fosite.AuthorizeRequester, a *accounts.Account, amr []string) error {
	ctx := c.Request().Context()
	if err := p.accounts.RecordLogin(actx(c), a.ID, c.RealIP()); err != nil {
		return err
	}
	if sm := web.Sessions(c); sm != nil {
		if err := sm.RenewToken(ctx); err != nil {
			return err
		}
	}
	login := &idpLogin{AccountID: a.ID, AuthTime: p.now().UTC().Truncate(time.Second), AMR: amr}
	p.putJSON(c, sessLogin, login)
	p.dropPending(c, id)
	return p.issue(c, ar, a, login, pa.Created)
}

// LoginPage is the data of the login pages (password, then second factor).
type LoginPage struct {
	Req        string
	ClientName string
	Username   string
	Errors     web.FormErrors
	// Alert is a message key for a problem with the whole form (wrong credentials,
	// lockout), shown at the top.
	Alert string
	// Enrol shows the enrolment of an authenticator app instead of asking a code.
	Enrol  bool
	Secret string
	QR     any
}

// expiredRequest is the answer when the pending request is gone (session expired,
// too many tabs, or a forged id): the visitor starts again from the service.
func expiredRequest() error {
	return &web.Error{Status: http.StatusBadRequest, Key: "idp.login.expired"}
}

func (p *Provider) clientName(ctx context.Context, ar fosite.AuthorizeRequester) string {
	if row, err := p.client(ctx, ar.GetClient().GetID()); err == nil {
		return row.Name
	}
	return ""
}

// loadStep finds the pending request named by the req parameter and validates it again.
func (p *Provider) loadStep(c echo.Context) (string, *pendingAuth, fosite.AuthorizeRequester, error) {
	id := c.QueryParam("req")
	if c.Request().Method == http.MethodPost {
		id = c.FormValue("req")
	}
	pa := p.pending(c, id)
	if pa == nil {
		return "", nil, nil, expiredRequest()
	}
	ar, err := p.reauthorize(c, pa)
	if err != nil {
		p.dropPending(c, id)
		return "", nil, nil, p.authorizeError(c, ar, err)
	}
	return id, pa, ar, nil
}

func (p *Provider) loginPage(c echo.Context) error {
	id, pa, ar, err := p.loadStep(c)
	if err != nil || ar == nil {
		return err
	}
	// Logged in meanwhile (in another tab): no need to ask again.
	login, acct, err := p.currentLogin(c)
	if err != nil {
		return err
	}
	if acct != nil && !slices.Contains(prompts(ar), "login") && p.fresh(ar, login.AuthTime) {
		p.dropPending(c, id)
		return p.issue(c, ar, acct, login, p.now().UTC().Truncate(time.Second))
	}
	return p.render.Render(c, http.StatusOK, "idp/login.html", LoginPage{Req: id,
		ClientName: p.clientName(c.Request().Context(), ar), Username: pa.Username, Errors: web.FormErrors{}})
}

// startFromForm accepts an authorization request carried by the credentials form
// that the portal draws on its own login page (field "authorize", the request's query
// string, instead of "req"): it is validated exactly as at the authorization endpoint
// and kept as a pending request, so the rest of the login (wrong password, second
// factor) continues on the provider's pages.
func (p *Provider) startFromForm(c echo.Context) (string, *pendingAuth, fosite.AuthorizeRequester, error) {
	raw := c.FormValue("authorize")
	if len(raw) > 4096 {
		return "", nil, nil, expiredRequest()
	}
	r, err := http.NewRequestWithContext(c.Request().Context(), http.MethodGet, Path+"/authorize?"+raw, nil)
	if err != nil {
		return "", nil, nil, expiredRequest()
	}
	ar, err := p.newAuthorizeRequest(c.Request().Context(), r)
	if err != nil {
		return "", nil, nil, p.authorizeError(c, ar, err)
	}
	if slices.Contains(prompts(ar), "none") {
		return "", nil, nil, p.authorizeError(c, ar, fosite.ErrLoginRequired)
	}
	id := p.addPending(c, ar.GetRequestForm().Encode())
	return id, p.pending(c, id), ar, nil
}

func (p *Provider) loginSubmit(c echo.Context) error {
	var (
		id  string
		pa  *pendingAuth
		ar  fosite.AuthorizeRequester
		err error
	)
	if c.FormValue("req") == "" && c.FormValue("authorize") != "" {
		id, pa, ar, err = p.startFromForm(c)
	} else {
		id, pa, ar, err = p.loadStep(c)
	}
	if err != nil || ar == nil {
		return err
	}
	username := strings.TrimSpace(c.FormValue("username"))
	password := c.FormValue("password")
	page := LoginPage{Req: id, ClientName: p.clientName(c.Request().Context(), ar), Username: username, Errors: web.FormErrors{}}
	if username == "" {
		page.Errors.Add("username", "validation.required")
	}
	if password == "" {
		page.Errors.Add("password", "validation.required")
	}
	if page.Errors.Any() {
		return p.render.Render(c, http.StatusUnprocessableEntity, "idp/login.html", page)
	}
	pa.Username, pa.AccountID, pa.Enrol, pa.Secret, pa.URL = username, 0, false, "", ""
	p.setPending(c, id, pa)
	a, err := p.accounts.Authenticate(actx(c), username, password, c.RealIP())
	switch {
	case errors.Is(err, accounts.ErrLocked):
		page.Alert = "idp.login.locked"
		return p.render.Render(c, http.StatusTooManyRequests, "idp/login.html", page)
	case errors.Is(err, accounts.ErrInvalidCredentials):
		page.Alert = "idp.login.invalid"
		return p.render.Render(c, http.StatusUnprocessableEntity, "idp/login.html", page)
	case errors.Is(err, accounts.ErrNotActive):
		page.Alert = "idp.login.blocked"
		return p.render.Render(c, http.StatusForbidden, "idp/login.html", page)
	case err != nil:
		return err
	}
	if p.accounts.NeedsTOTP(a) {
		pa.AccountID, pa.PwdAt, pa.Enrol = a.ID, p.now().UTC(), !a.TOTPEnabled
		p.setPending(c, id, pa)
		return web.Redirect(c, Path+"/accedi/codice?req="+url.QueryEscape(id))
	}
	return p.finishLogin(c, id, pa, ar, a, []string{"pwd"})
}

// secondFactorStep loads the pending request of the second-factor page; it sends the
// visitor back to the password when the password step is missing or too old.
func (p *Provider) secondFactorStep(c echo.Context) (string, *pendingAuth, fosite.AuthorizeRequester, bool, error) {
	id, pa, ar, err := p.loadStep(c)
	if err != nil || ar == nil {
		return "", nil, nil, false, err
	}
	if pa.AccountID == 0 || p.now().Sub(pa.PwdAt) > secondFactorTTL {
		pa.AccountID, pa.Enrol, pa.Secret, pa.URL = 0, false, "", ""
		p.setPending(c, id, pa)
		web.AddFlash(c, "warning", "idp.totp.step_expired")
		return "", nil, nil, false, web.Redirect(c, Path+"/accedi?req="+url.QueryEscape(id))
	}
	return id, pa, ar, true, nil
}

func (p *Provider) secondFactorPage(c echo.Context) error {
	id, pa, ar, ok, err := p.secondFactorStep(c)
	if !ok {
		return err
	}
	page := LoginPage{Req: id, ClientName: p.clientName(c.Request().Context(), ar), Errors: web.FormErrors{}, Enrol: pa.Enrol}
	if pa.Enrol {
		if pa.Secret == "" {
			secret, u, err := p.accounts.BeginTOTP(actx(c), pa.AccountID)
			if err != nil {
				return err
			}
			pa.Secret, pa.URL = secret, u
			p.setPending(c, id, pa)
		}
		if page.QR, err = qrDataURL(pa.URL); err != nil {
			return err
		}
		page.Secret = groupSecret(pa.Secret)
	}
	return p.render.Render(c, http.StatusOK, "idp/totp.html", page)
}

func (p *Provider) secondFactorSubmit(c echo.Context) error {
	id, pa, ar, ok, err := p.secondFactorStep(c)
	if !ok {
		return err
	}
	code := strings.TrimSpace(c.FormValue("code"))
	page := LoginPage{Req: id, ClientName: p.clientName(c.Request().Context(), ar), Errors: web.FormErrors{}, Enrol: pa.Enrol}
	rerender := func(status int) error {
		if pa.Enrol {
			if page.QR, err = qrDataURL(pa.URL); err != nil {
				return err
			}
			page.Secret = groupSecret(pa.Secret)
		}
		return p.render.Render(c, status, "idp/totp.html", page)
	}
	if code == "" {
		page.Errors.Add("code", "validation.required")
		return rerender(http.StatusUnprocessableEntity)
	}
	if pa.Enrol {
		if pa.Secret == "" {
			return web.Redirect(c, Path+"/accedi/codice?req="+url.QueryEscape(id))
		}
		err = p.accounts.ConfirmTOTP(actx(c), pa.AccountID, code)
	} else {
		err = p.accounts.VerifyTOTP(actx(c), pa.AccountID, code, c.RealIP())
	}
	switch {
	case errors.Is(err, accounts.ErrInvalidTOTP):
		page.Errors.Add("code", "idp.totp.invalid")
		return rerender(http.StatusUnprocessableEntity)
	case errors.Is(err, accounts.ErrLocked):
		page.Alert = "idp.login.locked"
		return rerender(http.StatusTooManyRequests)
	case errors.Is(err, accounts.ErrNotActive):
		p.dropPending(c, id)
		page.Alert = "idp.login.blocked"
		return p.render.Render(c, http.StatusForbidden, "idp/login.html", LoginPage{Errors: web.FormErrors{}, Alert: page.Alert})
	case err != nil:
		return err
	}
	a, err := p.accounts.Get(c.Request().Context(), pa.AccountID)
	if err != nil {
		return err
	}
	if a.Status != accounts.StatusActive {
		p.dropPending(c, id)
		return p.render.Render(c, http.StatusForbidden, "idp/login.html", LoginPage{Errors: web.FormErrors{}, Alert: "idp.login.blocked"})
	}
	return p.finishLogin(c, id, pa, ar, a, []string{"pwd", "otp"})
}
