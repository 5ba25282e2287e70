package appuntamenti

import (
	"context"
	"errors"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// ErrConfirmLate: the confirmation deadline has passed (the booking is, or is about
// to be, released).
var ErrConfirmLate = errors.New("appuntamenti: the confirmation deadline has passed")

// Confirm records the citizen's confirmation of booking id (cf, when not empty, must
// be its citizen). It is one conditional UPDATE (active, not confirmed, deadline not
// passed), the same row the release job updates under the opposite condition, so a
// booking ends confirmed or released, never both. A second confirmation of a
// confirmed booking succeeds without change (changed false).
func (m *Module) Confirm(ctx context.Context, id, cf string) (changed bool, err error) {
	now := m.now().UTC()
	db := m.store(ctx)
	q := db.Model(&Booking{}).Where("id = ? AND status = ? AND confirmed_at IS NULL AND confirm_by > ?", id, StatusBooked, now)
	if cf != "" {
		q = q.Where("citizen_cf = ?", cf)
	}
	res := q.Update("confirmed_at", now)
	if res.Error != nil {
		return false, res.Error
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	b, err := m.booking(ctx, id, cf)
	switch {
	case err != nil:
		return false, err
	case !b.Active():
		return false, ErrNotActive
	case b.ConfirmBy == nil || b.ConfirmedAt != nil:
		return false, nil // nothing to confirm, or confirmed already
	default:
		return false, ErrConfirmLate
	}
}

// ConfirmJob is the job appuntamenti/conferme, per ente: it asks for the
// confirmations due (AskConfirmations), releases the bookings whose deadline has
// passed unconfirmed (ReleaseUnconfirmed) and forgets the spent links and counters of
// the bookings without an account (PurgeGuest).
func (m *Module) ConfirmJob(ctx context.Context, now time.Time) error {
	return m.forEachEnte(ctx, func(ctx context.Context) error {
		return errors.Join(m.AskConfirmations(ctx, now), m.ReleaseUnconfirmed(ctx, now), m.PurgeGuest(ctx, now))
	})
}

// GuestKeep is how long an expired link of a booking without an account is kept
// (its hash, to answer "already used" rather than "unknown").
const GuestKeep = 30 * 24 * time.Hour

// PurgeGuest deletes the links expired for more than GuestKeep and the request
// counters whose window is long over, for the ente of ctx.
func (m *Module) PurgeGuest(ctx context.Context, now time.Time) error {
	db := m.store(ctx)
	if err := db.Where("expires_at < ?", now.Add(-GuestKeep).UTC()).Delete(&GuestToken{}).Error; err != nil {
		return err
	}
	return db.Where("window_start < ?", now.Add(-2*GuestEmailWindow).UTC()).Delete(&guestLimit{}).Error
}

// AskConfirmations mails, once per booking (conditional UPDATE of confirm_asked_at),
// the request to confirm to every booking whose deadline falls within ConfirmNotice.
// For the ente of ctx.
func (m *Module) AskConfirmations(ctx context.Context, now time.Time) error {
	now = now.UTC()
	db := m.store(ctx)
	var due []Booking
	if err := db.Where("status = ? AND confirm_by > ? AND confirm_by <= ? AND confirmed_at IS NULL AND confirm_asked_at IS NULL",
		StatusBooked, now, now.Add(ConfirmNotice)).Order("confirm_by").Limit(1000).Find(&due).Error; err != nil {
		return err
	}
	var errs []error
	for _, b := range due {
		err := db.Transaction(func(tx *gorm.DB) error {
			res := tx.Model(&Booking{}).Where("id = ? AND status = ? AND confirmed_at IS NULL AND confirm_asked_at IS NULL", b.ID, StatusBooked).
				Update("confirm_asked_at", now)
			if res.Error != nil || res.RowsAffected != 1 {
				return res.Error
			}
			var o Office
			if err := tx.Where("id = ?", b.OfficeID).Take(&o).Error; err != nil {
				return err
			}
			msg, err := m.bookingMail(ctx, tx, b, o, "confirm", mailLang(b.Lang), false)
			if err != nil {
				return err
			}
			_, err = m.mail.Enqueue(ctx, tx, msg)
			return err
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ReleaseUnconfirmed cancels every booking whose confirmation deadline has passed
// unconfirmed, frees its place for the waiting list (offerFreed: the first in line is
// offered it, or it is released) and mails the citizen. For the ente of ctx.
func (m *Module) ReleaseUnconfirmed(ctx context.Context, now time.Time) error {
	now = now.UTC()
	db := m.store(ctx)
	var due []Booking
	if err := db.Where("status = ? AND confirm_by <= ? AND confirmed_at IS NULL", StatusBooked, now).
		Order("confirm_by").Limit(1000).Find(&due).Error; err != nil {
		return err
	}
	var errs []error
	for _, b := range due {
		var next *Waiter
		err := db.Transaction(func(tx *gorm.DB) error {
			// Write first (see cancelTx), under the condition Confirm's UPDATE negates.
			res := tx.Model(&Booking{}).Where("id = ? AND status = ? AND confirmed_at IS NULL AND confirm_by <= ?", b.ID, StatusBooked, now).
				Updates(map[string]any{"status": StatusCancelled, "cancelled_at": now, "cancel_reason": "unconfirmed", "cancelled_by": "system"})
			if res.Error != nil || res.RowsAffected != 1 {
				return res.Error // confirmed meanwhile, or released by another run
			}
			var err error
			if next, err = m.offerFreed(tx, b.OfficeID, b.Service, b.StartsAt, now); err != nil {
				return err
			}
			var o Office
			if err := tx.Where("id = ?", b.OfficeID).Take(&o).Error; err != nil {
				return err
			}
			b.Status = StatusCancelled
			msg, err := m.bookingMail(ctx, tx, b, o, "released", mailLang(b.Lang), false)
			if err != nil {
				return err
			}
			_, err = m.mail.Enqueue(ctx, tx, msg)
			return err
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.offerMail(ctx, next)
	}
	return errors.Join(errs...)
}

func (m *Module) confirmHandler(c echo.Context) error {
	b, err := m.own(c)
	if err != nil {
		return err
	}
	_, err = m.Confirm(c.Request().Context(), b.ID, b.CitizenCF)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return web.ErrNotFound
	case err != nil:
		return refusal(err)
	}
	web.AddFlash(c, "success", "appuntamenti.flash.confirmed")
	return web.Redirect(c, base+"/prenotazione/"+b.ID)
}
