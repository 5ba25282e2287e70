// Package web is the portal's HTTP layer: the Echo instance with its middleware
// (request id, access log, panic recovery, security headers, body limit, gzip,
// database sessions, language, CSRF, metrics), the template renderer with message
// catalogues in Italian and English, flashes, form validation and the error handler.
//
// Handlers return errors; ErrorHandler maps them to status codes and renders a page in
// the visitor's language. Nothing here knows about service modules.
package web

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/comuni-italiani/sportello/app/audit"
)

// Options configure New.
type Options struct {
	// Tenant resolves the request's ente (app/enti); it runs after the access log and
	// security headers, before sessions and CSRF, and may answer on its own.
	Tenant   echo.MiddlewareFunc
	Log      *slog.Logger
	Renderer *Renderer
	Sessions *scs.SessionManager
	// BodyLimit is the largest request body accepted, such as "12M".
	BodyLimit string
	// Secure marks cookies Secure and sends HSTS (the portal is served over https).
	Secure bool
	// TrustProxy believes X-Forwarded-For and X-Forwarded-Proto.
	TrustProxy bool
	// Metrics receives the request metrics; nil disables them.
	Metrics prometheus.Registerer
	// Static serves /static/ (embedded css, js, images, vendor files).
	Static fs.FS
	// CSRFExempt lists path prefixes that are not browser forms (OAuth token endpoint,
	// JSON APIs authenticated otherwise).
	CSRFExempt []string
	// FormActionOrigins are extra origins forms may post or redirect to (external
	// identity providers).
	FormActionOrigins []string
	// PublicPaths are exact paths of public, cacheable documents (the identity
	// provider's discovery document and JWKS): like static files they carry no session
	// cookie, so the session middleware neither loads a session nor forces no-store
	// on them, and the handler's own Cache-Control stands.
	PublicPaths []string
	// OnSecurityEvent records refusals that are security events (a rejected CSRF
	// token) in the audit log; nil records nothing.
	OnSecurityEvent func(c echo.Context, action string, details map[string]any)
}

// sessionless paths carry no cookies and touch no database: static files, probes,
// metrics.
func sessionless(path string) bool {
	return strings.HasPrefix(path, "/static/") || path == "/healthz" || path == "/readyz" ||
		path == "/metrics" || path == "/favicon.ico" || path == "/robots.txt"
}

// New builds the Echo instance with the portal's middleware in order.
func New(o Options) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Renderer = nil
	if o.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	} else {
		e.IPExtractor = echo.ExtractIPDirect()
	}
	e.HTTPErrorHandler = ErrorHandler(o.Renderer, o.Log)
	// HEAD is answered as GET: net/http drops the body of a HEAD response.
	e.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Method == http.MethodHead {
				c.Request().Method = http.MethodGet
			}
			return next(c)
		}
	})

	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			o.Log.Error("panic", "err", err, "path", c.Request().URL.Path,
				"request_id", RequestID(c), "stack", string(stack))
			return err
		},
	}))
	e.Use(headerGuard)
	e.Use(middleware.RequestID())
	// The client address travels with the request's context, for the audit entries
	// written below the pages (audit.Record fills it in).
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.SetRequest(c.Request().WithContext(audit.WithClient(c.Request().Context(), c.RealIP())))
			return next(c)
		}
	})
	e.Use(accessLog(o.Log))
	if o.Metrics != nil {
		e.Use(echoprometheus.NewMiddlewareWithConfig(echoprometheus.MiddlewareConfig{
			Namespace:                 "sportello",
			Subsystem:                 "http",
			Registerer:                o.Metrics,
			DoNotUseRequestPathFor404: true,
			Skipper:                   func(c echo.Context) bool { return c.Path() == "/metrics" },
		}))
	}
	e.Use(securityHeaders(o))
	if o.Tenant != nil {
		e.Use(o.Tenant)
	}
	e.Use(middleware.BodyLimit(o.BodyLimit))
	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{
		Level:     5,
		MinLength: 1024,
		Skipper:   func(c echo.Context) bool { return strings.HasSuffix(c.Request().URL.Path, ".pdf") },
	}))
	if o.Static != nil {
		static := http.StripPrefix("/static/", http.FileServer(http.FS(o.Static)))
		e.GET("/static/*", func(c echo.Context) error {
			// Directories are not listed: only files are served.
			name := strings.TrimPrefix(c.Request().URL.Path, "/static/")
			if name == "" || strings.HasSuffix(name, "/") || !fs.ValidPath(name) {
				return ErrNotFound
			}
			if fi, err := fs.Stat(o.Static, name); err != nil || fi.IsDir() {
				return ErrNotFound
			}
			c.Response().Header().Set("Cache-Control", "public, max-age=86400")
			static.ServeHTTP(c.Response(), c.Request())
			return nil
		})
	}
	e.Use(languageMiddleware(o.Renderer.i18n, o.Secure))
	// Every text that enters is checked here, once, before sessions, CSRF and handlers.
	e.Use(inputGuard)
	if o.Sessions != nil {
		e.Use(sessionMiddleware(o.Sessions, o.PublicPaths))
	}
	e.Use(middleware.CSRFWithConfig(middleware.CSRFConfig{
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			if sessionless(p) || slices.Contains(o.PublicPaths, p) {
				return true
			}
			return slices.ContainsFunc(o.CSRFExempt, func(pre string) bool { return strings.HasPrefix(p, pre) })
		},
		TokenLookup:    "form:_csrf,header:X-CSRF-Token",
		ContextKey:     ctxCSRF,
		CookieName:     "sportello_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   o.Secure,
		CookieSameSite: http.SameSiteLaxMode,
		CookieMaxAge:   12 * 3600,
		ErrorHandler: func(err error, c echo.Context) error {
			if o.OnSecurityEvent != nil {
				o.OnSecurityEvent(c, "security.csrf_rejected", map[string]any{"method": c.Request().Method, "path": c.Request().URL.Path})
			}
			return &Error{Status: http.StatusForbidden, Key: "errors.csrf.text", Err: err}
		},
	}))
	return e
}

const ctxCSRF = "web.csrf"

// CSRFToken returns the token forms must carry in the _csrf field.
func CSRFToken(c echo.Context) string {
	s, _ := c.Get(ctxCSRF).(string)
	return s
}

func accessLog(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogLatency: true, LogMethod: true, LogURIPath: true, LogRequestID: true,
		LogRemoteIP: true, LogRoutePath: true, LogResponseSize: true,
		// The error handler renders the error page here, so the line logs the status
		// the visitor got (a 403 from a guard, not the 200 Echo would assume).
		HandleError: true,
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return p == "/healthz" || p == "/metrics"
		},
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			// The query string is left out: it may carry codes or personal data.
			log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("method", v.Method), slog.String("path", v.URIPath), slog.String("route", v.RoutePath),
				slog.Int("status", v.Status), slog.Float64("ms", float64(v.Latency.Microseconds())/1000),
				slog.Int64("bytes", v.ResponseSize), slog.String("ip", v.RemoteIP), slog.String("request_id", v.RequestID))
			return nil
		},
	})
}

func securityHeaders(o Options) echo.MiddlewareFunc {
	formAction := "'self'"
	for _, origin := range o.FormActionOrigins {
		formAction += " " + origin
	}
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; " +
		"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action " + formAction
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
			if o.Secure || c.Scheme() == "https" {
				h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
			}
			return next(c)
		}
	}
}

func languageMiddleware(i *I18n, secure bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if strings.HasPrefix(c.Request().URL.Path, "/static/") {
				return next(c)
			}
			lang := i.detect(c)
			c.Set(ctxLang, lang)
			c.Response().Header().Set("Content-Language", lang)
			c.Response().Header().Add("Vary", "Accept-Language, Cookie")
			if q := c.QueryParam("lang"); Supported(q) {
				c.SetCookie(&http.Cookie{Name: LangCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
					HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
			}
			return next(c)
		}
	}
}

// sessionMiddleware loads the visitor's session before the handler and saves it after,
// like scs.LoadAndSave, but inside Echo so that the handler's error is rendered (by the
// error handler) before the session cookie is written.
func sessionMiddleware(sm *scs.SessionManager, public []string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if p := c.Request().URL.Path; sessionless(p) || slices.Contains(public, p) {
				return next(c)
			}
			req := c.Request()
			var token string
			if ck, err := req.Cookie(sm.Cookie.Name); err == nil {
				token = ck.Value
			}
			ctx, err := sm.Load(req.Context(), token)
			if err != nil {
				return fmt.Errorf("web: load session: %w", err)
			}
			c.SetRequest(req.WithContext(ctx))
			c.Set(ctxSessions, sm)
			c.Response().Before(func() { commitSession(c, sm) })
			loadViewer(c)
			return next(c)
		}
	}
}

func commitSession(c echo.Context, sm *scs.SessionManager) {
	ctx := c.Request().Context()
	switch sm.Status(ctx) {
	case scs.Modified:
		token, expiry, err := sm.Commit(ctx)
		if err != nil {
			c.Logger().Error(err)
			return
		}
		sm.WriteSessionCookie(ctx, c.Response(), token, expiry)
	case scs.Destroyed:
		sm.WriteSessionCookie(ctx, c.Response(), "", time.Time{})
	}
	c.Response().Header().Add("Vary", "Cookie")
	c.Response().Header().Set("Cache-Control", "no-store")
}
