package appuntamenti

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

const base = "/servizi/" + ID

func (m *Module) routes(mt *services.Mount) {
	c := mt.Citizen
	c.GET("/nuovo", m.stepService)
	c.GET("/nuovo/giorni", m.stepDays)
	c.GET("/nuovo/orari", m.stepTimes)
	c.GET("/nuovo/conferma", m.stepConfirm)
	c.POST("/nuovo", m.bookHandler)
	c.GET("/miei", m.mine)
	c.GET("/prenotazione/:id", m.detail)
	c.GET("/prenotazione/:id/qr.png", m.qr)
	c.GET("/prenotazione/:id/invito.ics", m.ics)
	c.POST("/prenotazione/:id/annulla", m.cancelHandler)
	c.POST("/prenotazione/:id/conferma", m.confirmHandler)
	c.POST("/attesa", m.joinHandler)
	c.GET("/offerta/:id", m.offerPage)
	c.POST("/offerta/:id/accetta", m.acceptHandler)
	// Without an account: the same steps under /ospite, then the mailed links.
	p := mt.Public
	p.GET("/ospite", func(c echo.Context) error { return m.stepServiceFor(c, true) })
	p.GET("/ospite/giorni", func(c echo.Context) error { return m.stepDaysFor(c, true) })
	p.GET("/ospite/orari", func(c echo.Context) error { return m.renderTimesFor(c, readChoice(c), true, http.StatusOK, "") })
	p.GET("/ospite/conferma", func(c echo.Context) error {
		return m.renderConfirmFor(c, readChoice(c), true, confirmForm{}, web.FormErrors{}, http.StatusOK)
	})
	p.POST("/ospite", m.guestBookHandler)
	p.GET("/ospite/c/:token", m.guestConfirmPage)
	p.POST("/ospite/c/:token", m.guestConfirmHandler)
	p.GET("/ospite/g/:token", m.guestManagePage)
	p.POST("/ospite/g/:token/annulla", m.guestCancelHandler)
	p.POST("/ospite/g/:token/conferma", m.guestConfirmBookingHandler)
	m.staffRoutes(mt)
}

// choice is the state of the booking steps, carried in the query string.
type choice struct {
	Service, Office string
	Day             string
	Start           int64  // Unix seconds
	Move            string // the booking being moved, or ""
	// Manage is the manage token of a booking without an account being moved, or "".
	Manage string
}

func readChoice(c echo.Context) choice {
	start, _ := strconv.ParseInt(c.QueryParam("inizio"), 10, 64)
	if c.Request().Method == http.MethodPost {
		start, _ = strconv.ParseInt(c.FormValue("inizio"), 10, 64)
		return choice{Service: c.FormValue("servizio"), Office: c.FormValue("ufficio"), Start: start, Move: c.FormValue("sposta"),
			Manage: c.FormValue("gestione")}
	}
	return choice{Service: c.QueryParam("servizio"), Office: c.QueryParam("ufficio"), Day: c.QueryParam("giorno"),
		Start: start, Move: c.QueryParam("sposta"), Manage: c.QueryParam("gestione")}
}

// Query encodes the choice for redirects (templates write each parameter on its own:
// html/template escapes a whole query string put into an href).
func (ch choice) Query() string {
	v := url.Values{"servizio": {ch.Service}, "ufficio": {ch.Office}}
	if ch.Day != "" {
		v.Set("giorno", ch.Day)
	}
	if ch.Move != "" {
		v.Set("sposta", ch.Move)
	}
	if ch.Manage != "" {
		v.Set("gestione", ch.Manage)
	}
	return v.Encode()
}

// ServiceView is a service as the pages show it.
type ServiceView struct {
	ID       string
	TitleKey string
	BringKey string
	Bring    string // configured text, overrides BringKey
}

func (m *Module) serviceView(ctx context.Context, id string) ServiceView {
	set := m.settingsFor(ctx)
	v := ServiceView{ID: id, TitleKey: "appuntamenti.service." + id, BringKey: "appuntamenti.bring." + id}
	switch id {
	case ServiceCIE:
		v.Bring = set.BringCIE
	case ServiceResidenza:
		v.Bring = set.BringResidenza
	}
	return v
}

func (m *Module) offices(c echo.Context) ([]Office, error) {
	var out []Office
	err := m.store(c.Request().Context()).Order("sort, id").Find(&out).Error
	return out, err
}

func (m *Module) stepService(c echo.Context) error { return m.stepServiceFor(c, false) }

// stepBase is the path of the booking steps: logged in, or without an account.
func stepBase(guest bool) string {
	if guest {
		return guestBase
	}
	return base + "/nuovo"
}

func (m *Module) stepServiceFor(c echo.Context, guest bool) error {
	ch := readChoice(c)
	offices, err := m.offices(c)
	if err != nil {
		return err
	}
	var svcs []ServiceView
	for _, s := range ServiceIDs {
		if guest && !m.settingsFor(c.Request().Context()).guestAllowed(s) {
			continue
		}
		svcs = append(svcs, m.serviceView(c.Request().Context(), s))
	}
	errs := web.FormErrors{}
	status := http.StatusOK
	if c.QueryParam("errore") != "" {
		errs.Add("servizio", "appuntamenti.error.choose")
		status = http.StatusUnprocessableEntity
	}
	return m.render.Render(c, status, ID+"/service.html", map[string]any{
		"Choice": ch, "Services": svcs, "Offices": offices, "Errors": errs, "Step": 1, "Base": stepBase(guest), "Guest": guest})
}

// loadChoice reads the schedule the choice names; a bad service or office sends the
// citizen back to the first step.
func (m *Module) loadChoice(c echo.Context, ch choice, guest bool) (*Schedule, error) {
	if !validService(ch.Service) || (guest && !m.settingsFor(c.Request().Context()).guestAllowed(ch.Service)) {
		return nil, store.ErrNotFound
	}
	return m.schedule(c.Request().Context(), ch.Office, ch.Service)
}

func (m *Module) stepDays(c echo.Context) error { return m.stepDaysFor(c, false) }

func (m *Module) stepDaysFor(c echo.Context, guest bool) error {
	ch := readChoice(c)
	s, err := m.loadChoice(c, ch, guest)
	if errors.Is(err, store.ErrNotFound) {
		return web.Redirect(c, stepBase(guest)+"?errore=1")
	} else if err != nil {
		return err
	}
	days, err := m.Availability(c.Request().Context(), s, m.now())
	if err != nil {
		return err
	}
	return m.render.Render(c, http.StatusOK, ID+"/days.html", map[string]any{
		"Choice": ch, "Schedule": s, "Service": m.serviceView(c.Request().Context(), ch.Service), "Days": days, "Step": 2,
		"Base": stepBase(guest), "Guest": guest})
}

func (m *Module) stepTimes(c echo.Context) error {
	ch := readChoice(c)
	return m.renderTimes(c, ch, http.StatusOK, "")
}

// renderTimes shows the free times of the chosen day; problem is a message key shown
// above them (a slot just taken by someone else).
func (m *Module) renderTimes(c echo.Context, ch choice, status int, problem string) error {
	return m.renderTimesFor(c, ch, false, status, problem)
}

func (m *Module) renderTimesFor(c echo.Context, ch choice, guest bool, status int, problem string) error {
	s, err := m.loadChoice(c, ch, guest)
	if errors.Is(err, store.ErrNotFound) {
		return web.Redirect(c, stepBase(guest)+"?errore=1")
	} else if err != nil {
		return err
	}
	d, err := ParseDay(ch.Day)
	if err != nil {
		return web.Redirect(c, stepBase(guest)+"/giorni?"+ch.Query())
	}
	days, err := m.Availability(c.Request().Context(), s, m.now())
	if err != nil {
		return err
	}
	var slots []FreeSlot
	for _, fd := range days {
		if fd.Day == d {
			slots = fd.Slots
		}
	}
	return m.render.Render(c, status, ID+"/times.html", map[string]any{
		"Choice": ch, "Schedule": s, "Service": m.serviceView(c.Request().Context(), ch.Service), "Day": d, "Slots": slots,
		"Problem": problem, "Step": 3, "Base": stepBase(guest), "Guest": guest})
}

// confirmForm is what the last step posts.
type confirmForm struct {
	Email string
	// Name and CF: without an account.
	Name, CF string
}

func (m *Module) stepConfirm(c echo.Context) error {
	ch := readChoice(c)
	return m.renderConfirm(c, ch, confirmForm{}, web.FormErrors{}, http.StatusOK)
}

func (m *Module) renderConfirm(c echo.Context, ch choice, f confirmForm, errs web.FormErrors, status int) error {
	return m.renderConfirmFor(c, ch, false, f, errs, status)
}

func (m *Module) renderConfirmFor(c echo.Context, ch choice, guest bool, f confirmForm, errs web.FormErrors, status int) error {
	s, err := m.loadChoice(c, ch, guest)
	if errors.Is(err, store.ErrNotFound) {
		return web.Redirect(c, stepBase(guest)+"?errore=1")
	} else if err != nil {
		return err
	}
	start := time.Unix(ch.Start, 0).UTC()
	if ch.Day == "" {
		ch.Day = DayOf(start).String()
	}
	return m.render.Render(c, status, ID+"/confirm.html", map[string]any{
		"Choice": ch, "Schedule": s, "Service": m.serviceView(c.Request().Context(), ch.Service), "Start": start,
		"Fee": m.settingsFor(c.Request().Context()).Fee(web.Lang(c)), "Form": f, "Errors": errs, "Step": 4,
		"Base": stepBase(guest), "Guest": guest})
}

func (m *Module) bookHandler(c echo.Context) error {
	ctx := c.Request().Context()
	v := web.CurrentViewer(c)
	ch := readChoice(c)
	f := confirmForm{Email: strings.TrimSpace(c.FormValue("email"))}
	errs := web.FormErrors{}
	if a, err := mail.ParseAddress(f.Email); err != nil || a.Address != f.Email || len(f.Email) > 254 {
		errs.Add("email", "appuntamenti.error.email")
	}
	if errs.Any() {
		return m.renderConfirm(c, ch, f, errs, http.StatusUnprocessableEntity)
	}
	if ch.Move != "" {
		if _, err := m.booking(ctx, ch.Move, v.FiscalCode); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return m.denied(c, ch.Move)
			}
			return err
		}
	}
	b, err := m.Book(ctx, Request{OfficeID: ch.Office, Service: ch.Service, Start: time.Unix(ch.Start, 0),
		CitizenCF: v.FiscalCode, Name: v.DisplayName, Email: f.Email, Replaces: ch.Move, By: v.FiscalCode, Lang: web.Lang(c),
		Notify: m.bookedMail(ctx, web.Lang(c), ch.Move != "")})
	switch {
	case errors.Is(err, ErrSlotFull):
		ch.Day = DayOf(time.Unix(ch.Start, 0)).String()
		return m.renderTimes(c, ch, http.StatusConflict, "appuntamenti.error.full")
	case err != nil:
		return refusal(err)
	}
	key := "appuntamenti.flash.booked"
	if ch.Move != "" {
		key = "appuntamenti.flash.moved"
	}
	web.AddFlash(c, "success", key)
	return web.Redirect(c, base+"/prenotazione/"+b.ID)
}

// denied records an attempt on a booking that is not the citizen's and answers 404,
// exactly as for a booking that does not exist.
func (m *Module) denied(c echo.Context, id string) error {
	e := web.AuditEntry(c, "security.appointment_access_denied")
	e.ObjectType, e.ObjectID, e.Outcome = "appointment", clip(id, 40), audit.Denied
	e.Details = map[string]any{"path": clip(c.Request().URL.Path, 200)}
	if err := audit.Record(c.Request().Context(), m.store(c.Request().Context()), e); err != nil {
		m.log.ErrorContext(c.Request().Context(), "audit", "err", err)
	}
	return web.ErrNotFound
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// own loads the viewer's booking :id, or records the attempt and answers 404.
func (m *Module) own(c echo.Context) (*Booking, error) {
	v := web.CurrentViewer(c)
	b, err := m.booking(c.Request().Context(), c.Param("id"), v.FiscalCode)
	if errors.Is(err, store.ErrNotFound) {
		return nil, m.denied(c, c.Param("id"))
	}
	return b, err
}

// BookingView is a booking with what its pages show.
type BookingView struct {
	Booking
	Office    Office
	Service   ServiceView
	CanChange bool
	Upcoming  bool
	// NeedsConfirm: the citizen must still confirm (by ConfirmBy).
	NeedsConfirm bool
	// DeskName names the desk (the agenda).
	DeskName string
}

func (m *Module) view(c echo.Context, b Booking, offices map[string]Office) BookingView {
	now := m.now()
	return BookingView{Booking: b, Office: offices[b.OfficeID], Service: m.serviceView(c.Request().Context(), b.Service),
		CanChange: b.Active() && Policy{CancelBefore: m.settingsFor(c.Request().Context()).cancelBefore()}.CanChange(now, b.StartsAt),
		Upcoming:  b.Active() && b.StartsAt.After(now), NeedsConfirm: b.NeedsConfirm(now)}
}

func (m *Module) officeMap(c echo.Context) (map[string]Office, error) {
	list, err := m.offices(c)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Office, len(list))
	for _, o := range list {
		out[o.ID] = o
	}
	return out, nil
}

func (m *Module) detail(c echo.Context) error {
	b, err := m.own(c)
	if err != nil {
		return err
	}
	om, err := m.officeMap(c)
	if err != nil {
		return err
	}
	return m.render.Render(c, http.StatusOK, ID+"/detail.html", map[string]any{
		"B": m.view(c, *b, om), "Fee": m.settingsFor(c.Request().Context()).Fee(web.Lang(c)),
		"CancelHours": m.settingsFor(c.Request().Context()).CancelHours,
		"FeeOnline":   m.FeeOnline(c.Request().Context())})
}

func (m *Module) mine(c echo.Context) error {
	v := web.CurrentViewer(c)
	list, err := m.Mine(c.Request().Context(), v.FiscalCode)
	if err != nil {
		return err
	}
	om, err := m.officeMap(c)
	if err != nil {
		return err
	}
	views := make([]BookingView, len(list))
	for i, b := range list {
		views[i] = m.view(c, b, om)
	}
	return m.render.Render(c, http.StatusOK, ID+"/mine.html", map[string]any{"Bookings": views})
}

// QRPayload is what the desk's QR code holds: the booking reference, nothing
// personal, so that a lost printout reveals no data.
func QRPayload(b Booking) string { return "APPT:" + b.ID }

func (m *Module) qr(c echo.Context) error {
	b, err := m.own(c)
	if err != nil {
		return err
	}
	png, err := qrcode.Encode(QRPayload(*b), qrcode.High, 320)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "private, no-store")
	return c.Blob(http.StatusOK, "image/png", png)
}

func (m *Module) ics(c echo.Context) error {
	b, err := m.own(c)
	if err != nil {
		return err
	}
	om, err := m.officeMap(c)
	if err != nil {
		return err
	}
	body, err := m.invitation(c.Request().Context(), *b, om[b.OfficeID], web.Lang(c))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="appuntamento-`+b.ID+`.ics"`)
	return c.Stream(http.StatusOK, "text/calendar; charset=utf-8", bytes.NewReader(body))
}

// refusal turns the module's refusals of a citizen's action into the message shown
// (409 or 422, in the citizen's language); other errors, nil included, pass unchanged.
// Callers handle first the refusals they answer otherwise (a full slot shows the
// times again, a missing booking is a 404 or an audited denial).
func refusal(err error) error {
	switch {
	case errors.Is(err, ErrTooLate):
		return web.NewError(http.StatusConflict, "appuntamenti.error.too_late")
	case errors.Is(err, ErrNotActive):
		return web.NewError(http.StatusConflict, "appuntamenti.error.not_active")
	case errors.Is(err, ErrConfirmLate):
		return web.NewError(http.StatusConflict, "appuntamenti.error.confirm_late")
	case errors.Is(err, ErrAlreadyBooked):
		return web.NewError(http.StatusConflict, "appuntamenti.error.already")
	case errors.Is(err, ErrNotBookable):
		return web.NewError(http.StatusUnprocessableEntity, "appuntamenti.error.not_bookable")
	case errors.Is(err, ErrLinkUsed):
		return web.NewError(http.StatusConflict, "appuntamenti.error.link_used")
	case errors.Is(err, ErrRateLimited):
		return web.NewError(http.StatusTooManyRequests, "appuntamenti.error.rate")
	}
	return err
}

func (m *Module) cancelHandler(c echo.Context) error {
	ctx := c.Request().Context()
	b, err := m.own(c)
	if err != nil {
		return err
	}
	v := web.CurrentViewer(c)
	if _, err = m.Cancel(ctx, b.ID, v.FiscalCode, m.cancelledMail(ctx, web.Lang(c))); err != nil {
		return refusal(err)
	}
	web.AddFlash(c, "success", "appuntamenti.flash.cancelled")
	return web.Redirect(c, base+"/miei")
}
