package app

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/auth"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// personalArea is the citizen's home after login: the profile from the identity
// claims and, from each module implementing services.PersonalArea, the citizen's own
// records (certificates, cases, appointments).
func (a *App) personalArea(c echo.Context) error {
	v := web.CurrentViewer(c)
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	var sections []services.AreaSection
	for _, m := range a.modules {
		pa, ok := m.(services.PersonalArea)
		if !ok {
			continue
		}
		s, err := pa.PersonalArea(ctx, v.FiscalCode, web.Lang(c))
		if err != nil {
			return err
		}
		sections = append(sections, s...)
	}
	if len(a.cases.Modules()) > 0 {
		s, err := a.casesArea(ctx, v.FiscalCode, web.Lang(c))
		if err != nil {
			return err
		}
		sections = append(sections, s)
	}
	return a.render.Render(c, http.StatusOK, "area/index.html", map[string]any{
		"Profile": auth.CurrentProfile(c), "Sections": sections,
	})
}
