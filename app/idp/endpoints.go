package idp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"
	"github.com/skip2/go-qrcode"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/web"
)

// token is the token endpoint: authorization code (with PKCE) and refresh token
// grants. A refresh is refused, and its family revoked, when the account can no
// longer log in; otherwise the refreshed ID token carries the account's current claims.
func (p *Provider) token(c echo.Context) error {
	ctx := c.Request().Context()
	rw := c.Response()
	ar, err := p.oauth.NewAccessRequest(ctx, c.Request(), NewSession())
	if err != nil {
		p.logTokenError(c, err)
		p.oauth.WriteAccessError(ctx, rw, ar, err)
		return nil
	}
	if ar.GetGrantTypes().ExactOne("refresh_token") {
		if err := p.refreshAccount(c, ar); err != nil {
			p.logTokenError(c, err)
			p.oauth.WriteAccessError(ctx, rw, ar, err)
			return nil
		}
	}
	resp, err := p.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		p.logTokenError(c, err)
		p.oauth.WriteAccessError(ctx, rw, ar, err)
		return nil
	}
	p.oauth.WriteAccessResponse(ctx, rw, ar, resp)
	return nil
}

// refreshAccount checks that the account behind a refresh can still log in and
// updates the claims of the ID token about to be issued.
func (p *Provider) refreshAccount(c echo.Context, ar fosite.AccessRequester) error {
	ctx := c.Request().Context()
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	a, err := p.accounts.Get(ctx, sess.AccountID)
	if err != nil && !errors.Is(err, accounts.ErrNotFound) {
		return fosite.ErrServerError.WithWrap(err)
	}
	if err != nil || a.Status != accounts.StatusActive {
		if rerr := p.store.RevokeRefreshToken(ctx, ar.GetID()); rerr != nil {
			return fosite.ErrServerError.WithWrap(rerr)
		}
		if rerr := p.store.RevokeAccessToken(ctx, ar.GetID()); rerr != nil {
			return fosite.ErrServerError.WithWrap(rerr)
		}
		return fosite.ErrInvalidGrant.WithHint("The account can no longer log in.")
	}
	if sess.Claims != nil {
		sess.Claims.Extra = claimsFor(a, ar.GetGrantedScopes())
	}
	return nil
}

func (p *Provider) logTokenError(c echo.Context, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	attrs := []any{"error", rfc.ErrorField, "hint", rfc.HintField, "request_id", web.RequestID(c)}
	if rfc.CodeField >= 500 {
		p.log.Error("token request failed", append(attrs, "err", err, "debug", rfc.DebugField)...)
		return
	}
	p.log.Info("token request refused", attrs...)
}

// revoke is the revocation endpoint (RFC 7009): a refresh token revokes its whole
// family and the access tokens issued with it.
func (p *Provider) revoke(c echo.Context) error {
	ctx := c.Request().Context()
	err := p.oauth.NewRevocationRequest(ctx, c.Request())
	if err != nil {
		p.logTokenError(c, err)
	}
	p.oauth.WriteRevocationResponse(ctx, c.Response(), err)
	return nil
}

// userinfo answers with the claims the access token's scopes release, read from the
// account now (so a change of name or roles shows at once). A token whose account can
// no longer log in is refused.
func (p *Provider) userinfo(c echo.Context) error {
	ctx := c.Request().Context()
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	tok := fosite.AccessTokenFromRequest(c.Request())
	if tok == "" {
		h.Set("WWW-Authenticate", `Bearer realm="`+p.issuer+`"`)
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "invalid_request"})
	}
	invalid := func() error {
		h.Set("WWW-Authenticate", `Bearer realm="`+p.issuer+`", error="invalid_token"`)
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
	}
	_, ar, err := p.oauth.IntrospectToken(ctx, tok, fosite.AccessToken, NewSession())
	if err != nil {
		if rfc := fosite.ErrorToRFC6749Error(err); rfc.CodeField >= 500 {
			return err
		}
		return invalid()
	}
	if !ar.GetGrantedScopes().Has(ScopeOpenID) {
		h.Set("WWW-Authenticate", `Bearer realm="`+p.issuer+`", error="insufficient_scope", scope="openid"`)
		return c.JSON(http.StatusForbidden, map[string]string{"error": "insufficient_scope"})
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return invalid()
	}
	a, err := p.accounts.Get(ctx, sess.AccountID)
	if errors.Is(err, accounts.ErrNotFound) {
		return invalid()
	}
	if err != nil {
		return err
	}
	if a.Status != accounts.StatusActive {
		return invalid()
	}
	claims := claimsFor(a, ar.GetGrantedScopes())
	claims["sub"] = sess.GetSubject()
	return c.JSON(http.StatusOK, claims)
}

// LogoutPage is the data of the logout pages.
type LogoutPage struct {
	// Confirm asks the visitor to confirm (the request did not prove it came from the
	// client of this session).
	Confirm               bool
	PostLogoutRedirectURI string
	State                 string
	ClientID              string
}

// logoutTarget checks post_logout_redirect_uri against the client's registered URIs
// and returns where to go after logout ("" for the provider's own page).
func (p *Provider) logoutTarget(c echo.Context, clientID, target, state string) (string, error) {
	if target == "" {
		return "", nil
	}
	refuse := func(err error) error {
		return &web.Error{Status: http.StatusBadRequest, Key: "idp.logout.bad_request", Err: err}
	}
	if clientID == "" {
		return "", refuse(errors.New("post_logout_redirect_uri without a client"))
	}
	row, err := p.client(c.Request().Context(), clientID)
	if errors.Is(err, ErrUnknownClient) {
		return "", refuse(err)
	}
	if err != nil {
		return "", err
	}
	if !slices.Contains(parseList(row.PostLogoutRedirectURIs), target) {
		return "", refuse(fmt.Errorf("post_logout_redirect_uri %q not registered for %s", target, clientID))
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", refuse(err)
	}
	if state != "" {
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// logout is the end_session endpoint (OpenID Connect RP-Initiated Logout). With a
// valid id_token_hint for the person logged in here (or nobody logged in), the
// provider login ends at once and the visitor goes to the registered
// post_logout_redirect_uri (with state); otherwise the visitor confirms with a form.
func (p *Provider) logout(c echo.Context) error {
	ctx := c.Request().Context()
	clientID := c.QueryParam("client_id")
	target := c.QueryParam("post_logout_redirect_uri")
	state := c.QueryParam("state")
	hintOK, sub := false, ""
	if hint := c.QueryParam("id_token_hint"); hint != "" {
		s, aud, err := p.idTokenClaims(ctx, hint)
		switch {
		case err != nil:
			p.log.Info("logout with an invalid id_token_hint", "err", err, "request_id", web.RequestID(c))
		case clientID != "" && !slices.Contains(aud, clientID):
			return &web.Error{Status: http.StatusBadRequest, Key: "idp.logout.bad_request", Err: errors.New("client_id is not the hint's audience")}
		default:
			hintOK, sub = true, s
			if clientID == "" && len(aud) == 1 {
				clientID = aud[0]
			}
		}
	}
	to, err := p.logoutTarget(c, clientID, target, state)
	if err != nil {
		return err
	}
	var l idpLogin
	logged := p.getJSON(c, sessLogin, &l) && l.AccountID != 0
	if !logged || (hintOK && sub == subject(p.subSalt, l.AccountID)) {
		return p.endLogin(c, logged, to)
	}
	return p.render.Render(c, http.StatusOK, "idp/logout.html", LogoutPage{Confirm: true,
		PostLogoutRedirectURI: target, State: state, ClientID: clientID})
}

// logoutConfirmed ends the provider login after the visitor confirmed.
func (p *Provider) logoutConfirmed(c echo.Context) error {
	to, err := p.logoutTarget(c, c.FormValue("client_id"), c.FormValue("post_logout_redirect_uri"), c.FormValue("state"))
	if err != nil {
		return err
	}
	var l idpLogin
	return p.endLogin(c, p.getJSON(c, sessLogin, &l), to)
}

// endLogin forgets the provider login and pending requests of this session.
func (p *Provider) endLogin(c echo.Context, logged bool, to string) error {
	p.remove(c, sessLogin)
	p.remove(c, sessPending)
	if sm := web.Sessions(c); logged && sm != nil {
		if err := sm.RenewToken(c.Request().Context()); err != nil {
			return err
		}
	}
	if to != "" {
		return web.Redirect(c, to)
	}
	return p.render.Render(c, http.StatusOK, "idp/logout.html", LogoutPage{})
}

// qrDataURL draws an otpauth URL as a PNG QR code in a data: URL (the CSP allows
// data: images).
func qrDataURL(otpauth string) (template.URL, error) {
	png, err := qrcode.Encode(otpauth, qrcode.Medium, 256)
	if err != nil {
		return "", fmt.Errorf("idp: QR code: %w", err)
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), nil
}

// groupSecret spaces a base32 secret by four characters for typing.
func groupSecret(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
