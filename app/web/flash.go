package web

import (
	"strings"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"
)

// Flash is a one-time message shown on the next page: Kind is success, info, warning
// or danger; Key is a message key.
type Flash struct {
	Kind string
	Key  string
}

const (
	ctxSessions = "web.sessions"
	flashKey    = "flash"
)

// Sessions returns the session manager serving this request (nil on paths that carry
// no session, such as static files).
func Sessions(c echo.Context) *scs.SessionManager {
	sm, _ := c.Get(ctxSessions).(*scs.SessionManager)
	return sm
}

// AddFlash queues a message for the next page the visitor sees.
func AddFlash(c echo.Context, kind, key string) {
	sm := Sessions(c)
	if sm == nil {
		return
	}
	ctx := c.Request().Context()
	prev := sm.GetString(ctx, flashKey)
	entry := kind + "|" + key
	if prev != "" {
		entry = prev + "\n" + entry
	}
	sm.Put(ctx, flashKey, entry)
}

func popFlashes(c echo.Context) []Flash {
	sm := Sessions(c)
	if sm == nil {
		return nil
	}
	raw := sm.PopString(c.Request().Context(), flashKey)
	if raw == "" {
		return nil
	}
	var out []Flash
	for line := range strings.SplitSeq(raw, "\n") {
		if k, v, ok := strings.Cut(line, "|"); ok {
			out = append(out, Flash{Kind: k, Key: v})
		}
	}
	return out
}
