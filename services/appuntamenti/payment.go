package appuntamenti

import (
	"time"

	"context"
	"errors"
	"gorm.io/gorm"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// The CIE fee paid online. A citizen with a booked CIE appointment may pay the card's
// fee (Settings.CIEFeeCents) through pagoPA before coming: a debt position linked to
// the booking (purpose PurposeCIE, Ref the booking's id), due by the appointment.
// The agenda shows, for each CIE booking, whether the fee is paid or is to be paid at
// the desk. Nothing else depends on it: the desk still issues the card if the fee is
// paid there. A booking moved to another time is a new booking: its fee, paid or
// not, follows it (carryFee, in the move's transaction). A cancelled booking's unpaid
// fee is withdrawn on pagoPA by the job appuntamenti/diritti (CancelOrphanFees), so
// nobody pays for an appointment that no longer exists.

// PurposeCIE names the CIE fee of a booking in app/payments.
const PurposeCIE = ID + "/cie"

// mountPayments adds the payment pages when the platform has payments.
func (m *Module) mountPayments(mt *services.Mount) {
	if mt.Payments == nil {
		return
	}
	m.pay = mt.Payments
	mt.Citizen.GET("/prenotazione/:id/pagamento", m.feePage)
	mt.Citizen.POST("/prenotazione/:id/pagamento", m.payFee)
}

// FeeOnline reports whether ctx's ente takes the CIE fee online.
func (m *Module) FeeOnline(ctx context.Context) bool {
	return m.pay != nil && m.settingsFor(ctx).CIEFeeCents > 0 && m.pay.Enabled(ctx)
}

// feeBooking is the citizen's own CIE booking of the request (404 otherwise, audited
// by own when it is another citizen's).
func (m *Module) feeBooking(c echo.Context) (*Booking, error) {
	b, err := m.own(c)
	if err != nil {
		return nil, err
	}
	if b.Service != ServiceCIE || !m.FeeOnline(c.Request().Context()) {
		return nil, web.ErrNotFound
	}
	return b, nil
}

func (m *Module) feePageRender(c echo.Context, status int, b *Booking, msg string) error {
	ctx := c.Request().Context()
	pos, err := m.pay.ByRef(ctx, PurposeCIE, b.ID)
	if err != nil && !errors.Is(err, payments.ErrNotFound) {
		return err
	}
	if pos != nil && !pos.State.Open() && pos.State != payments.Paid {
		pos = nil // expired or cancelled: a new one can be asked for
	}
	om, err := m.officeMap(c)
	if err != nil {
		return err
	}
	return m.render.Render(c, status, ID+"/payment.html", map[string]any{
		"B": m.view(c, *b, om), "Fee": m.settingsFor(c.Request().Context()).Fee(web.Lang(c)), "P": pos, "Error": msg})
}

// feePage offers to pay the fee of a booked CIE appointment now, online.
func (m *Module) feePage(c echo.Context) error {
	b, err := m.feeBooking(c)
	if err != nil {
		return err
	}
	return m.feePageRender(c, http.StatusOK, b, "")
}

// payFee creates (once) the fee's debt position and sends the citizen to it, where
// they pay online with pagoPA or download the notice.
func (m *Module) payFee(c echo.Context) error {
	b, err := m.feeBooking(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if !b.Active() || !b.StartsAt.After(m.now()) {
		return m.feePageRender(c, http.StatusConflict, b, "payments.cie.not_payable")
	}
	v := web.CurrentViewer(c)
	name := strings.TrimSpace(b.Name)
	if name == "" {
		name = v.DisplayName
	}
	when := b.StartsAt.In(web.Rome).Format("02/01/2006 15:04")
	pos, err := m.pay.Request(ctx, payments.Request{
		Purpose: PurposeCIE, Ref: b.ID, PayerCF: b.CitizenCF, PayerName: name, AmountCents: m.settingsFor(ctx).CIEFeeCents,
		Causale: "Diritti per la carta d'identità elettronica - appuntamento del " + when,
		DueDate: b.StartsAt,
	}, payments.Actor{Kind: audit.ActorCitizen, ID: v.FiscalCode, IP: c.RealIP(), RequestID: web.RequestID(c)})
	if err != nil {
		if pos == nil {
			m.log.WarnContext(ctx, "appuntamenti: CIE fee position", "booking", b.ID, "err", err)
			return m.feePageRender(c, http.StatusServiceUnavailable, b, "payments.error.unavailable")
		}
	}
	return c.Redirect(http.StatusSeeOther, payments.CitizenPath(pos.ID))
}

// FeeStates returns, for the CIE bookings among bs, the message key of their fee:
// paid online, or to be paid at the desk (no position, or one not paid yet).
func (m *Module) FeeStates(ctx context.Context, bs []Booking) (map[string]string, error) {
	out := map[string]string{}
	if !m.FeeOnline(ctx) {
		return out, nil
	}
	var ids []string
	for _, b := range bs {
		if b.Service == ServiceCIE {
			ids = append(ids, b.ID)
			out[b.ID] = "payments.cie.desk"
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	var paid []string
	if err := m.pay.Store(ctx).Model(&payments.Position{}).Where("purpose = ? AND ref IN ? AND state = ?",
		PurposeCIE, ids, payments.Paid).Pluck("ref", &paid).Error; err != nil {
		return nil, err
	}
	for _, id := range paid {
		out[id] = "payments.cie.paid"
	}
	return out, nil
}

// carryFee passes the fee of booking from to booking to (a move), in the move's
// transaction.
func (m *Module) carryFee(ctx context.Context, tx *gorm.DB, from, to, by string) error {
	if m.pay == nil {
		return nil
	}
	return m.pay.MoveRef(ctx, tx, PurposeCIE, from, to, payments.Actor{Kind: audit.ActorCitizen, ID: by})
}

// CancelOrphanFees withdraws the unpaid CIE fees of cancelled bookings (by the
// citizen, the desk, a closure or a missed confirmation) in every ente: on pagoPA and
// here, with the reason the citizen sees. A fee paid meanwhile is recorded as paid
// instead (payments.Cancel asks pagoPA first) and stays in "I miei pagamenti".
func (m *Module) CancelOrphanFees(ctx context.Context, _ time.Time) error {
	if m.pay == nil {
		return nil
	}
	return m.forEachEnte(ctx, func(ctx context.Context) error {
		var ids []string
		cancelled := m.store(ctx).Model(&Booking{}).Select("id").Where("status <> ?", StatusBooked)
		if err := m.pay.Store(ctx).Model(&payments.Position{}).
			Where("purpose = ? AND state IN ? AND ref IN (?)", PurposeCIE, []payments.State{payments.Created, payments.Published}, cancelled).
			Pluck("id", &ids).Error; err != nil {
			return err
		}
		var errs []error
		for _, id := range ids {
			_, err := m.pay.Cancel(ctx, id, "Appuntamento annullato", payments.Actor{Kind: audit.ActorSystem, ID: ID + "/diritti"})
			if err != nil && !errors.Is(err, payments.ErrState) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}
