package web

import "github.com/labstack/echo/v4"

// Routes registers routes under a path prefix with guard middleware attached to every
// route. It replaces echo.Group for module mounts: a Group with middleware registers
// catch-all routes for its prefix, which would shadow the platform's own pages at the
// same prefix (the service sheet at /servizi/<id> shares its prefix with the module's
// citizen routes).
type Routes struct {
	g  *echo.Group
	mw []echo.MiddlewareFunc
}

// NewRoutes returns routes under prefix guarded by mw.
func NewRoutes(e *echo.Echo, prefix string, mw ...echo.MiddlewareFunc) *Routes {
	return &Routes{g: e.Group(prefix), mw: mw}
}

func (r *Routes) with(m []echo.MiddlewareFunc) []echo.MiddlewareFunc {
	out := make([]echo.MiddlewareFunc, 0, len(r.mw)+len(m))
	return append(append(out, r.mw...), m...)
}

// GET registers a GET route.
func (r *Routes) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.g.GET(path, h, r.with(m)...)
}

// POST registers a POST route.
func (r *Routes) POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.g.POST(path, h, r.with(m)...)
}

// PUT registers a PUT route.
func (r *Routes) PUT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.g.PUT(path, h, r.with(m)...)
}

// DELETE registers a DELETE route.
func (r *Routes) DELETE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.g.DELETE(path, h, r.with(m)...)
}

// Group returns routes under a sub-prefix with more guards added.
func (r *Routes) Group(prefix string, m ...echo.MiddlewareFunc) *Routes {
	return &Routes{g: r.g.Group(prefix), mw: r.with(m)}
}
