package app

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/auth"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/web"
)

// accountRecheck is how long a "still active" answer is trusted before the account
// is looked up again: a block at the desk ends open sessions within this time.
const accountRecheck = 30 * time.Second

// activeCache remembers, per account, whether it was active at a recent check.
type activeCache struct {
	mu sync.Mutex
	m  map[string]time.Time // account key -> when it was last seen active
}

// revalidate ends the portal session of a person whose account at the embedded
// provider has been blocked or deactivated since they logged in. Sessions from
// external providers are left to those providers.
func (a *App) revalidate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		v := web.CurrentViewer(c)
		if v == nil || a.idp == nil || auth.ProviderOf(c) != EmbeddedProviderID {
			return next(c)
		}
		active, err := a.accountActive(c.Request().Context(), v)
		if err != nil {
			return err
		}
		if active {
			return next(c)
		}
		a.securityEvent(c, "security.session_ended", map[string]any{"reason": "account not active", "path": c.Request().URL.Path})
		if err := web.Logout(c); err != nil {
			return err
		}
		if c.Request().Method != http.MethodGet {
			return web.ErrForbidden
		}
		return c.Redirect(http.StatusSeeOther, "/auth/login")
	}
}

func (a *App) accountActive(ctx context.Context, v *web.Viewer) (bool, error) {
	key := v.Kind + ":" + v.ID + "@" + v.Ente
	a.active.mu.Lock()
	seen, ok := a.active.m[key]
	a.active.mu.Unlock()
	if ok && time.Since(seen) < accountRecheck {
		return true, nil
	}
	var acc *accounts.Account
	var err error
	if v.Kind == "staff" {
		acc, err = a.accounts.ByUsername(ctx, v.ID)
	} else {
		acc, err = a.accounts.ByFiscalCode(ctx, v.FiscalCode)
	}
	if errors.Is(err, accounts.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if acc.Status != accounts.StatusActive {
		return false, nil
	}
	if v.Kind == "staff" && !a.staffServes(ctx, acc) {
		// Staff work in their own ente's back office, and a union's staff in its
		// member comuni' too; never in another ente's.
		return false, nil
	}
	a.active.mu.Lock()
	if a.active.m == nil || len(a.active.m) > 100000 {
		a.active.m = map[string]time.Time{}
	}
	a.active.m[key] = time.Now()
	a.active.mu.Unlock()
	return true, nil
}

// staffServes reports whether the staff account acc may work on the request's ente:
// its home ente, or a comune of the union that is its home.
func (a *App) staffServes(ctx context.Context, acc *accounts.Account) bool {
	e := enti.FromContext(ctx)
	if e == nil || acc.EnteID == e.ID {
		return true
	}
	return e.ParentID != "" && acc.EnteID == e.ParentID
}
