package certificates

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/templates"
)

// ID is the module's identifier and URL segment.
const ID = "certificati"

// RoleOfficer is the staff role that searches and revokes certificates (the registry
// officer). The id predates the module's own role declaration: it is stored in staff
// accounts, so it keeps its name.
const RoleOfficer = "anagrafe_officer"

// Roles implements services.Roles.
func (*Module) Roles() []roles.Def {
	return []roles.Def{{ID: RoleOfficer, Title: "certificati.role.officer", Description: "certificati.role.officer_desc"}}
}

// KeysPath is where the public stamp keys are published (a JWKS document).
const KeysPath = stamp.JWKSPath

// rome is the comune's time zone: issue dates and validity are reckoned in it.
var rome = web.Rome

// Module implements services.Module and its optional interfaces.
type Module struct {
	db       *gorm.DB
	render   *web.Renderer
	i18n     *web.I18n
	log      *slog.Logger
	cfg      config.Config
	settings Settings // the installation's, with the defaults: read through settingsFor
	// settingsOf decodes the settings for an ente (Mount.SettingsFor).
	settingsOf func(ctx context.Context, out any) error
	// settingsMemo keeps settingsFor's result by ente id (a settingsMemo).
	settingsMemo sync.Map
	// ring is the stamp key ring of the configured comune (comune.id); rings holds
	// the other enti's, loaded on first use (ringOf).
	ring    *stamp.KeyRing
	rings   sync.Map          // ente id -> *stamp.KeyRing
	pay     *payments.Service // marca da bollo digitale (bollo.go); nil in some tests
	baseURL string
	now     func() time.Time
	newCode func() (string, error) // stamp.NewCode; tests choose the code (WithCodes)

	stampMu sync.Mutex
	stampOK map[string]stamp.Payload // stamps whose signature verified (verifiedStamp)

	intactOK map[string]intactMemo // records found intact (intact), under stampMu
	// comuneOf and baseURLOf give the issuing comune's data and portal address by
	// ente id (services.Mount); nil outside a portal.
	comuneOf  func(string) config.Comune
	baseURLOf func(string) string

	vlog *verifyLog // the verification log's batches (verifylog.go)

	lookups lookupCache // certificates found by code for verification (lookupcache.go)
}

// Option adjusts a Module built by New.
type Option func(*Module)

// WithClock replaces the clock (tests: expiry, "issued today").
func WithClock(now func() time.Time) Option { return func(m *Module) { m.now = now } }

// WithCodes replaces the source of verification codes (tests: a code ending in each of
// the check symbols *~$=U, which must survive every address the portal writes).
func WithCodes(next func() (string, error)) Option { return func(m *Module) { m.newCode = next } }

// New returns the module, ready to be mounted.
func New(opts ...Option) *Module {
	m := &Module{now: time.Now, newCode: stamp.NewCode}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Info implements services.Module.
func (*Module) Info() services.Info {
	return services.Info{
		ID:          ID,
		Title:       "certificati.title",
		Summary:     "certificati.summary",
		Description: "certificati.description",
		Area:        services.AreaAnagrafe,
		Audience:    "certificati.audience",
		NeedsLogin:  true,
		Needs:       []string{"certificati.needs.bollo", "certificati.needs.printer"},
		Start:       "nuovo",
		Order:       10,
		HowTo:       "certificati.card.howto",
		Outcome:     "certificati.card.outcome",
		Times:       "certificati.card.times",
		Cost:        "certificati.card.cost",
		Conditions:  "certificati.card.conditions",
		Office:      "certificati.card.office",
		Topics:      []string{"topic.anagrafe", "topic.certificati"},
		LifeEvents:  []string{"cambio-residenza", "nascita-figlio", "matrimonio"},
		Updated:     "2026-12-02",
	}
}

// Mount implements services.Module: it loads the stamp keys and registers the citizen,
// staff and public verification routes.
func (m *Module) Mount(mt *services.Mount) error {
	m.db, m.render, m.log, m.cfg = mt.DB, mt.Render, mt.Log, mt.Config
	m.i18n = mt.Render.I18n()
	m.baseURL = strings.TrimSuffix(mt.Config.HTTP.BaseURL, "/")
	m.comuneOf, m.baseURLOf = mt.ComuneOf, mt.BaseURLOf
	s, err := LoadSettings(mt.Config)
	if err != nil {
		return err
	}
	m.settings = s
	m.settingsOf = mt.SettingsFor
	if m.ring, err = LoadKeys(mt.Config, s, m.log); err != nil {
		return err
	}
	if err := m.mountBollo(mt.Payments); err != nil {
		return err
	}

	c := mt.Citizen
	c.GET("/nuovo", m.stepPerson)
	c.GET("/nuovo/tipo", m.stepType)
	c.GET("/nuovo/riepilogo", m.stepSummary)
	c.POST("/nuovo", m.issueHandler)
	c.GET("/emesso/:id", m.issued)
	c.GET("/miei", m.mine)
	c.GET("/miei/:id", m.mineDetail)
	c.GET("/miei/:id/certificato.pdf", m.download)
	c.GET("/miei/:id/copia", m.mineCopy)

	staff := mt.Staff.Group("", mt.RequireRole(RoleOfficer))
	staff.GET("/", m.staffSearch)
	staff.GET("/:id", m.staffDetail)
	staff.POST("/:id/revoca", m.staffRevoke)

	limit := m.rateLimit()
	site := mt.Site
	site.GET("/verifica", m.verifyForm, limit)
	site.GET("/verifica/:id", m.verifyPage, limit)
	// The short address of the same page, in the QR codes of stamp format 2.
	site.GET("/v/:id", m.verifyPage, limit)
	site.GET("/verifica.js", m.verifyScript)
	site.GET("/api/verifica/:id", m.verifyAPI, limit)
	site.POST("/api/verifica", m.verifyPayloadAPI, limit)
	site.GET(KeysPath, m.publicKeys)
	m.vlog = newVerifyLog(mt.DB, m.log)
	m.vlog.start(VerifyLogInterval)
	return nil
}

// LoadKeys loads the stamp key ring from the directory the settings name. In
// development a missing directory is created with a new key; in production it must
// exist (it is provisioned with `sportello certificati keys init` and shared by every replica).
func LoadKeys(cfg config.Config, s Settings, log *slog.Logger) (*stamp.KeyRing, error) {
	setting := "modules.settings." + ID + ".key_dir"
	if cfg.Production() {
		if _, err := os.Stat(s.KeyDir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("certificates: the stamp key directory %s (%s) does not exist: in production create it with `sportello certificati keys init` and mount it on every replica", s.KeyDir, setting)
		}
		ring, err := stamp.LoadDir(s.KeyDir)
		if err != nil {
			return nil, fmt.Errorf("certificates: stamp keys in %s (%s): %w", s.KeyDir, setting, err)
		}
		warnExposed(s.KeyDir, log)
		return ring, nil
	}
	ring, created, err := stamp.LoadOrCreateDir(s.KeyDir)
	if err != nil {
		return nil, fmt.Errorf("certificates: stamp keys in %s (%s): %w", s.KeyDir, setting, err)
	}
	if created && log != nil {
		log.Warn("created a new stamp key for development", "dir", s.KeyDir, "kid", ring.ActiveKID())
	}
	warnExposed(s.KeyDir, log)
	return ring, nil
}

// warnExposed logs a warning for each part of the key directory that group or others
// can read (stamp.ExposedFiles).
func warnExposed(dir string, log *slog.Logger) {
	exposed, err := stamp.ExposedFiles(dir)
	if err != nil || log == nil {
		return
	}
	for _, what := range exposed {
		log.Warn("stamp private key readable by group or others: make the key directory 0700 and its *.key.pem files 0600",
			"path", what)
	}
}

// rateLimit limits verification requests per client IP, in this process's memory:
// with several replicas behind a load balancer each one counts on its own.
func (m *Module) rateLimit() echo.MiddlewareFunc {
	n := m.settings.VerifyRatePerMinute // installation-wide: one limiter per process
	if n < 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	st := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(float64(n) / 60), Burst: n, ExpiresIn: 3 * time.Minute,
	})
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store:               st,
		IdentifierExtractor: func(c echo.Context) (string, error) { return c.RealIP(), nil },
		ErrorHandler: func(c echo.Context, err error) error {
			return web.NewError(http.StatusForbidden, "errors.403.text")
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			c.Response().Header().Set("Retry-After", "60")
			return web.NewError(http.StatusTooManyRequests, "errors.429.text")
		},
	})
}

// StaffNav implements services.StaffNav.
func (*Module) StaffNav() []web.MenuItem {
	return []web.MenuItem{{Label: "certificati.staff.nav", Href: "/backoffice/certificati/", Roles: []string{RoleOfficer}}}
}

// verifyScript serves the small script that checks the QR code's signed payload in
// the browser (templates/certificati/verify.js). The page works without it.
func (m *Module) verifyScript(c echo.Context) error {
	b, err := fs.ReadFile(templates.FS, "certificati/verify.js")
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", b)
}

// publicKeys serves the public stamp keys as a JWKS document, for offline checks.
func (m *Module) publicKeys(c echo.Context) error {
	ring, err := m.ringOf(enteOf(c.Request().Context()))
	if err != nil {
		return err
	}
	b, err := ring.PublicJWKS()
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	c.Response().Header().Set("Access-Control-Allow-Origin", "*")
	return c.Blob(http.StatusOK, "application/json", b)
}

// ringOf returns the stamp key ring of ente id: every comune signs with its own keys.
// The configured comune's (comune.id, or "" outside a portal) are in key_dir, as before
// several comuni; another ente's in key_dir/enti/<id>, created in development and
// provisioned in production with `sportello certificati keys init --ente <id>`.
func (m *Module) ringOf(id string) (*stamp.KeyRing, error) {
	if id == "" || id == m.cfg.Comune.ID {
		return m.ring, nil
	}
	if r, ok := m.rings.Load(id); ok {
		return r.(*stamp.KeyRing), nil
	}
	s := m.settings // key_dir is installation-wide
	s.KeyDir = EnteKeyDir(s.KeyDir, id)
	ring, err := LoadKeys(m.cfg, s, m.log)
	if err != nil {
		return nil, err
	}
	r, _ := m.rings.LoadOrStore(id, ring)
	return r.(*stamp.KeyRing), nil
}

// EnteKeyDir is the directory of ente id's stamp keys under the module's key_dir.
func EnteKeyDir(keyDir, id string) string { return filepath.Join(keyDir, "enti", id) }

// enteOf is the id of ctx's ente ("" outside a request).
func enteOf(ctx context.Context) string {
	if e := enti.FromContext(ctx); e != nil {
		return e.ID
	}
	return ""
}
