// Package app wires the portal together once: database, migrations, renderer, sessions,
// the HTTP server and its middleware, the platform pages and every enabled service
// module. cmd/sportello calls New and then Serve; tests call New and use Handler.
//
// Nothing under app/ but this package imports a service module.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/accounts/desk"
	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/auth"
	"github.com/comuni-italiani/sportello/app/backoffice"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/feedback"
	"github.com/comuni-italiani/sportello/app/idp"
	"github.com/comuni-italiani/sportello/app/jobs"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/static"
	"github.com/comuni-italiani/sportello/templates"
)

// Options configure New.
type Options struct {
	Config config.Config
	Log    *slog.Logger
	// Modules replaces the built-in module list (tests); nil means Builtin().
	Modules []services.Module
	// Migrate applies pending migrations at start. The embedded database always does.
	Migrate bool
	// DB reuses an open database instead of opening one from the configuration (tests).
	DB *gorm.DB
	// Static replaces the embedded static files (tests).
	Static fs.FS
	// Version is shown by /healthz.
	Version string
	// RegisterPortalClient adds this process's base URL to the portal client's
	// redirect URIs at the embedded provider (idp.EnsurePortalClient). Only a process
	// that serves sets it (`sportello serve`, test servers): a command that builds the
	// app (demo, demo codes...) must not change registrations as a side effect.
	RegisterPortalClient bool
	// FastCrypto makes password and client-secret hashing cheap. Tests only: it
	// weakens stored hashes.
	FastCrypto bool
	// Jobs tunes the scheduled-job runner (tests set its clock); zero values take the
	// defaults.
	Jobs jobs.Options
}

// fastHash are argon2id parameters for tests (FastCrypto).
var fastHash = accounts.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// App is one running portal process.
type App struct {
	cfg        config.Config
	log        *slog.Logger
	db         *gorm.DB
	ownDB      bool
	echo       *echo.Echo
	render     *web.Renderer
	validate   *web.Validator
	modules    []services.Module
	migrations []*store.Migration
	staffNav   []web.MenuItem
	roles      roles.List
	jobs       []jobs.Job
	runner     *jobs.Runner
	registry   *prometheus.Registry
	version    string
	outbox     *notify.Outbox
	sender     notify.Sender
	accounts   *accounts.Service
	idp        *idp.Provider
	fast       bool
	// registerClient: Options.RegisterPortalClient.
	registerClient bool
	active         activeCache
	access         accessCache
	rp             *auth.RP
	enti           *enti.Registry
	guard          *enti.Guard
	cases          *cases.Service
	box            *secretbox.Box
	rings          sync.Map // ente id -> *stamp.KeyRing (enteStampRing)
	payments       *payments.Service
	devPay         *payments.Dev

	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
}

// PlatformMigrations are the platform's own tables, in order.
func PlatformMigrations() []*store.Migration {
	var m []*store.Migration
	m = append(m, enti.Migrations()...)
	m = append(m, web.Migrations()...)
	m = append(m, audit.Migrations()...)
	m = append(m, notify.Migrations()...)
	m = append(m, accounts.Migrations()...)
	m = append(m, idp.Migrations()...)
	m = append(m, anagrafe.Migrations()...)
	m = append(m, feedback.Migrations()...)
	m = append(m, cases.Migrations()...)
	m = append(m, jobs.Migrations()...)
	m = append(m, payments.Migrations()...)
	m = append(m, demoMigrations()...)
	// Last, when every platform table exists: ente_id first in their keys (Citus).
	m = append(m, &store.Migration{ID: "enti/0004_citus_keys", Migrate: func(tx *gorm.DB) error {
		return enti.KeyWithEnte(tx, platformEnteTables()...)
	}})
	return m
}

// Migrations returns every migration of the platform and of modules, in order.
func Migrations(modules []services.Module) []*store.Migration {
	m := PlatformMigrations()
	for _, mod := range modules {
		if mg, ok := mod.(services.Migrator); ok {
			m = append(m, mg.Migrations()...)
		}
	}
	return m
}

// Roles assembles the portal's staff roles: the platform's and those modules declare
// (services.Roles). It refuses a role declared twice or malformed.
func Roles(modules []services.Module) (roles.List, error) {
	var declared [][]roles.Def
	for _, m := range modules {
		if r, ok := m.(services.Roles); ok {
			declared = append(declared, r.Roles())
		}
	}
	l, err := roles.Assemble(roles.Platform(), declared...)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return l, nil
}

// EnabledModules filters list by the configuration's modules.disabled.
func EnabledModules(cfg config.Config, list []services.Module) []services.Module {
	var out []services.Module
	for _, m := range list {
		if cfg.ModuleEnabled(m.Info().ID) {
			out = append(out, m)
		}
	}
	return out
}

// New builds the portal: it opens (or reuses) the database, checks or applies
// migrations, parses templates and messages, and mounts the platform pages and modules.
func New(ctx context.Context, o Options) (*App, error) {
	cfg := o.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	list := o.Modules
	if list == nil {
		list = Builtin()
	}
	a := &App{cfg: cfg, log: log, modules: EnabledModules(cfg, list), version: o.Version, fast: o.FastCrypto,
		registerClient: o.RegisterPortalClient}
	if err := a.checkModules(); err != nil {
		return nil, err
	}
	assets, err := a.moduleAssets()
	if err != nil {
		return nil, err
	}
	if a.roles, err = Roles(a.modules); err != nil {
		return nil, err
	}
	a.migrations = Migrations(a.modules)

	a.db = o.DB
	if a.db == nil {
		db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL, DataDir: cfg.DataDir,
			MaxOpenConns: cfg.Database.MaxOpenConns, Logger: log})
		if err != nil {
			return nil, err
		}
		a.db, a.ownDB = db, true
	}
	fail := func(err error) (*App, error) {
		a.Close()
		return nil, err
	}
	if cfg.Embedded() || o.Migrate || cfg.Database.AutoMigrate {
		if err := store.Migrate(ctx, a.db, a.migrations); err != nil {
			return fail(err)
		}
	} else if err := store.CheckCurrent(ctx, a.db, a.migrations); err != nil {
		if errors.Is(err, store.ErrSchemaBehind) {
			return fail(fmt.Errorf("%w: run `sportello migrate`, or start with `sportello serve --migrate`", err))
		}
		return fail(err)
	}

	if err := a.loadEnti(ctx); err != nil {
		return fail(err)
	}
	if a.box, err = a.systemSecrets(); err != nil {
		return fail(err)
	}
	// Refuse a database sealed under a secret that is not configured, before anything
	// reads or creates keys; seal what older versions wrote in clear (a start-up step,
	// not a migration: migrations do not hold the secret, see docs/ARCHITECTURE.md).
	if err := secretbox.Prepare(ctx, a.db, a.box, SealedColumns()); err != nil {
		return fail(fmt.Errorf("app: %w", err))
	}

	i18n, err := web.LoadI18n(templates.FS, "locales", assets...)
	if err != nil {
		return fail(err)
	}
	i18n.SetShared(map[string]string{"Access": accessPhrase(cfg.Auth)})
	site := web.Site{Comune: cfg.Comune, BaseURL: strings.TrimSuffix(cfg.HTTP.BaseURL, "/"), Dev: !cfg.Production()}
	for _, m := range a.modules {
		site.Modules = append(site.Modules, m.Info().ID)
	}
	a.render, err = web.NewRenderer(templates.FS, i18n, site, assets...)
	if err != nil {
		return fail(err)
	}
	a.render.SetComuneFunc(func(ctx context.Context) (config.Comune, bool) {
		if e := enti.FromContext(ctx); e != nil {
			c := e.Comune()
			// The institutional site's links and the VAT number live in the
			// configuration only (the enti table does not hold them).
			for _, conf := range cfg.AllEnti() {
				if conf.ID == c.ID {
					c.VATNumber, c.Links = conf.VATNumber, conf.Links
				}
			}
			return c, true
		}
		return config.Comune{}, false
	})
	a.validate = web.NewValidator()
	if cfg.Mail.SMTPHost != "" {
		sender, err := notify.NewSMTPSender(notify.SMTPConfig{Host: cfg.Mail.SMTPHost, Port: cfg.Mail.SMTPPort,
			Username: cfg.Mail.Username, Password: cfg.Mail.Password, From: cfg.Mail.From, TLS: cfg.Mail.TLS})
		if err != nil {
			return fail(fmt.Errorf("config: mail: %w", err))
		}
		a.sender = sender
		a.outbox = notify.NewOutbox(sender)
	} else {
		// No SMTP: mails are held in the database and shown in the staff mailbox.
		a.outbox = notify.NewOutbox(nil)
	}
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	staticFS := o.Static
	if staticFS == nil {
		staticFS = static.FS
	}
	secure := strings.HasPrefix(cfg.HTTP.BaseURL, "https://")
	var formOrigins []string
	for _, p := range cfg.Auth.Providers {
		if u, err := url.Parse(p.Issuer); err == nil {
			// Logout posts a form and then redirects to the provider's end_session
			// endpoint, which form-action must allow.
			formOrigins = append(formOrigins, u.Scheme+"://"+u.Host)
		}
	}
	for _, b := range a.portalBases(ctx) {
		// The embedded provider's login (a form on the base URL's host) ends with a
		// redirect to the callback on the host where the person started: another
		// ente's portal, which form-action must allow (browsers check redirects of a
		// form's submission too). Enti added while running need a restart for this.
		if u, err := url.Parse(b); err == nil && !slices.Contains(formOrigins, u.Scheme+"://"+u.Host) {
			formOrigins = append(formOrigins, u.Scheme+"://"+u.Host)
		}
	}
	sessions := web.NewSessions(a.db, cfg.HTTP.SessionLifetime, cfg.HTTP.SessionIdle, secure)
	a.echo = web.New(web.Options{
		Log: log, Renderer: a.render, Sessions: sessions, BodyLimit: cfg.HTTP.BodyLimit,
		Secure: secure, TrustProxy: cfg.HTTP.TrustProxy, Metrics: a.registry, Static: staticFS,
		CSRFExempt: csrfExempt, FormActionOrigins: formOrigins, OnSecurityEvent: a.securityEvent,
		Tenant:      a.enti.Middleware(http.HandlerFunc(unknownHost), anyHost),
		PublicPaths: idp.PublicPaths,
	})
	accOpts := accounts.Options{BaseURL: site.BaseURL, Issuer: cfg.Comune.Name, Log: log, Outbox: a.outbox, I18n: i18n, Roles: a.roles, Box: a.box}
	if a.fast {
		accOpts.Hash = fastHash
	}
	a.accounts = accounts.New(a.db, accOpts)
	if err := a.refuseDemoInProduction(ctx); err != nil {
		return fail(err)
	}
	a.routes()
	if err := a.mountIdentity(ctx); err != nil {
		return fail(err)
	}
	a.mountPlatform()
	if err := a.newPayments(); err != nil {
		return fail(err)
	}
	if err := a.newCases(); err != nil {
		return fail(err)
	}
	if err := a.mountModules(); err != nil {
		return fail(err)
	}
	a.render.SetMenu(a.headerMenu())
	if err := a.collectJobs(o.Jobs); err != nil {
		return fail(err)
	}
	return a, nil
}

// collectJobs gathers the platform's jobs and the modules' (services.Jobs) and builds
// the runner that startBackground starts. A module's job names must start with
// "<module id>/".
func (a *App) collectJobs(opts jobs.Options) error {
	a.jobs = a.platformJobs()
	a.jobs = append(a.jobs, a.paymentJobs()...)
	a.jobs = append(a.jobs, a.cases.Jobs()...) // deadline escalation of cases
	for _, mod := range a.modules {
		j, ok := mod.(services.Jobs)
		if !ok {
			continue
		}
		id := mod.Info().ID
		for _, job := range j.Jobs() {
			if !strings.HasPrefix(job.Name, id+"/") {
				return fmt.Errorf("app: module %s: job %q must be named %s/<name>", id, job.Name, id)
			}
			a.jobs = append(a.jobs, job)
		}
	}
	if opts.Logger == nil {
		opts.Logger = a.log
	}
	r, err := jobs.NewRunner(a.db, a.jobs, opts)
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	a.runner = r
	return nil
}

// platformJobs are the platform's own scheduled jobs.
func (a *App) platformJobs() []jobs.Job {
	return []jobs.Job{{
		Name:     "platform/expired-sessions",
		Schedule: jobs.Every(10 * time.Minute),
		Run: func(ctx context.Context, _ time.Time) error {
			st := &web.SessionStore{DB: a.db}
			n, err := st.DeleteExpired(ctx)
			if err != nil {
				return fmt.Errorf("sessions: %w", err)
			}
			if n > 0 {
				a.log.Info("expired sessions removed", "count", n)
			}
			if a.idp != nil {
				n, err := a.idp.DeleteExpired(ctx)
				if err != nil {
					return fmt.Errorf("provider tokens: %w", err)
				}
				if n > 0 {
					a.log.Info("expired tokens removed", "count", n)
				}
			}
			return nil
		},
	}}
}

// JobRunner is the runner of the platform's and the modules' scheduled jobs; Serve
// starts it (tests call RunOnce).
func (a *App) JobRunner() *jobs.Runner { return a.runner }

// Roles are the portal's staff roles: the platform's and the enabled modules'.
func (a *App) Roles() roles.List { return a.roles }

// moduleAssets returns the file systems of modules that carry their own templates and
// messages (services.Assets), refusing any file not named after the module:
// <id>/*.html, locales/<lang>/<id>.yaml.
func (a *App) moduleAssets() ([]fs.FS, error) {
	var out []fs.FS
	for _, m := range a.modules {
		as, ok := m.(services.Assets)
		if !ok {
			continue
		}
		id := m.Info().ID
		fsys := as.Assets()
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			dir, name := path.Split(p)
			switch {
			case dir == id+"/" && path.Ext(name) == ".html":
			case strings.HasPrefix(dir, "locales/") && strings.Count(dir, "/") == 2 && name == id+".yaml":
			default:
				return fmt.Errorf("app: module %s: asset %s is not %s/*.html or locales/<lang>/%s.yaml", id, p, id, id)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, fsys)
	}
	return out, nil
}

// checkModules refuses two modules with one id, or an id that is not a URL segment.
func (a *App) checkModules() error {
	seen := map[string]bool{}
	for _, m := range a.modules {
		id := m.Info().ID
		if id == "" || strings.ContainsAny(id, "/?#% ") || seen[id] {
			return fmt.Errorf("app: module id %q is empty, repeated or not a URL segment", id)
		}
		seen[id] = true
	}
	return nil
}

func (a *App) mountModules() error {
	for _, mod := range a.modules {
		info := mod.Info()
		prefix := "/servizi/" + info.ID
		offered := a.offeredBy(info.ID)
		m := &services.Mount{
			Public:      web.NewRoutes(a.echo, prefix, offered),
			Citizen:     web.NewRoutes(a.echo, prefix, offered, a.requireCitizen),
			Staff:       web.NewRoutes(a.echo, "/backoffice/"+info.ID, offered, a.requireStaff),
			Site:        web.NewRoutes(a.echo, "", offered),
			RequireRole: a.requireRole,
			DB:          a.db,
			Store:       func(ctx context.Context) *gorm.DB { return enti.For(ctx, a.db) },
			ForEachEnte: func(ctx context.Context, fn func(context.Context) error) error {
				return a.forEachEnte(ctx, info.ID, fn)
			},
			BaseURL:  a.baseURL,
			Mail:     a.outbox,
			Render:   a.render,
			Validate: a.validate,
			Log:      a.log.With("module", info.ID),
			Config:   a.cfg,
			Settings: func(out any) error { return a.cfg.DecodeModule(info.ID, out) },
			SettingsFor: func(ctx context.Context, out any) error {
				return a.settingsFor(ctx, info.ID, out)
			},
			Cases:    a.cases,
			Payments: a.payments,
		}
		if err := mod.Mount(m); err != nil {
			return fmt.Errorf("app: mount module %s: %w", info.ID, err)
		}
		if sn, ok := mod.(services.StaffNav); ok {
			a.staffNav = append(a.staffNav, sn.StaffNav()...)
		}
	}
	stats := a.mountCases()
	titles := map[string]string{}
	for _, mod := range a.modules {
		if st, ok := mod.(services.Stats); ok {
			stats = append(stats, st)
		}
		titles[mod.Info().ID] = mod.Info().Title
	}
	backoffice.Mount(web.NewRoutes(a.echo, "/backoffice", a.requireStaff), backoffice.Deps{
		DB: a.db, Render: a.render, Log: a.log, Stats: stats, Outbox: a.outbox, RequireRole: a.requireRole, Titles: titles,
	})
	a.staffNav = append(a.staffNav, backoffice.Nav()...)
	return nil
}

func (a *App) headerMenu() []web.MenuItem {
	return []web.MenuItem{{Label: "nav.services", Href: "/servizi"}}
}

// Handler is the portal's HTTP handler.
func (a *App) Handler() http.Handler { return a.echo }

// Echo exposes the router (tests add routes to provoke errors).
func (a *App) Echo() *echo.Echo { return a.echo }

// DB is the portal's database.
func (a *App) DB() *gorm.DB { return a.db }

// mountIdentity mounts the embedded OpenID Provider (when enabled) and the relying
// party. The portal reaches its own provider over HTTP at its public address, through
// the same code path as any external provider, so that swapping in a SPID/CIE broker
// is a configuration change.
func (a *App) mountIdentity(ctx context.Context) error {
	base := strings.TrimSuffix(a.cfg.HTTP.BaseURL, "/")
	var providers []auth.ProviderConfig
	if a.cfg.Auth.Embedded {
		io := idp.Options{DB: a.db, Accounts: a.accounts, Renderer: a.render, BaseURL: base, Log: a.log.With("component", "idp"),
			Box: a.box}
		if a.fast {
			io.SecretHashCost = 4
		}
		prov, err := idp.New(ctx, io)
		if err != nil {
			return err
		}
		prov.Mount(a.echo)
		id, secret, err := prov.PortalClientSecret(ctx)
		if a.registerClient {
			// The portal is reached at each ente's host: each is a redirect URI.
			var redirects, logouts []string
			for _, b := range a.portalBases(ctx) {
				redirects, logouts = append(redirects, b+"/auth/callback"), append(logouts, b+"/auth/uscita")
			}
			id, secret, err = prov.EnsurePortalClientURIs(ctx, redirects, logouts)
		}
		if err != nil {
			return err
		}
		a.idp = prov
		providers = append(providers, auth.ProviderConfig{ID: EmbeddedProviderID, Label: "auth.login.embedded_title",
			Issuer: prov.Issuer(), ClientID: id, ClientSecret: secret,
			Scopes: []string{"openid", "profile", "email", "sportello"}, TrustRoles: true, Embedded: true})
	}
	for _, p := range a.cfg.Auth.Providers {
		pc := auth.ProviderConfig{ID: p.ID, Label: p.Label, Issuer: p.Issuer,
			ClientID: p.ClientID, ClientSecret: p.ClientSecret, Scopes: p.Scopes, FiscalClaim: p.FiscalClaim,
			TrustRoles: p.TrustRoles, Kind: p.Kind, HintParam: p.IdPHintParam}
		for _, ip := range p.IdPs {
			pc.IdPs = append(pc.IdPs, auth.IdentityProvider{ID: ip.ID, Name: ip.Name, Hint: ip.Hint})
		}
		providers = append(providers, pc)
	}
	rp, err := auth.New(auth.Options{Providers: providers, BaseURL: base, BaseURLFor: a.baseURL, Renderer: a.render, DB: a.db,
		Log: a.log.With("component", "auth")})
	if err != nil {
		return err
	}
	a.echo.Use(a.revalidate)
	rp.Mount(a.echo)
	a.rp = rp
	a.echo.GET("/area-personale", a.personalArea, a.requireCitizen)
	return nil
}

// EmbeddedProviderID names the embedded provider in login URLs (/auth/login/comune).
const EmbeddedProviderID = "comune"

// IdP is the embedded OpenID Provider, or nil when it is switched off.
func (a *App) IdP() *idp.Provider { return a.idp }

// mountPlatform mounts the platform's own staff pages: the URP credential desk and the
// staff administration.
func (a *App) mountPlatform() {
	d := desk.Deps{Accounts: a.accounts, Render: a.render, Validate: a.validate, Comune: a.cfg.Comune, Log: a.log, DB: a.db}
	desk.Mount(web.NewRoutes(a.echo, desk.DeskPath, a.requireRole(roles.URP)), d)
	desk.MountStaff(web.NewRoutes(a.echo, desk.StaffPath, a.requireRole(roles.Admin)), d)
	feedback.MountRatings(web.NewRoutes(a.echo, feedback.RatingsPath, a.requireRole(roles.URP, roles.Admin)),
		feedback.RatingsDeps{DB: a.db, Render: a.render})
	feedback.MountDisservice(web.NewRoutes(a.echo, feedback.DisservicePath),
		web.NewRoutes(a.echo, feedback.DisserviceStaffPath, a.requireRole(roles.URP)),
		feedback.DisserviceDeps{DB: a.db, Render: a.render, Outbox: a.outbox, Comune: a.cfg.Comune})
	a.staffNav = append(a.staffNav,
		web.MenuItem{Label: "accounts.desk.nav", Href: desk.DeskPath, Roles: []string{roles.URP}},
		web.MenuItem{Label: "accounts.staff.nav", Href: desk.StaffPath, Roles: []string{roles.Admin}},
		web.MenuItem{Label: "feedback.staff.nav", Href: feedback.RatingsPath, Roles: []string{roles.URP, roles.Admin}},
		web.MenuItem{Label: "disservice.staff.nav", Href: feedback.DisserviceStaffPath, Roles: []string{roles.URP}},
	)
}

// Accounts is the account service (credentials, staff).
func (a *App) Accounts() *accounts.Service { return a.accounts }

// csrfExempt are the path prefixes that are not browser forms: the OpenID Provider's
// token, revocation and userinfo endpoints are called server to server with their own
// client authentication, and the public verification API takes JSON. The development
// pagoPA stands in for pagoPA's own site and APIs, which carry no portal token.
var csrfExempt = append(slices.Clone(idp.CSRFExempt), "/api/", payments.DevPrefix+"/")

// CSRFExempt reports whether path is exempt from the CSRF check.
func (a *App) CSRFExempt(path string) bool {
	return slices.ContainsFunc(csrfExempt, func(p string) bool { return strings.HasPrefix(path, p) })
}

// Outbox is the mail outbox.
func (a *App) Outbox() *notify.Outbox { return a.outbox }

// Modules are the enabled modules, in catalogue order of the built-in list.
func (a *App) Modules() []services.Module { return slices.Clone(a.modules) }

// StaffNav is the back-office menu assembled from the modules.
func (a *App) StaffNav() []web.MenuItem { return slices.Clone(a.staffNav) }

// Serve answers HTTP on ln until ctx is cancelled, then stops accepting connections and
// lets in-flight requests finish (up to http.shutdown_timeout).
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       a.cfg.HTTP.ReadTimeout,
		WriteTimeout:      a.cfg.HTTP.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.bgCancel = cancel
	a.startBackground(bg)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("serving", "addr", ln.Addr().String(), "base_url", a.cfg.HTTP.BaseURL, "version", a.version,
		"database", string(store.DialectOf(a.db)), "modules", len(a.modules))
	select {
	case err := <-errc:
		cancel()
		a.bgWG.Wait()
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down: finishing in-flight requests", "timeout", a.cfg.HTTP.ShutdownTimeout.String())
	sctx, scancel := context.WithTimeout(context.Background(), a.cfg.HTTP.ShutdownTimeout)
	defer scancel()
	err := srv.Shutdown(sctx)
	cancel()
	a.bgWG.Wait()
	a.stopModules(sctx)
	if err != nil {
		return fmt.Errorf("app: shutdown: %w", err)
	}
	a.log.Info("stopped")
	return nil
}

// startBackground starts this process's background work: the mail worker and the
// scheduled-job runner (which, among others, removes expired sessions and tokens).
// Both are safe to run in several replicas at once; both stop when ctx is cancelled.
func (a *App) startBackground(ctx context.Context) {
	if a.sender != nil {
		w := notify.NewWorker(a.db, a.sender, notify.WorkerOptions{Logger: a.log.With("worker", "mail"),
			From: a.mailFrom})
		a.bgWG.Add(1)
		go func() {
			defer a.bgWG.Done()
			if err := w.Run(ctx); err != nil {
				a.log.Error("mail worker stopped", "err", err)
			}
		}()
	}
	a.bgWG.Add(1)
	go func() {
		defer a.bgWG.Done()
		if err := a.runner.Run(ctx); err != nil {
			a.log.Error("job runner stopped", "err", err)
		}
	}()
}

// stopModules lets every module that holds work in memory finish it (services.Stopper).
func (a *App) stopModules(ctx context.Context) {
	for _, m := range a.modules {
		if s, ok := m.(services.Stopper); ok {
			if err := s.Stop(ctx); err != nil {
				a.log.Error("module did not stop cleanly", "module", m.Info().ID, "err", err)
			}
		}
	}
}

// Close stops the modules' pending work (services.Stopper) and releases the database if
// New opened it.
func (a *App) Close() error {
	if a.bgCancel != nil {
		a.bgCancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	a.stopModules(ctx)
	cancel()
	if a.ownDB && a.db != nil {
		return store.Close(a.db)
	}
	return nil
}

// metricsHandler serves Prometheus metrics from this App's own registry.
func (a *App) metricsHandler() echo.HandlerFunc {
	// The gzip middleware compresses; promhttp must not do it a second time.
	h := promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{DisableCompression: true})
	return echo.WrapHandler(h)
}
