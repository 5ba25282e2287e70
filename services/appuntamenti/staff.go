package appuntamenti

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

func (m *Module) staffRoutes(mt *services.Mount) {
	s := mt.Staff.Group("", mt.RequireRole(RoleDesk))
	s.GET("/", m.agenda)
	s.POST("/:id/presente", m.staffMark(StatusCheckedIn, "appuntamenti.checkin"))
	s.POST("/:id/assente", m.staffMark(StatusNoShow, "appuntamenti.no_show"))
	s.POST("/:id/annulla", m.staffCancel)
	s.POST("/chiusure", m.addClosure)
	m.staffCapacityRoutes(s)
	s.GET("/statistiche", m.statsPage)
	s.GET("/statistiche.csv", m.statsCSV)
}

// addClosure closes an office from "dal" to "al" (local date and time) with a reason,
// and lists the bookings the closure hits, for the desk to reschedule: the closure
// does not cancel them by itself (the desk calls or cancels each with a reason, which
// mails the citizen).
func (m *Module) addClosure(c echo.Context) error {
	ctx := c.Request().Context()
	officeID := c.FormValue("ufficio")
	reason := strings.TrimSpace(c.FormValue("motivo"))
	from, err1 := time.ParseInLocation("2006-01-02T15:04", c.FormValue("dal"), rome)
	to, err2 := time.ParseInLocation("2006-01-02T15:04", c.FormValue("al"), rome)
	switch {
	case err1 != nil || err2 != nil || !to.After(from):
		return web.NewError(http.StatusUnprocessableEntity, "appuntamenti.staff.closure_dates")
	case reason == "" || len([]rune(reason)) > MaxReason:
		return web.NewError(http.StatusUnprocessableEntity, "appuntamenti.staff.reason_required")
	}
	office, err := m.officeOf(ctx, officeID)
	if err != nil {
		return err
	}
	id, err := stamp.NewCode()
	if err != nil {
		return err
	}
	v := web.CurrentViewer(c)
	var hit []Booking
	err = m.store(ctx).Transaction(func(tx *gorm.DB) error {
		cl := Closure{ID: id, OfficeID: office.ID, StartsAt: from.UTC(), EndsAt: to.UTC(), Reason: reason, CreatedBy: v.ID,
			CreatedAt: m.now().UTC()}
		if err := tx.Create(&cl).Error; err != nil {
			return err
		}
		if err := tx.Where("office_id = ? AND status = ? AND starts_at < ? AND ends_at > ?", office.ID, StatusBooked,
			cl.EndsAt, cl.StartsAt).Order("starts_at").Find(&hit).Error; err != nil {
			return err
		}
		e := web.AuditEntry(c, "appuntamenti.closure")
		e.ObjectType, e.ObjectID = "office", office.ID
		e.Details = map[string]any{"from": cl.StartsAt, "to": cl.EndsAt, "reason": reason, "bookings_hit": len(hit)}
		return audit.Record(ctx, tx, e)
	})
	if err != nil {
		return err
	}
	views := make([]BookingView, len(hit))
	for i, b := range hit {
		views[i] = BookingView{Booking: b, Office: office, Service: m.serviceView(c.Request().Context(), b.Service)}
	}
	return m.render.Render(c, http.StatusOK, ID+"/closure.html", map[string]any{
		"Office": office, "From": from, "To": to, "Reason": reason, "Bookings": views})
}

// agenda is the day's bookings of an office (printable: the page has no controls in
// print, see the template).
func (m *Module) agenda(c echo.Context) error {
	ctx := c.Request().Context()
	offices, err := m.offices(c)
	if err != nil {
		return err
	}
	if len(offices) == 0 {
		return m.render.Render(c, http.StatusOK, ID+"/agenda.html", map[string]any{"Offices": offices})
	}
	office := offices[0]
	for _, o := range offices {
		if o.ID == c.QueryParam("ufficio") {
			office = o
		}
	}
	day := DayOf(m.now())
	if d, err := ParseDay(c.QueryParam("giorno")); err == nil {
		day = d
	}
	var list []Booking
	if err := m.store(ctx).Where("office_id = ? AND starts_at >= ? AND starts_at < ? AND status <> ?", office.ID,
		day.Start().UTC(), day.Next().Start().UTC(), StatusCancelled).Order("starts_at, service, id").Find(&list).Error; err != nil {
		return err
	}
	names, err := deskNames(m.store(ctx), office.ID)
	if err != nil {
		return err
	}
	views := make([]BookingView, len(list))
	for i, b := range list {
		views[i] = BookingView{Booking: b, Office: office, Service: m.serviceView(c.Request().Context(), b.Service),
			DeskName: m.deskLabel(web.Lang(c), names, b.Service, b.Desk)}
	}
	var closures []Closure
	if err := m.store(ctx).Where("office_id = ? AND ends_at > ?", office.ID, m.now().UTC()).Order("starts_at").Limit(50).
		Find(&closures).Error; err != nil {
		return err
	}
	var svcs []OfficeService
	if err := m.store(ctx).Where("office_id = ?", office.ID).Order("service").Find(&svcs).Error; err != nil {
		return err
	}
	var hours []Hours
	if err := m.store(ctx).Where("office_id = ?", office.ID).Order("service, weekday, opens").Find(&hours).Error; err != nil {
		return err
	}
	fees, err := m.FeeStates(ctx, list)
	if err != nil {
		return err
	}
	return m.render.Render(c, http.StatusOK, ID+"/agenda.html", map[string]any{"Fees": fees,
		"Offices": offices, "Office": office, "Day": day, "Prev": DayOf(day.Start().Add(-12 * time.Hour)), "Next": day.Next(),
		"Bookings": views, "Errors": web.FormErrors{}, "Closures": closures, "Services": svcs, "Hours": hours, "DeskNames": names,
		"Weekdays": []int{1, 2, 3, 4, 5, 6, 7}})
}

// staffMark records a check-in or a no-show on a booking of the day (or earlier).
func (m *Module) staffMark(status, action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		id := c.Param("id")
		now := m.now().UTC()
		var b Booking
		err := m.store(ctx).Transaction(func(tx *gorm.DB) error {
			upd := map[string]any{"status": status}
			if status == StatusCheckedIn {
				upd["checked_in_at"] = now
			}
			// Write first (see cancelTx): only bookings of today or earlier.
			res := tx.Model(&Booking{}).Where("id = ? AND status = ? AND starts_at < ?", id, StatusBooked,
				DayOf(now).Next().Start().UTC()).Updates(upd)
			if res.Error != nil {
				return res.Error
			}
			if err := tx.Where("id = ?", id).Take(&b).Error; err != nil {
				return err
			}
			if res.RowsAffected != 1 {
				if b.Active() {
					return web.NewError(http.StatusConflict, "appuntamenti.staff.not_today")
				}
				return web.NewError(http.StatusConflict, "appuntamenti.error.not_active")
			}
			e := web.AuditEntry(c, action)
			e.SubjectCF, e.ObjectType, e.ObjectID = b.CitizenCF, "appointment", b.ID
			return audit.Record(ctx, tx, e)
		})
		if err != nil {
			return err
		}
		web.AddFlash(c, "success", "appuntamenti.staff.saved")
		return web.Redirect(c, "/backoffice/"+ID+"/?ufficio="+b.OfficeID+"&giorno="+DayOf(b.StartsAt).String())
	}
}

// MaxReason is the longest reason staff may give, in characters.
const MaxReason = 300

// staffCancel cancels a booking with a reason (no deadline for staff) and mails the
// citizen.
func (m *Module) staffCancel(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	reason := strings.TrimSpace(c.FormValue("motivo"))
	if reason == "" || len([]rune(reason)) > MaxReason {
		return web.NewError(http.StatusUnprocessableEntity, "appuntamenti.staff.reason_required")
	}
	v := web.CurrentViewer(c)
	var b Booking
	var next *Waiter
	err := m.store(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if next, err = m.cancelTx(tx, id, "", m.now().UTC(), reason, v.ID, false); err != nil {
			return err
		}
		if err := tx.Where("id = ?", id).Take(&b).Error; err != nil {
			return err
		}
		var o Office
		if err := tx.Where("id = ?", b.OfficeID).Take(&o).Error; err != nil {
			return err
		}
		msg, err := m.bookingMail(ctx, tx, b, o, "staff_cancelled", mailLang(b.Lang), false)
		if err != nil {
			return err
		}
		msg.Text += "\n\n" + reason
		if _, err := m.mail.Enqueue(ctx, tx, msg); err != nil {
			return err
		}
		e := web.AuditEntry(c, "appuntamenti.staff_cancel")
		e.SubjectCF, e.ObjectType, e.ObjectID = b.CitizenCF, "appointment", b.ID
		e.Details = map[string]any{"reason": reason}
		return audit.Record(ctx, tx, e)
	})
	switch {
	case errors.Is(err, ErrNotActive):
		return web.NewError(http.StatusConflict, "appuntamenti.error.not_active")
	case errors.Is(err, store.ErrNotFound):
		return web.ErrNotFound
	case err != nil:
		return err
	}
	m.offerMail(ctx, next)
	web.AddFlash(c, "success", "appuntamenti.staff.cancelled")
	return web.Redirect(c, "/backoffice/"+ID+"/?ufficio="+b.OfficeID+"&giorno="+DayOf(b.StartsAt).String())
}
