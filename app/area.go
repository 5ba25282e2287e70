package app

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/auth"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// areaTabs are the personal area's tabs ("" is the Scrivania, which shows every
// section; "servizi" lists the services).
var areaTabs = []string{services.TabDesk, services.TabMessages, services.TabActivity, "servizi"}

// areaSection is a personal-area section as the page shows it: the module's own, or,
// when the module failed, a section under the module's title that says so.
type areaSection struct {
	services.AreaSection
	// Failed says the module could not load the citizen's records; the page shows a
	// notice in this section only.
	Failed bool
}

// personalArea is the citizen's home after login: the profile from the identity
// claims and, from each module implementing services.PersonalArea, the citizen's own
// records (certificates, cases, appointments). A module that fails (or is too slow)
// costs its own section, not the page.
func (a *App) personalArea(c echo.Context) error {
	v := web.CurrentViewer(c)
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	var sections []areaSection
	for _, m := range a.modules {
		pa, ok := m.(services.PersonalArea)
		if !ok {
			continue
		}
		s, err := pa.PersonalArea(ctx, v.FiscalCode, web.Lang(c))
		if err != nil {
			if c.Request().Context().Err() != nil {
				return err // the visitor went away: nothing to show
			}
			a.log.ErrorContext(ctx, "personal area section failed", "module", m.Info().ID, "err", err,
				"request_id", web.RequestID(c))
			sections = append(sections, areaSection{AreaSection: services.AreaSection{Title: m.Info().Title}, Failed: true})
			continue
		}
		for _, x := range s {
			sections = append(sections, areaSection{AreaSection: x})
		}
	}
	if s, err := a.paymentsArea(ctx, v.FiscalCode); err != nil {
		a.log.ErrorContext(ctx, "personal area section failed", "module", "payments", "err", err,
			"request_id", web.RequestID(c))
		sections = append(sections, areaSection{AreaSection: s, Failed: true})
	} else if len(s.Items) > 0 {
		sections = append(sections, areaSection{AreaSection: s})
	}
	if len(a.cases.Modules()) > 0 {
		s, err := a.casesArea(ctx, v.FiscalCode, web.Lang(c))
		if err != nil {
			if c.Request().Context().Err() != nil {
				return err
			}
			a.log.ErrorContext(ctx, "personal area section failed", "module", "cases", "err", err,
				"request_id", web.RequestID(c))
		}
		sections = append(sections, areaSection{AreaSection: s, Failed: err != nil})
	}
	prof := auth.CurrentProfile(c)
	// The register knows the person's sex: the greeting agrees with it ("Benvenuta,
	// Giulia"); a person the register does not know gets a neutral wording.
	welcome := "area.welcome.n"
	if p, err := anagrafe.ByFiscalCode(ctx, enti.For(ctx, a.db), v.FiscalCode); err == nil {
		switch p.Sex {
		case anagrafe.Female:
			welcome = "area.welcome.f"
		case anagrafe.Male:
			welcome = "area.welcome.m"
		}
	} else if !anagrafe.IsNotFound(err) {
		a.log.WarnContext(ctx, "personal area: register lookup failed", "err", err, "request_id", web.RequestID(c))
	}
	name := prof.GivenName
	if name == "" {
		name = v.DisplayName
	}
	var birth time.Time
	if prof.BirthDate != "" {
		birth, _ = time.ParseInLocation("2006-01-02", prof.BirthDate, web.Rome)
	}
	// The tabs of the model (Scrivania, Messaggi, Attività, Servizi) are links to
	// this same page, so they work without script and each has its own address.
	tab := c.QueryParam("scheda")
	if !slices.Contains(areaTabs, tab) {
		tab = ""
	}
	var shown []areaSection
	for _, s := range sections {
		if tab == "" || s.Tab == tab {
			shown = append(shown, s)
		}
	}
	var offered []services.Info
	for _, g := range a.catalogueOf(enti.Current(c)) {
		offered = append(offered, g.Services...)
	}
	return a.render.Render(c, http.StatusOK, "area/index.html", map[string]any{
		"Profile": prof, "Sections": shown, "Welcome": welcome, "Name": name, "BirthDate": birth,
		"Tab": tab, "Tabs": areaTabs, "Services": offered,
	})
}
