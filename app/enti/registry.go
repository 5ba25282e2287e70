package enti

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// RefreshInterval is how often a process re-reads the enti table, so that a change
// made by `sportello enti` on another process reaches every replica.
const RefreshInterval = 30 * time.Second

// snapshot is an immutable view of the enti: lookups never take a lock longer than a
// pointer read, and cost the same with one ente or a thousand (two map lookups).
type snapshot struct {
	byID   map[string]*Ente
	byHost map[string]*Ente
	// fallback serves every host when the deployment has one ente and no host names.
	fallback *Ente
	loaded   time.Time
}

// Registry resolves host names to enti from a snapshot of the enti table, refreshed
// at RefreshInterval.
type Registry struct {
	store *Store
	now   func() time.Time
	// max caps the enti a snapshot may hold (0: no cap); see Options.
	max int

	mu      sync.Mutex // serializes reloads
	current *snapshot
	snapMu  sync.RWMutex
}

// Options configure a Registry.
type Options struct {
	// MaxEnti refuses a snapshot with more enti than this (0: no cap). Load returns
	// ErrTooMany and a running process keeps serving its previous snapshot, so that an
	// ente added by another process never changes what this one serves unannounced.
	MaxEnti int
	// Now replaces the clock (tests).
	Now func() time.Time
}

// ErrTooMany is returned by Load when the table holds more enti than Options.MaxEnti.
var ErrTooMany = errors.New("enti: more enti than this installation serves")

// NewRegistry returns a registry over store. Call Load before serving.
func NewRegistry(store *Store, o Options) *Registry {
	r := &Registry{store: store, now: o.Now, max: o.MaxEnti}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// Load reads the enti table into a new snapshot.
func (r *Registry) Load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	list, err := r.store.List(ctx)
	if err != nil {
		return err
	}
	if r.max > 0 && len(list) > r.max {
		ids := make([]string, len(list))
		for i, e := range list {
			ids[i] = e.ID
		}
		return fmt.Errorf("%w: %d (%s), at most %d", ErrTooMany, len(list), strings.Join(ids, ", "), r.max)
	}
	s := &snapshot{byID: map[string]*Ente{}, byHost: map[string]*Ente{}, loaded: r.now()}
	hosts := 0
	for _, e := range list {
		s.byID[e.ID] = e
		for _, h := range e.Hosts {
			s.byHost[h] = e
			hosts++
		}
	}
	if len(list) == 1 && hosts == 0 {
		s.fallback = list[0]
	}
	r.snapMu.Lock()
	r.current = s
	r.snapMu.Unlock()
	return nil
}

func (r *Registry) snap(ctx context.Context) *snapshot {
	r.snapMu.RLock()
	s := r.current
	r.snapMu.RUnlock()
	if s == nil || r.now().Sub(s.loaded) > RefreshInterval {
		// A failed reload keeps serving the last good snapshot until the next
		// interval.
		if r.mu.TryLock() {
			r.mu.Unlock()
			if err := r.Load(ctx); err != nil && s != nil {
				r.snapMu.Lock()
				retry := *s
				retry.loaded = r.now()
				r.current = &retry
				r.snapMu.Unlock()
			}
		}
		r.snapMu.RLock()
		s = r.current
		r.snapMu.RUnlock()
	}
	if s == nil {
		return &snapshot{}
	}
	return s
}

// Resolve returns the ente that serves host (a Host header, port allowed), or false.
func (r *Registry) Resolve(ctx context.Context, host string) (*Ente, bool) {
	s := r.snap(ctx)
	if e, ok := s.byHost[NormalizeHost(host)]; ok {
		return e, true
	}
	if s.fallback != nil {
		return s.fallback, true
	}
	return nil, false
}

// Get returns the ente with id from the snapshot.
func (r *Registry) Get(ctx context.Context, id string) (*Ente, bool) {
	e, ok := r.snap(ctx).byID[id]
	return e, ok
}

// All returns every ente in the snapshot (unordered).
func (r *Registry) All(ctx context.Context) []*Ente {
	s := r.snap(ctx)
	out := make([]*Ente, 0, len(s.byID))
	for _, e := range s.byID {
		out = append(out, e)
	}
	return out
}

// Members returns the comuni a union hosts (its own id included), for a Union
// user's filter; for a comune it returns just the comune.
func (r *Registry) Members(ctx context.Context, id string) []string {
	s := r.snap(ctx)
	out := []string{id}
	for _, e := range s.byID {
		if e.ParentID == id {
			out = append(out, e.ID)
		}
	}
	return out
}

type ctxKey struct{}

// WithEnte returns ctx carrying the request's ente.
func WithEnte(ctx context.Context, e *Ente) context.Context {
	return context.WithValue(ctx, ctxKey{}, e)
}

// FromContext returns the request's ente, or nil outside a request.
func FromContext(ctx context.Context) *Ente {
	e, _ := ctx.Value(ctxKey{}).(*Ente)
	return e
}

// Current returns the ente of an Echo request, or nil.
func Current(c echo.Context) *Ente { return FromContext(c.Request().Context()) }

// Middleware resolves the request's ente from its host name and puts it in the
// request's context; an unknown host gets notFound (a plain page that names no comune)
// and nothing else runs. Health and metrics endpoints (skip) answer on any host.
func (r *Registry) Middleware(notFound http.Handler, skip func(path string) bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if skip != nil && skip(req.URL.Path) {
				return next(c)
			}
			e, ok := r.Resolve(req.Context(), req.Host)
			if !ok {
				notFound.ServeHTTP(c.Response(), req)
				return nil
			}
			c.SetRequest(req.WithContext(WithEnte(req.Context(), e)))
			return next(c)
		}
	}
}
