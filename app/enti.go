package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/feedback"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
)

// loadEnti writes the configured enti into the database, installs the scope guard and
// loads the registry that resolves hosts.
func (a *App) loadEnti(ctx context.Context) error {
	st := enti.NewStore(a.db)
	if err := enti.SyncConfig(ctx, st, a.cfg); err != nil {
		return err
	}
	a.guard = enti.NewGuard(a.enteTables()...)
	if a.db.Callback().Query().Get("enti:scope_query") == nil {
		if err := a.guard.Install(a.db); err != nil {
			return fmt.Errorf("app: install ente guard: %w", err)
		}
	} else if g, ok := installedGuards.Load(a.db.Config); ok {
		// Another App on this database (tests) installed the callbacks: they call
		// that guard, so it must know this App's tables too.
		g.(*enti.Guard).Own(a.guard.Tables()...)
		a.guard = g.(*enti.Guard)
	}
	installedGuards.LoadOrStore(a.db.Config, a.guard)
	adopt := append(a.enteTables(), accounts.Tables...)
	if n, err := enti.Adopt(ctx, a.db, adopt); err != nil {
		return fmt.Errorf("app: %w", err)
	} else if n > 0 {
		a.log.Info("rows written before several comuni given to the only ente", "rows", n)
	}
	a.enti = enti.NewRegistry(st, enti.Options{})
	if err := a.enti.Load(ctx); err != nil {
		return err
	}
	return a.checkModuleSettings(ctx)
}

// anyHost lists the paths that answer on every host name: probes and metrics are
// about the process, not about an ente.
func anyHost(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// unknownHost answers a host name that belongs to no ente: a plain page that names no
// comune, so that a mistyped or stale address never shows another ente's portal.
func unknownHost(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write([]byte(`<!doctype html>
<html lang="it"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portale non trovato</title></head>
<body><main><h1>Portale non trovato</h1>
<p>Questo indirizzo non corrisponde al portale di nessun ente servito da questa installazione. Controlli l'indirizzo che ha digitato.</p>
<h2 lang="en">Portal not found</h2>
<p lang="en">This address is not the portal of any body served by this installation. Please check the address you typed.</p>
</main></body></html>
`))
}

// Enti is the registry that resolves the request's ente (the back office and tests).
func (a *App) Enti() *enti.Registry { return a.enti }

// offeredBy returns middleware that answers 404 on the routes of module id when the
// request's ente does not offer it (enti.Ente.DisabledModules).
func (a *App) offeredBy(id string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if e := enti.Current(c); e != nil && !e.Offers(id) {
				return web.ErrNotFound
			}
			return next(c)
		}
	}
}

// forEachEnte calls fn for every ente that offers module, with ctx carrying the ente,
// and joins the errors (one ente's failure does not stop the others).
func (a *App) forEachEnte(ctx context.Context, module string, fn func(context.Context) error) error {
	var errs []error
	for _, e := range a.enti.All(ctx) {
		if !e.Offers(module) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(enti.WithEnte(ctx, e)); err != nil {
			errs = append(errs, fmt.Errorf("ente %s: %w", e.ID, err))
		}
	}
	return errors.Join(errs...)
}

// baseURL returns the absolute address of the portal of ctx's ente, without a trailing
// slash (see baseURLOf).
func (a *App) baseURL(ctx context.Context) string {
	if e := enti.FromContext(ctx); e != nil {
		return a.baseURLOf(e.ID)
	}
	return strings.TrimSuffix(a.cfg.HTTP.BaseURL, "/")
}

// baseURLOf returns the address of ente id's portal: http.base_url with the host
// replaced by the ente's first host name (scheme and port stay those of base_url),
// or http.base_url itself for an ente with no host names (a single-ente installation).
func (a *App) baseURLOf(id string) string {
	base := strings.TrimSuffix(a.cfg.HTTP.BaseURL, "/")
	e, ok := a.enti.Get(context.Background(), id)
	if !ok || len(e.Hosts) == 0 {
		return base
	}
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	if port := u.Port(); port != "" {
		u.Host = net.JoinHostPort(e.Hosts[0], port)
	} else {
		u.Host = e.Hosts[0]
	}
	return u.String()
}

// comuneOf returns ente id's name, address and contacts (the configured comune for an
// unknown id).
func (a *App) comuneOf(id string) config.Comune {
	if e, ok := a.enti.Get(context.Background(), id); ok {
		return e.Comune()
	}
	return a.cfg.Comune
}

// mailFrom is the sender of an ente's mail: its own (enti.Ente.MailFrom, "Comune di
// X <noreply@x.it>"), or "" for the configured smtp.from.
func (a *App) mailFrom(id string) string {
	if e, ok := a.enti.Get(context.Background(), id); ok {
		return e.MailFrom
	}
	return ""
}

// installedGuards remembers the guard whose callbacks are installed on a database
// (keyed by its *gorm.Config), for Apps that share one database in tests.
var installedGuards sync.Map

// enteTables lists every ente-owned table: the platform's and the modules'
// (services.EnteTables). The guard refuses unscoped statements on them.
func (a *App) enteTables() []string { return EnteTables(a.modules) }

// EnteTables lists the ente-owned tables of the platform and of modules (what the
// guard confines, and what Citus distributes by ente_id).
func EnteTables(modules []services.Module) []string {
	t := platformEnteTables()
	for _, m := range modules {
		if o, ok := m.(services.EnteTables); ok {
			t = append(t, o.EnteTables()...)
		}
	}
	return t
}

// platformEnteTables lists the platform's own ente-owned tables.
func platformEnteTables() []string {
	t := []string{"audit_events", "outbox_messages", "service_ratings", feedback.PageRatingsTable}
	t = append(t, feedback.DisserviceTables...)
	t = append(t, anagrafe.Tables...)
	return append(t, cases.Tables...)
}

// portalBases lists the addresses the portal is reached at: the base URL and each
// ente's (see baseURLOf), without repeats.
func (a *App) portalBases(ctx context.Context) []string {
	out := []string{strings.TrimSuffix(a.cfg.HTTP.BaseURL, "/")}
	for _, e := range a.enti.All(ctx) {
		if b := a.baseURLOf(e.ID); !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// settingsFor decodes module id's settings for ctx's ente into out (Mount.SettingsFor):
// the installation's, the ente's laid over them, then out's own Validate.
func (a *App) settingsFor(ctx context.Context, id string, out any) error {
	if err := a.cfg.DecodeModule(id, out); err != nil {
		return err
	}
	name := "the installation"
	if e := enti.FromContext(ctx); e != nil {
		if err := e.DecodeModule(id, out); err != nil {
			return err
		}
		name = e.ID
	}
	type validator interface{ Validate() error }
	v, ok := out.(validator)
	if !ok {
		if rv := reflect.ValueOf(out); rv.Kind() == reflect.Pointer && !rv.IsNil() {
			v, ok = rv.Elem().Interface().(validator)
		}
	}
	if ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("%w: settings of %s for %s: %v", enti.ErrSetting, id, name, err)
		}
	}
	return nil
}

// checkModuleSettings refuses, at start, settings of enti for modules the portal does
// not have (a typing error in the configuration or in `sportello enti update --set`).
func (a *App) checkModuleSettings(ctx context.Context) error {
	known := map[string]bool{}
	for _, m := range a.modules {
		known[m.Info().ID] = true
	}
	for _, e := range a.enti.All(ctx) {
		for id := range e.ModuleSettings {
			if !known[id] {
				return fmt.Errorf("%w: ente %s has settings of module %q, which this portal does not have", enti.ErrSetting, e.ID, id)
			}
		}
	}
	return nil
}

// EnteTables lists the ente-owned tables the store's guard confines (the platform's
// and the modules'), sorted.
func (a *App) EnteTables() []string { return a.guard.Tables() }
