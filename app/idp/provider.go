package idp

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/token/jwt"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/web"
)

// Lifetimes of what the provider issues.
const (
	// AuthCodeLifespan is how long an authorization code can be exchanged.
	AuthCodeLifespan = 5 * time.Minute
	// AccessTokenLifespan is how long an access token opens userinfo.
	AccessTokenLifespan = 15 * time.Minute
	// RefreshTokenLifespan is how long a refresh token works; each use replaces it.
	RefreshTokenLifespan = 8 * time.Hour
	// IDTokenLifespan is the validity of an ID token.
	IDTokenLifespan = 15 * time.Minute
)

// Path is where the provider lives; the issuer is BaseURL + Path.
const Path = "/idp"

// CSRFExempt are the path prefixes that clients call server to server (or, for
// authorize and logout, may reach with a cross-site form post): the portal's CSRF
// check must skip them. They are protected by client authentication, bearer tokens or
// the OAuth 2.0 request validation instead; a logout posted without a valid
// id_token_hint only shows the confirmation form, which posts to LogoutConfirmPath
// with the CSRF token.
var CSRFExempt = []string{Path + "/token", Path + "/revoke", Path + "/userinfo", Path + "/authorize", Path + "/logout"}

// PublicPaths are the provider's public metadata (discovery document and JWKS):
// cacheable, sessionless documents (web.Options.PublicPaths).
var PublicPaths = []string{Path + "/.well-known/openid-configuration", Path + "/jwks"}

// LogoutConfirmPath receives the logout confirmation form (CSRF-checked). It must not
// start with an exempt prefix.
const LogoutConfirmPath = Path + "/uscita"

// Options configure New.
type Options struct {
	DB *gorm.DB
	// Accounts authenticates people. It and Renderer may be nil for administration
	// only (clients and keys from the command line); Mount needs both.
	Accounts *accounts.Service
	Renderer *web.Renderer
	// BaseURL is the portal's public address; the issuer is BaseURL + "/idp".
	BaseURL string
	Log     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Box seals the signing keys and the token secrets with the system secret
	// (app/secretbox). Required.
	Box *secretbox.Box
	// SecretHashCost is the bcrypt cost used to check client secrets hashed by bcrypt
	// before secrets moved to SHA-256 (see secretHasher); tests lower it.
	SecretHashCost int
}

// Provider is the embedded OpenID Provider. Build it once with New and Mount it.
type Provider struct {
	db       *gorm.DB
	accounts *accounts.Service
	render   *web.Renderer
	log      *slog.Logger
	now      func() time.Time
	baseURL  string
	issuer   string
	config   *fosite.Config
	oauth    fosite.OAuth2Provider
	store    *storage
	keys     keyCache
	subSalt  []byte
	box      *secretbox.Box
}

// New builds the provider over o.DB (which must carry Migrations): it creates on first
// start, and loads on every start, the shared secrets and the signing key.
func New(ctx context.Context, o Options) (*Provider, error) {
	if o.DB == nil {
		return nil, errors.New("idp: no database")
	}
	if o.Box == nil {
		return nil, errors.New("idp: no system secret (Options.Box)")
	}
	base := strings.TrimSuffix(o.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("idp: base URL %q is not an http(s) URL", o.BaseURL)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{db: o.DB, accounts: o.Accounts, render: o.Renderer, log: o.Log, now: o.Now,
		baseURL: base, issuer: base + Path, box: o.Box}
	// Refuse a database sealed with a secret that is not configured before creating
	// anything (never a silent new key), and seal what older versions wrote in clear.
	if err := secretbox.Prepare(ctx, o.DB, o.Box, SealedColumns()); err != nil {
		return nil, fmt.Errorf("idp: %w", err)
	}
	p.store = &storage{db: o.DB, now: o.Now,
		life: lifespans{code: AuthCodeLifespan, access: AccessTokenLifespan, refresh: RefreshTokenLifespan}}

	gen := func() (string, error) { return randomToken(32), nil }
	hmacKey, err := putSecret(ctx, o.DB, o.Box, "token_hmac_key", gen, o.Now())
	if err != nil {
		return nil, fmt.Errorf("idp: token key: %w", err)
	}
	globalSecret, err := base64.RawURLEncoding.DecodeString(hmacKey)
	if err != nil || len(globalSecret) != 32 {
		return nil, errors.New("idp: stored token key is malformed")
	}
	salt, err := putSecret(ctx, o.DB, nil, "subject_salt", gen, o.Now())
	if err != nil {
		return nil, fmt.Errorf("idp: subject salt: %w", err)
	}
	p.subSalt = []byte(salt)
	if err := p.ensureKey(ctx); err != nil {
		return nil, fmt.Errorf("idp: signing key: %w", err)
	}

	p.config = &fosite.Config{
		AccessTokenLifespan:            AccessTokenLifespan,
		RefreshTokenLifespan:           RefreshTokenLifespan,
		AuthorizeCodeLifespan:          AuthCodeLifespan,
		IDTokenLifespan:                IDTokenLifespan,
		IDTokenIssuer:                  p.issuer,
		AccessTokenIssuer:              p.issuer,
		TokenURL:                       p.issuer + "/token",
		HashCost:                       o.SecretHashCost,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		EnforcePKCE:                    true,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		RefreshTokenScopes:             []string{ScopeOffline},
		AllowedPromptValues:            []string{"login", "none", "consent", "select_account"},
		RedirectSecureChecker:          p.redirectSecure,
		GlobalSecret:                   globalSecret,
		SendDebugMessagesToClients:     false,
	}
	p.config.ClientSecretsHasher = &secretHasher{bcrypt: &fosite.BCrypt{Config: p.config}}
	keyGetter := func(ctx context.Context) (any, error) { return p.signingKey(ctx) }
	strategy := &compose.CommonStrategy{
		CoreStrategy:               compose.NewOAuth2HMACStrategy(p.config),
		OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(keyGetter, p.config),
		Signer:                     &jwt.DefaultSigner{GetPrivateKey: keyGetter},
	}
	// The OpenID Connect and PKCE handlers must follow the authorization code handler.
	p.oauth = compose.Compose(p.config, p.store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
	)
	return p, nil
}

// Issuer is the provider's issuer identifier (BaseURL + "/idp").
func (p *Provider) Issuer() string { return p.issuer }

// redirectSecure accepts https redirect URIs, http ones on loopback addresses, and any
// http one when the portal itself runs on plain http (development), where refusing
// them protects nothing.
func (p *Provider) redirectSecure(ctx context.Context, u *url.URL) bool {
	if u.Scheme != "http" || fosite.IsLocalhost(u) {
		return true
	}
	return strings.HasPrefix(p.baseURL, "http://")
}

// Mount registers the provider's routes on e. It panics if New was given no accounts
// service or renderer (a wiring mistake that every start would hit).
func (p *Provider) Mount(e *echo.Echo) {
	if p.accounts == nil || p.render == nil {
		panic("idp: Mount needs Options.Accounts and Options.Renderer")
	}
	g := e.Group(Path)
	g.GET("/.well-known/openid-configuration", p.discovery)
	g.GET("/jwks", p.jwks)
	g.GET("/authorize", p.authorize)
	g.POST("/authorize", p.authorize)
	g.POST("/token", p.token)
	g.GET("/userinfo", p.userinfo)
	g.POST("/userinfo", p.userinfo)
	g.POST("/revoke", p.revoke)
	// RP-Initiated Logout 1.0: the end_session endpoint takes GET and POST alike.
	g.GET("/logout", p.logout)
	g.POST("/logout", p.logout)
	e.GET(LogoutConfirmPath, p.logoutConfirmPage)
	e.POST(LogoutConfirmPath, p.logoutConfirmed)

	g.GET("/accedi", p.loginPage)
	g.POST("/accedi", p.loginSubmit)
	g.GET("/accedi/codice", p.secondFactorPage)
	g.POST("/accedi/codice", p.secondFactorSubmit)

	g.GET("/attiva", p.activateStart)
	g.POST("/attiva", p.activateCheck)
	g.GET("/attiva/password", p.activatePasswordPage)
	g.POST("/attiva/password", p.activatePasswordSubmit)
	g.GET("/attiva/codice", p.activateTOTPPage)
	g.POST("/attiva/codice", p.activateTOTPSubmit)
	g.GET("/attiva/fatto", p.activateDone)

	g.GET("/password/recupero", p.resetRequestPage)
	g.POST("/password/recupero", p.resetRequestSubmit)
	g.GET("/password/recupero/inviata", p.resetRequestSent)
	g.GET("/password/nuova", p.resetPage)
	g.POST("/password/nuova", p.resetSubmit)
	g.GET("/password/nuova/fatto", p.resetDone)
}

// DeleteExpired removes expired codes and tokens and the retired signing keys no
// longer published, and returns how many rows went. The app calls it periodically;
// it is safe to run on several replicas at once.
func (p *Provider) DeleteExpired(ctx context.Context) (int64, error) {
	n, err := p.store.deleteExpired(ctx)
	if err != nil {
		return n, fmt.Errorf("idp: delete expired: %w", err)
	}
	k, err := p.deleteRetiredKeys(ctx)
	if err != nil {
		return n, fmt.Errorf("idp: delete retired keys: %w", err)
	}
	return n + k, nil
}

// discoveryDoc is the OpenID Provider metadata.
type discoveryDoc struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	RevocationAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	PromptValuesSupported             []string `json:"prompt_values_supported"`
	UILocalesSupported                []string `json:"ui_locales_supported"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported"`
	RequestParameterSupported         bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
}

func (p *Provider) discovery(c echo.Context) error {
	auth := []string{"client_secret_basic", "client_secret_post", "none"}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, discoveryDoc{
		Issuer:                            p.issuer,
		AuthorizationEndpoint:             p.issuer + "/authorize",
		TokenEndpoint:                     p.issuer + "/token",
		UserinfoEndpoint:                  p.issuer + "/userinfo",
		JWKSURI:                           p.issuer + "/jwks",
		EndSessionEndpoint:                p.issuer + "/logout",
		RevocationEndpoint:                p.issuer + "/revoke",
		ScopesSupported:                   SupportedScopes,
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               clientGrantTypes,
		SubjectTypesSupported:             []string{"public"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		IDTokenSigningAlgValuesSupported:  []string{SigningAlg},
		TokenEndpointAuthMethodsSupported: auth,
		RevocationAuthMethodsSupported:    auth,
		ClaimsSupported:                   SupportedClaims,
		PromptValuesSupported:             []string{"none", "login"},
		UILocalesSupported:                []string{"it", "en"},
	})
}

func (p *Provider) jwks(c echo.Context) error {
	set, err := p.JWKS(c.Request().Context())
	if err != nil {
		return err
	}
	// Short enough for a rotation to be seen soon (a retired key stays published for
	// KeyRetention; go-oidc refetches on an unknown kid anyway).
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, set)
}
