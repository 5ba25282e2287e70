package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/feedback"
	"github.com/comuni-italiani/sportello/app/web"
)

// maxEnti is how many enti one installation may serve today. The enti table, host
// resolution and the store's scope guard exist, but the register, accounts and
// certificates are not yet separated by ente, so a second ente would see the first
// one's data: the portal refuses to serve it rather than leak it.
const maxEnti = 1

// loadEnti writes the configured enti into the database, installs the scope guard and
// loads the registry that resolves hosts.
func (a *App) loadEnti(ctx context.Context) error {
	st := enti.NewStore(a.db)
	if err := enti.SyncConfig(ctx, st, a.cfg); err != nil {
		return err
	}
	// The platform's own ente-owned tables; modules add theirs (services.EnteTables).
	a.guard = enti.NewGuard(feedback.PageRatingsTable)
	if a.db.Callback().Query().Get("enti:scope_query") == nil {
		if err := a.guard.Install(a.db); err != nil {
			return fmt.Errorf("app: install ente guard: %w", err)
		}
	}
	a.enti = enti.NewRegistry(st, enti.Options{MaxEnti: maxEnti})
	if err := a.enti.Load(ctx); err != nil {
		if errors.Is(err, enti.ErrTooMany) {
			return fmt.Errorf("%w: this version serves one ente per installation; the separation of each "+
				"ente's register, accounts and certificates is not built yet (remove the others from `enti` "+
				"in the configuration, or run one installation per ente)", err)
		}
		return err
	}
	return nil
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
// slash. Today every ente is served at http.base_url.
func (a *App) baseURL(ctx context.Context) string {
	return strings.TrimSuffix(a.cfg.HTTP.BaseURL, "/")
}
