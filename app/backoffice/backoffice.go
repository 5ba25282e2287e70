// Package backoffice is the staff shell: the dashboard with every module's figures,
// the audit log viewer, the development mailbox and the scheduled jobs' state. Module pages live under
// /backoffice/<module>; this package owns /backoffice itself and the platform's pages.
// The app mounts it behind the staff guard, which also supplies the menu assembled
// from the modules' StaffNav entries.
package backoffice

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/feedback"
	"github.com/comuni-italiani/sportello/app/jobs"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// Deps are what the shell needs.
type Deps struct {
	DB     *gorm.DB
	Render *web.Renderer
	Log    *slog.Logger
	Stats  []services.Stats
	Outbox *notify.Outbox
	// Titles maps module ids to their title message keys.
	Titles map[string]string
	// RequireRole is the app's role guard.
	RequireRole func(roles ...string) echo.MiddlewareFunc
}

// Shell serves the back-office pages.
type Shell struct{ d Deps }

// Mount registers /backoffice, /backoffice/audit and /backoffice/posta on r (already
// guarded for staff).
func Mount(r *web.Routes, d Deps) *Shell {
	s := &Shell{d: d}
	r.GET("", s.dashboard)
	r.GET("/", s.dashboard)
	admin := r.Group("", d.RequireRole(roles.Admin))
	admin.GET("/audit", s.audit)
	admin.GET("/posta", s.mailbox)
	admin.GET("/posta/:id", s.mail)
	admin.GET("/lavori", s.jobs)
	return s
}

// Nav is the shell's own entries in the back-office menu.
func Nav() []web.MenuItem {
	return []web.MenuItem{
		{Label: "backoffice.audit.nav", Href: "/backoffice/audit", Roles: []string{roles.Admin}},
		{Label: "backoffice.mail.nav", Href: "/backoffice/posta", Roles: []string{roles.Admin}},
		{Label: "backoffice.jobs.nav", Href: "/backoffice/lavori", Roles: []string{roles.Admin}},
	}
}

func (s *Shell) dashboard(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	var stats []services.Stat
	v := web.CurrentViewer(c)
	for _, m := range s.d.Stats {
		st, err := m.Stats(ctx)
		if err != nil {
			// One module's failing figure must not take the dashboard down.
			s.d.Log.Warn("module stats failed", "err", err)
			continue
		}
		for _, x := range st {
			if len(x.Roles) == 0 || slices.ContainsFunc(x.Roles, v.HasRole) {
				stats = append(stats, x)
			}
		}
	}
	if counts, err := notify.Stats(ctx, s.d.DB); err == nil && v.HasRole(roles.Admin) {
		stats = append(stats,
			services.Stat{Label: "backoffice.mail.pending", Value: counts[notify.StatusPending] + counts[notify.StatusSending], Href: "/backoffice/posta?status=pending"},
			services.Stat{Label: "backoffice.mail.failed", Value: counts[notify.StatusFailed], Href: "/backoffice/posta?status=failed"})
		if s.d.Outbox != nil && s.d.Outbox.Holding() {
			stats = append(stats, services.Stat{Label: "backoffice.mail.held", Value: counts[notify.StatusHeld], Href: "/backoffice/posta?status=held"})
		}
	}
	var ratings []feedback.Summary
	if v.HasRole(roles.Admin) {
		if r, err := feedback.Summaries(ctx, s.d.DB); err == nil {
			ratings = r
		}
	}
	return s.d.Render.Render(c, http.StatusOK, "backoffice/dashboard.html", map[string]any{"Stats": stats, "Ratings": ratings, "Titles": s.d.Titles})
}

// AuditPage is the data of the audit viewer.
type AuditPage struct {
	Filter AuditForm
	Events []audit.Event
	Total  int64
	// Pager is the page shown and the links to the others (nil when the filter has
	// errors and nothing is listed).
	Pager  *web.Pager
	Errors web.FormErrors
	// Comuni are the enti the log spans (a union's administrator on the union's host:
	// the union and the member comuni where they hold the administrator role), with
	// Comune the one chosen; empty for one ente's log.
	Comuni []enti.SpanEnte
	Comune string
}

// Spanning says the log shows the events of several enti (a "Comune" column).
func (p AuditPage) Spanning() bool { return len(p.Comuni) > 1 }

// ComuniNames are the names of the log's enti.
func (p AuditPage) ComuniNames() []string {
	out := make([]string, len(p.Comuni))
	for i, e := range p.Comuni {
		out[i] = e.Name
	}
	return out
}

// EnteName is the name of ente id among the log's enti.
func (p AuditPage) EnteName(id string) string {
	for _, e := range p.Comuni {
		if e.ID == id {
			return e.Name
		}
	}
	return id
}

// AuditForm is the viewer's filter as typed.
type AuditForm struct {
	Actor, Subject, Action, From, To string
}

// auditPageSize and mailPageSize are how many events and messages a page of the
// audit log and of the mailbox shows.
const (
	auditPageSize = 50
	mailPageSize  = 50
)

func (s *Shell) audit(c echo.Context) error {
	var form AuditForm
	for _, f := range []struct {
		name string
		dst  *string
	}{{"actor", &form.Actor}, {"subject", &form.Subject}, {"action", &form.Action}, {"from", &form.From}, {"to", &form.To}} {
		v, err := web.SearchParam(c, f.name)
		if err != nil {
			return err
		}
		*f.dst = v
	}
	form.Subject = strings.ToUpper(form.Subject)
	errs := web.FormErrors{}
	f := audit.Filter{ActorID: form.Actor, SubjectCF: form.Subject, Action: form.Action, Limit: auditPageSize}
	if form.From != "" {
		t, err := time.ParseInLocation("2006-01-02", form.From, web.Rome)
		if err != nil {
			errs.Add("from", "validation.date")
		}
		f.From = t
	}
	if form.To != "" {
		t, err := time.ParseInLocation("2006-01-02", form.To, web.Rome)
		if err != nil {
			errs.Add("to", "validation.date")
		}
		f.To = t.AddDate(0, 0, 1) // the whole "to" day
	}
	page, err := web.PageParam(c, "pagina")
	if err != nil {
		return err
	}
	f.Offset = (page - 1) * auditPageSize
	data := AuditPage{Filter: form, Errors: errs}
	db := s.d.DB
	if span := enti.SpanFrom(c.Request().Context()).Holding(roles.Admin, roles.Admin); len(span) > 1 {
		// A union's administrator: the log of every ente where they are one, through
		// the store's handle confined to those enti.
		data.Comuni = span
		ids := span.IDs()
		if want := c.QueryParam("comune"); want != "" {
			if _, ok := span.Get(want); !ok {
				e := web.AuditEntry(c, "security.access_denied")
				e.Outcome, e.Details = audit.Denied, map[string]any{"path": c.Request().URL.Path, "comune": want}
				if err := audit.Record(c.Request().Context(), s.d.DB, e); err != nil {
					return err
				}
				return web.ErrNotFound
			}
			ids, data.Comune = []string{want}, want
		}
		db = enti.ScopedSet(s.d.DB, ids)
	}
	status := http.StatusOK
	if errs.Any() {
		status = http.StatusUnprocessableEntity
	} else {
		evs, total, err := audit.List(c.Request().Context(), db, f)
		if err != nil {
			return err
		}
		data.Events, data.Total = evs, total
		if data.Pager, err = web.NewPager(page, auditPageSize, total, func(n int) string { return auditURL(form, data.Comune, n) }); err != nil {
			return err
		}
	}
	return s.d.Render.Render(c, status, "backoffice/audit.html", data)
}

// auditURL is the address of page n of the audit log with the filter form (and the
// comune chosen on a union's log): the page links keep the filter, and only it.
func auditURL(form AuditForm, comune string, n int) string {
	v := url.Values{}
	for _, f := range []struct{ name, value string }{{"comune", comune}, {"actor", form.Actor}, {"subject", form.Subject},
		{"action", form.Action}, {"from", form.From}, {"to", form.To}} {
		if f.value != "" {
			v.Set(f.name, f.value)
		}
	}
	if n > 1 {
		v.Set("pagina", strconv.Itoa(n))
	}
	if len(v) == 0 {
		return "/backoffice/audit"
	}
	return "/backoffice/audit?" + v.Encode()
}

func (s *Shell) mailbox(c echo.Context) error {
	st := notify.Status(c.QueryParam("status"))
	if st != "" && !st.Valid() {
		st = ""
	}
	page, err := web.PageParam(c, "pagina")
	if err != nil {
		return err
	}
	recs, total, err := notify.List(c.Request().Context(), s.d.DB, notify.ListFilter{Status: st, Limit: mailPageSize,
		Offset: (page - 1) * mailPageSize})
	if err != nil {
		return err
	}
	pager, err := web.NewPager(page, mailPageSize, total, func(n int) string {
		v := url.Values{}
		if st != "" {
			v.Set("status", string(st))
		}
		if n > 1 {
			v.Set("pagina", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return "/backoffice/posta"
		}
		return "/backoffice/posta?" + v.Encode()
	})
	if err != nil {
		return err
	}
	return s.d.Render.Render(c, http.StatusOK, "backoffice/mailbox.html", map[string]any{
		"Messages": recs, "Total": total, "Pager": pager, "Status": string(st), "Statuses": notify.Statuses(),
		"Holding": s.d.Outbox != nil && s.d.Outbox.Holding(),
	})
}

// jobs lists every scheduled job with its last run, next run, attempts and last
// error, failing ones first (admins only).
func (s *Shell) jobs(c echo.Context) error {
	list, err := jobs.List(c.Request().Context(), s.d.DB, time.Now())
	if err != nil {
		return err
	}
	slices.SortStableFunc(list, func(a, b jobs.State) int {
		switch {
		case a.Failing() == b.Failing():
			return 0
		case a.Failing():
			return -1
		}
		return 1
	})
	failing := 0
	for _, j := range list {
		if j.Failing() {
			failing++
		}
	}
	return s.d.Render.Render(c, http.StatusOK, "backoffice/jobs.html", map[string]any{"Jobs": list, "Failing": failing})
}

func (s *Shell) mail(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return web.ErrNotFound
	}
	rec, err := notify.Get(c.Request().Context(), s.d.DB, id)
	if err != nil {
		return err
	}
	return s.d.Render.Render(c, http.StatusOK, "backoffice/mail.html", rec)
}
