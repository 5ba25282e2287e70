package appuntamenti

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// The desk's capacity changes: desks per service, a weekly opening interval, a closure
// called off. Each offers the places it opens to the waiting list first.

func (m *Module) staffCapacityRoutes(s *web.Routes) {
	s.POST("/sportelli", m.setDesksHandler)
	s.POST("/orari", m.addHoursHandler)
	s.POST("/chiusure/:id/rimuovi", m.removeClosureHandler)
	s.POST("/sportelli/nome", m.nameDeskHandler)
}

func (m *Module) capacityAudit(c echo.Context, action, office string, details map[string]any) {
	e := web.AuditEntry(c, action)
	e.ObjectType, e.ObjectID, e.Details = "office", office, details
	if err := audit.Record(c.Request().Context(), m.store(c.Request().Context()), e); err != nil {
		m.log.ErrorContext(c.Request().Context(), "audit", "err", err)
	}
}

func agendaURL(office string) string { return "/backoffice/" + ID + "/?ufficio=" + office }

func (m *Module) setDesksHandler(c echo.Context) error {
	ctx := c.Request().Context()
	office, service := c.FormValue("ufficio"), c.FormValue("servizio")
	desks, err := strconv.Atoi(c.FormValue("sportelli"))
	if err != nil || !validService(service) {
		return web.NewError(http.StatusUnprocessableEntity, "appuntamenti.staff.desks_invalid")
	}
	over, err := m.SetDesks(ctx, office, service, desks)
	switch {
	case errors.Is(err, ErrBadDesks):
		return web.NewError(http.StatusUnprocessableEntity, "appuntamenti.staff.desks_invalid")
	case errors.Is(err, store.ErrNotFound):
		return web.ErrNotFound
	case err != nil:
		return err
	}
	m.capacityAudit(c, "appuntamenti.desks", office, map[string]any{"service": service, "desks": desks, "slots_over": len(over)})
	if len(over) > 0 {
		web.AddFlash(c, "warning", "appuntamenti.staff.desks_over")
	}
	web.AddFlash(c, "success", "appuntamenti.staff.capacity_saved")
	return web.Redirect(c, agendaURL(office))
}

func (m *Module) addHoursHandler(c echo.Context) error {
	ctx := c.Request().Context()
	wd, _ := strconv.Atoi(c.FormValue("giorno_settimana"))
	h := Hours{OfficeID: c.FormValue("ufficio"), Service: c.FormValue("servizio"), Weekday: wd,
		Opens: c.FormValue("apre"), Closes: c.FormValue("chiude")}
	if !validService(h.Service) {
		return web.NewError(http.StatusUnprocessableEntity, "appuntamenti.staff.hours_invalid")
	}
	n, err := m.AddHours(ctx, h)
	switch {
	case errors.Is(err, ErrBadHours):
		return web.NewError(http.StatusUnprocessableEntity, "appuntamenti.staff.hours_invalid")
	case errors.Is(err, store.ErrNotFound):
		return web.ErrNotFound
	case err != nil:
		return err
	}
	m.capacityAudit(c, "appuntamenti.hours", h.OfficeID, map[string]any{"service": h.Service, "weekday": wd,
		"opens": h.Opens, "closes": h.Closes, "offers": n})
	web.AddFlash(c, "success", "appuntamenti.staff.capacity_saved")
	return web.Redirect(c, agendaURL(h.OfficeID))
}

func (m *Module) removeClosureHandler(c echo.Context) error {
	cl, n, err := m.RemoveClosure(c.Request().Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return web.ErrNotFound
	} else if err != nil && cl == nil {
		return err
	}
	m.capacityAudit(c, "appuntamenti.closure_removed", cl.OfficeID, map[string]any{"from": cl.StartsAt, "to": cl.EndsAt,
		"reason": cl.Reason, "offers": n})
	if err != nil {
		return err
	}
	web.AddFlash(c, "success", "appuntamenti.staff.closure_removed")
	return web.Redirect(c, agendaURL(cl.OfficeID))
}
