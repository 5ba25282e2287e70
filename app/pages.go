package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/feedback"
	"github.com/comuni-italiani/sportello/app/search"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
)

// AreaGroup is one thematic area of the catalogue with its services.
type AreaGroup struct {
	ID       services.Area
	Title    string
	Summary  string
	Services []services.Info
}

// Catalogue groups the enabled modules by thematic area, in the areas' order; areas
// with no service are left out.
func (a *App) Catalogue() []AreaGroup { return a.catalogueOf(nil) }

// catalogueOf is the catalogue of the modules ente offers (every enabled module when
// ente is nil).
func (a *App) catalogueOf(ente *enti.Ente) []AreaGroup {
	var out []AreaGroup
	for _, area := range services.Areas {
		g := AreaGroup{ID: area, Title: "area." + string(area) + ".title", Summary: "area." + string(area) + ".summary"}
		for _, m := range a.modules {
			if info := m.Info(); info.Area == area && (ente == nil || ente.Offers(info.ID)) {
				g.Services = append(g.Services, info)
			}
		}
		slices.SortStableFunc(g.Services, func(x, y services.Info) int { return x.Order - y.Order })
		if len(g.Services) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// LifeEvents are the "eventi della vita" of the Designers Italia model the catalogue
// knows, in the order it shows them; each has the message key "lifeevent.<id>". A
// module may name only these (app/contract_test.go checks it).
var LifeEvents = []string{
	"nascita-figlio", "adozione-figlio", "iscrizione-scuola", "cambio-residenza", "documento-identita", "matrimonio", "acquisto-auto",
	"avvio-impresa", "difficolta-economiche", "anziani", "lutto",
}

// LifeEventGroup is one life event with the services that help in it.
type LifeEventGroup struct {
	ID       string
	Services []services.Info
}

// lifeEventsOf groups the modules ente offers by life event, in LifeEvents' order;
// events with no service are left out.
func (a *App) lifeEventsOf(ente *enti.Ente) []LifeEventGroup {
	var out []LifeEventGroup
	for _, ev := range LifeEvents {
		g := LifeEventGroup{ID: ev}
		for _, m := range a.modules {
			if info := m.Info(); slices.Contains(info.LifeEvents, ev) && (ente == nil || ente.Offers(info.ID)) {
				g.Services = append(g.Services, info)
			}
		}
		slices.SortStableFunc(g.Services, func(x, y services.Info) int { return strings.Compare(x.ID, y.ID) })
		if len(g.Services) > 0 {
			out = append(out, g)
		}
	}
	return out
}

func (a *App) routes() {
	e := a.echo
	e.GET("/", a.home)
	e.GET("/servizi", a.catalogue)
	e.GET("/servizi/:id", a.service)
	e.GET("/privacy", a.static("pages/privacy.html"))
	e.GET("/accessibilita", a.static("pages/accessibility.html"))
	e.POST("/valutazione", a.rate)
	e.POST("/valutazione-pagina", a.ratePage)
	e.GET("/cerca", a.search)
	e.GET("/domande-frequenti", a.faqPage)
	e.GET("/healthz", a.healthz)
	e.GET("/readyz", a.readyz)
	e.GET("/metrics", a.metricsHandler())
	e.GET("/robots.txt", func(c echo.Context) error {
		return c.String(http.StatusOK, "User-agent: *\nDisallow: /backoffice\nDisallow: /area-personale\nDisallow: /verifica/\n")
	})
}

func (a *App) home(c echo.Context) error {
	// "Non hai SPID o CIE?" only where SPID or CIE is offered (a provider of that kind).
	spid, cie := digitalIdentity(a.cfg.Auth)
	return a.render.Render(c, http.StatusOK, "home.html", map[string]any{
		"Areas": a.catalogueOf(enti.Current(c)), "External": spid || cie,
	})
}

// digitalIdentity reports whether the deployment offers SPID and CIE: a configured
// provider of that kind (a broker of those identities).
func digitalIdentity(auth config.Auth) (spid, cie bool) {
	for _, p := range auth.Providers {
		spid = spid || p.Kind == "spid"
		cie = cie || p.Kind == "cie"
	}
	return spid, cie
}

// accessPhrase is the message key of how citizens log in with the configured
// providers ("con SPID, CIE o le credenziali rilasciate dall'URP", only SPID, only
// CIE, only the URP's credentials). Every message receives it as {{.Access}}
// (web.I18n.SetShared), so no text promises SPID or CIE where they are not offered
// and no module repeats the check.
func accessPhrase(auth config.Auth) string {
	switch spid, cie := digitalIdentity(auth); {
	case spid && cie:
		return "access.with.spid_cie"
	case spid:
		return "access.with.spid"
	case cie:
		return "access.with.cie"
	}
	return "access.with.local"
}

func (a *App) catalogue(c echo.Context) error {
	return a.render.Render(c, http.StatusOK, "catalogue/index.html", map[string]any{
		"Areas": a.catalogueOf(enti.Current(c)), "LifeEvents": a.lifeEventsOf(enti.Current(c)),
	})
}

func (a *App) service(c echo.Context) error {
	id := c.Param("id")
	if e := enti.Current(c); e != nil && !e.Offers(id) {
		return web.ErrNotFound
	}
	for _, m := range a.modules {
		if info := m.Info(); info.ID == id {
			updated, _ := time.ParseInLocation("2006-01-02", info.Updated, web.Rome)
			return a.render.Render(c, http.StatusOK, "catalogue/service.html", map[string]any{"Info": info, "Updated": updated})
		}
	}
	return web.ErrNotFound
}

func (a *App) static(name string) echo.HandlerFunc {
	return func(c echo.Context) error { return a.render.Render(c, http.StatusOK, name, nil) }
}

func (a *App) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "version": a.version})
}

// readyz answers 200 only when the database answers and its schema is current, so a
// load balancer sends no traffic to a replica that cannot serve it.
func (a *App) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	sqlDB, err := a.db.DB()
	if err == nil {
		err = sqlDB.PingContext(ctx)
	}
	if err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "unreachable"})
	}
	if err := store.CheckCurrent(ctx, a.db, a.migrations); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "schema behind"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready", "database": string(store.DialectOf(a.db))})
}

// securityEvent records a refusal in the audit log, with whoever was logged in. A
// failure to record is logged, not shown: the refusal stands either way.
func (a *App) securityEvent(c echo.Context, action string, details map[string]any) {
	e := web.AuditEntry(c, action)
	e.Outcome, e.Details = audit.Denied, details
	if err := audit.Record(c.Request().Context(), a.db, e); err != nil {
		a.log.Error("audit of a refusal failed", "action", action, "err", err)
	}
}

// denied refuses a logged-in person a page that is not theirs, and records it.
func (a *App) denied(c echo.Context, need string) error {
	a.securityEvent(c, "security.access_denied", map[string]any{"path": c.Request().URL.Path, "needs": need})
	return web.ErrForbidden
}

// requireCitizen admits a logged-in citizen; anyone else is sent to the login page and
// brought back afterwards.
func (a *App) requireCitizen(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		v := web.CurrentViewer(c)
		if v == nil {
			return loginRedirect(c)
		}
		if v.Kind != "citizen" {
			return a.denied(c, "citizen")
		}
		return next(c)
	}
}

// requireStaff admits a logged-in staff member and gives the page the back-office menu.
func (a *App) requireStaff(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		v := web.CurrentViewer(c)
		if v == nil {
			return loginRedirect(c)
		}
		if v.Kind != "staff" {
			return a.denied(c, "staff")
		}
		acc, err := a.staffAccessHere(c.Request().Context(), v)
		if err != nil {
			return err
		}
		if !acc.ok {
			return a.denied(c, "ente")
		}
		if !slices.Equal(acc.roles, v.Roles) {
			// The roles held on this ente (its own staff's, or those granted to a
			// union's officer here) are the ones every guard and page sees.
			here := *v
			here.Roles = acc.roles
			v = &here
			web.SetViewer(c, v)
		}
		if acc.span != nil {
			c.SetRequest(c.Request().WithContext(enti.WithSpan(c.Request().Context(), acc.span)))
		}
		web.SetStaffMenu(c, a.staffMenuFor(v))
		return next(c)
	}
}

// requireRole admits staff holding any of roles (admins hold all).
func (a *App) requireRole(roles ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return a.requireStaff(func(c echo.Context) error {
			v := web.CurrentViewer(c)
			if !slices.ContainsFunc(roles, v.HasRole) {
				return a.denied(c, strings.Join(roles, ","))
			}
			return next(c)
		})
	}
}

func (a *App) staffMenuFor(v *web.Viewer) []web.MenuItem {
	var out []web.MenuItem
	for _, item := range a.staffNav {
		if len(item.Roles) == 0 || slices.ContainsFunc(item.Roles, v.HasRole) {
			out = append(out, item)
		}
	}
	return out
}

func loginRedirect(c echo.Context) error {
	if c.Request().Method != http.MethodGet {
		return web.ErrForbidden
	}
	return c.Redirect(http.StatusSeeOther, "/auth/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
}

// rate records the rating question that closes a service and sends the visitor back
// to the page they rated from.
func (a *App) rate(c echo.Context) error {
	service := c.FormValue("servizio")
	known := false
	for _, m := range a.modules {
		if m.Info().ID == service {
			known = true
		}
	}
	score, err := strconv.Atoi(c.FormValue("voto"))
	if !known || err != nil {
		return web.NewError(http.StatusUnprocessableEntity, "rating.invalid")
	}
	if err := feedback.Record(c.Request().Context(), a.db, service, score, c.FormValue("commento")); err != nil {
		if errors.Is(err, feedback.ErrScore) || errors.Is(err, feedback.ErrComment) {
			return web.NewError(http.StatusUnprocessableEntity, "rating.invalid")
		}
		return err
	}
	web.AddFlash(c, "success", "rating.thanks")
	back := web.SafeLocalPath(c.FormValue("ritorno"))
	if back == "" {
		back = "/servizi/" + service
	}
	return web.Redirect(c, back)
}

// ratePage records the answer to "Quanto sono chiare le informazioni su questa
// pagina?", asked at the foot of every public page, and sends the visitor back.
func (a *App) ratePage(c echo.Context) error {
	page := web.SafeLocalPath(c.FormValue("pagina"))
	score, err := strconv.Atoi(c.FormValue("voto"))
	if page == "" || err != nil {
		return web.NewError(http.StatusUnprocessableEntity, "pagerating.invalid")
	}
	ctx := c.Request().Context()
	if err := feedback.RecordPage(ctx, enti.For(ctx, a.db), page, score, c.FormValue("commento")); err != nil {
		if errors.Is(err, feedback.ErrScore) || errors.Is(err, feedback.ErrComment) || errors.Is(err, feedback.ErrPath) {
			return web.NewError(http.StatusUnprocessableEntity, "pagerating.invalid")
		}
		return err
	}
	web.AddFlash(c, "success", "pagerating.thanks")
	return web.Redirect(c, page)
}

// FAQCount is how many frequently asked questions the platform's messages hold
// ("faq.<n>.q" and "faq.<n>.a", from 1).
const FAQCount = 6

// faqs returns the frequently asked questions in lang, as search documents.
func (a *App) faqs(lang string) []search.Doc {
	i := a.render.I18n()
	out := make([]search.Doc, 0, FAQCount)
	for n := 1; n <= FAQCount; n++ {
		q, ans := i.T(lang, fmt.Sprintf("faq.%d.q", n)), i.T(lang, fmt.Sprintf("faq.%d.a", n))
		out = append(out, search.Doc{Kind: search.KindFAQ, Title: q, Text: ans, Summary: ans,
			Href: fmt.Sprintf("/domande-frequenti#faq-%d", n)})
	}
	return out
}

func (a *App) faqPage(c echo.Context) error {
	return a.render.Render(c, http.StatusOK, "pages/faq.html", map[string]any{"FAQs": a.faqs(web.Lang(c))})
}

// search answers the search box: the services the ente offers (their whole card),
// the records modules offer through services.Searcher (offices) and the FAQs, matched
// in Italian by app/search. A module that fails to answer costs its own results only.
func (a *App) search(c echo.Context) error {
	raw := strings.TrimSpace(c.QueryParam("q"))
	lang := web.Lang(c)
	data := map[string]any{"Q": raw}
	q := search.ParseQuery(raw)
	if raw != "" && q.Empty() {
		data["TooVague"] = true
	}
	if !q.Empty() {
		ctx := c.Request().Context()
		ente := enti.Current(c)
		i := a.render.I18n()
		var docs []search.Doc
		for _, m := range a.modules {
			info := m.Info()
			if ente != nil && !ente.Offers(info.ID) {
				continue
			}
			text := []string{i.T(lang, info.Summary), i.T(lang, info.Description), i.T(lang, info.Audience), i.T(lang, info.HowTo),
				i.T(lang, info.Outcome), i.T(lang, "area."+string(info.Area)+".title")}
			for _, k := range info.Topics {
				text = append(text, i.T(lang, k))
			}
			for _, ev := range info.LifeEvents {
				text = append(text, i.T(lang, "lifeevent."+ev))
			}
			docs = append(docs, search.Doc{Kind: search.KindService, Title: i.T(lang, info.Title), Summary: i.T(lang, info.Summary),
				Text: strings.Join(text, " "), Href: "/servizi/" + info.ID})
		}
		for _, m := range a.modules {
			s, ok := m.(services.Searcher)
			if !ok || (ente != nil && !ente.Offers(m.Info().ID)) {
				continue
			}
			more, err := s.SearchDocs(ctx, lang)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				a.log.ErrorContext(ctx, "search: module failed", "module", m.Info().ID, "err", err, "request_id", web.RequestID(c))
				data["Partial"] = true
				continue
			}
			docs = append(docs, more...)
		}
		docs = append(docs, a.faqs(lang)...)
		data["Hits"] = search.Search(q, docs)
		data["Searched"] = true
	}
	return a.render.Render(c, http.StatusOK, "pages/search.html", data)
}
