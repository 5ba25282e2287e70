package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/auth"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// newCases builds the case service modules declare their case types on (Mount.Cases).
func (a *App) newCases() error {
	s, err := cases.New(a.db, cases.Options{Outbox: a.outbox, I18n: a.render.I18n(),
		BaseURL: strings.TrimSuffix(a.cfg.HTTP.BaseURL, "/"), OfficeEmail: a.cfg.Comune.Email,
		Log: a.log.With("component", "cases"), Email: func(c echo.Context) string { return auth.CurrentProfile(c).Email }})
	if err != nil {
		return err
	}
	a.cases = s
	return nil
}

// Cases is the case service.
func (a *App) Cases() *cases.Service { return a.cases }

// mountCases gives every module that declared case types, for free: the citizen's
// "Le mie pratiche", the staff queue and case pages under /backoffice/<module>/pratiche
// (for the roles of its types), its back-office menu entry and dashboard figures. It
// runs after every module's Mount.
func (a *App) mountCases() []services.Stats {
	titles := map[string]string{}
	for _, m := range a.modules {
		titles[m.Info().ID] = m.Info().Title
	}
	pages := cases.NewPages(a.cases, a.render, titles)
	pages.MountCitizen(web.NewRoutes(a.echo, "", a.requireCitizen))
	var stats []services.Stats
	for _, module := range a.cases.Modules() {
		roles := a.cases.Roles(module)
		pages.MountStaff(web.NewRoutes(a.echo, "", a.requireRole(roles...)), module)
		a.staffNav = append(a.staffNav, web.MenuItem{Label: titles[module], Href: cases.QueuePath(module), Roles: roles})
		stats = append(stats, caseStats{s: a.cases, module: module, roles: roles})
	}
	return stats
}

// caseStats are one module's case figures on the dashboard.
type caseStats struct {
	s      *cases.Service
	module string
	roles  []string
}

func (cs caseStats) Stats(ctx context.Context) ([]services.Stat, error) {
	f, err := cs.s.Figures(ctx, cs.module, cs.s.Now())
	if err != nil {
		return nil, fmt.Errorf("cases figures of %s: %w", cs.module, err)
	}
	q := cases.QueuePath(cs.module)
	return []services.Stat{
		{Label: "cases.stats.open", Value: f.Open, Href: q, Roles: cs.roles},
		{Label: "cases.stats.late", Value: f.Late, Href: q + "?scadute=1", Roles: cs.roles},
		{Label: "cases.stats.decided", Value: f.DecidedThisMonth, Href: q, Roles: cs.roles},
	}, nil
}

// casesArea is the citizen's cases section of the personal area.
func (a *App) casesArea(ctx context.Context, cf, lang string) (services.AreaSection, error) {
	list, err := a.cases.OfApplicant(ctx, cf, 5)
	if err != nil {
		return services.AreaSection{}, err
	}
	i18n := a.render.I18n()
	sec := services.AreaSection{Title: "cases.area.title", More: cases.CitizenBase}
	for _, c := range list {
		t, ok := a.cases.Type(c.Module, c.Type)
		if !ok {
			continue
		}
		detail := c.Protocol
		if detail == "" {
			detail = i18n.T(lang, "cases.field.no_protocol")
		}
		sec.Items = append(sec.Items, services.AreaItem{Label: i18n.T(lang, t.Title), Detail: detail,
			Status: cases.StateKey(c.State), Href: cases.CitizenPath(c.ID)})
	}
	return sec, nil
}
