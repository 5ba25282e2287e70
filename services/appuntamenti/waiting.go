package appuntamenti

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// Waiting-list statuses. A waiter in line is "waiting"; when a place frees it is
// "offered" the place, which stays held for it (the slot's counter is not lowered)
// until OfferHold passes; then the place goes to the next in line, or is released.
const (
	WaitWaiting  = "waiting"
	WaitOffered  = "offered"
	WaitAccepted = "accepted"
	WaitExpired  = "expired"
)

// OfferHold is how long a freed place is held for the waiter it is offered to.
const OfferHold = 2 * time.Hour

// Waiter is a citizen in the waiting list of an office and service: they want an
// earlier slot than the one they have (or any slot, if they have none).
type Waiter struct {
	EnteID       string `gorm:"primaryKey"`
	ID           string `gorm:"primaryKey"`
	OfficeID     string
	Service      string
	CitizenCF    string `gorm:"column:citizen_cf"`
	Name         string
	Email        string
	Status       string
	CreatedAt    time.Time
	OfferStart   *time.Time
	OfferExpires *time.Time
	// Offers counts the places offered to the waiter and not taken.
	Offers int
	// Lang is the citizen's language (see Booking.Lang).
	Lang string
}

// TableName fixes the table name.
func (Waiter) TableName() string { return "appt_waiters" }

// ErrOfferGone: the offer expired or was taken already.
var ErrOfferGone = errors.New("appuntamenti: the offer is no longer valid")

// offerFreed is called in the transaction that frees a place of slot (office, service,
// start): the first waiter in line who has no booking at or before start is offered
// the place, which stays held; without one the place is released. It returns the
// waiter offered, if any (the caller mails them after commit).
func (m *Module) offerFreed(tx *gorm.DB, officeID, service string, start, now time.Time) (*Waiter, error) {
	lead := m.settingsFor(tx.Statement.Context).minLead()
	if start.After(now.Add(lead)) {
		var line []Waiter
		if err := tx.Where("office_id = ? AND service = ? AND status = ?", officeID, service, WaitWaiting).
			Order("created_at, id").Limit(20).Find(&line).Error; err != nil {
			return nil, err
		}
		for _, w := range line {
			// Someone whose own booking is at or before the freed slot gains nothing.
			var n int64
			if err := tx.Model(&Booking{}).Where("citizen_cf = ? AND service = ? AND status = ? AND starts_at <= ?",
				w.CitizenCF, service, StatusBooked, start).Count(&n).Error; err != nil {
				return nil, err
			}
			if n > 0 {
				continue
			}
			exp := now.Add(OfferHold)
			if exp.After(start.Add(-lead)) {
				exp = start.Add(-lead)
			}
			res := tx.Model(&Waiter{}).Where("id = ? AND status = ?", w.ID, WaitWaiting).
				Updates(map[string]any{"status": WaitOffered, "offer_start": start, "offer_expires": exp})
			if res.Error != nil {
				return nil, res.Error
			}
			if res.RowsAffected == 1 {
				w.Status, w.OfferStart, w.OfferExpires = WaitOffered, &start, &exp
				return &w, nil
			}
		}
	}
	return nil, tx.Model(&Slot{}).Where("office_id = ? AND service = ? AND starts_at = ? AND booked > 0", officeID, service, start).
		Update("booked", gorm.Expr("booked - 1")).Error
}

// Join puts a citizen in line for an office and service.
func (m *Module) Join(ctx context.Context, officeID, service, cf, name, email, lang string) (*Waiter, error) {
	if _, err := m.schedule(ctx, officeID, service); err != nil {
		return nil, err
	}
	id, err := stamp.NewCode()
	if err != nil {
		return nil, err
	}
	w := &Waiter{ID: id, OfficeID: officeID, Service: service, CitizenCF: cf, Name: name, Email: email,
		Status: WaitWaiting, CreatedAt: m.now().UTC(), Lang: mailLang(lang)}
	if err := m.store(ctx).Create(w).Error; err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return nil, ErrAlreadyBooked
		}
		return nil, err
	}
	return w, nil
}

// Accept turns an offer into the citizen's booking: the held place becomes theirs and
// their previous booking for the service, if any, is cancelled (its place offered to
// the next in line). Exactly one Accept of an offer succeeds, and none after expiry.
func (m *Module) Accept(ctx context.Context, waiterID, cf string, notify func(tx *gorm.DB, b *Booking) error) (*Booking, *Waiter, error) {
	now := m.now().UTC()
	var b *Booking
	var next *Waiter
	err := m.store(ctx).Transaction(func(tx *gorm.DB) error {
		// Write first (see cancelTx), then read.
		res := tx.Model(&Waiter{}).Where("id = ? AND citizen_cf = ? AND status = ? AND offer_expires > ?", waiterID, cf, WaitOffered, now).
			Update("status", WaitAccepted)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrOfferGone
		}
		var w Waiter
		if err := tx.Where("id = ?", waiterID).Take(&w).Error; err != nil {
			return err
		}
		var old Booking
		err := tx.Where("citizen_cf = ? AND service = ? AND status = ?", cf, w.Service, StatusBooked).Take(&old).Error
		switch {
		case err == nil:
			if err := tx.Model(&Booking{}).Where("id = ? AND status = ?", old.ID, StatusBooked).Updates(map[string]any{
				"status": StatusCancelled, "cancelled_at": now, "cancel_reason": "waiting_list", "cancelled_by": cf}).Error; err != nil {
				return err
			}
			if next, err = m.offerFreed(tx, old.OfficeID, old.Service, old.StartsAt, now); err != nil {
				return err
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		s, err := loadSchedule(tx, w.OfficeID, w.Service)
		if err != nil {
			return err
		}
		id, err := stamp.NewCode()
		if err != nil {
			return err
		}
		// The held place gets a desk: the slot's row is locked first, as in takePlace.
		if err := tx.Model(&Slot{}).Where("office_id = ? AND service = ? AND starts_at = ?", w.OfficeID, w.Service, w.OfferStart.UTC()).
			Update("booked", gorm.Expr("booked")).Error; err != nil {
			return err
		}
		desk, err := freeDesk(tx, w.OfficeID, w.Service, w.OfferStart.UTC())
		if err != nil {
			return err
		}
		b = &Booking{ID: id, OfficeID: w.OfficeID, Service: w.Service, StartsAt: w.OfferStart.UTC(), Desk: desk,
			EndsAt: w.OfferStart.UTC().Add(s.Length()), CitizenCF: cf, Name: w.Name, Email: w.Email, Status: StatusBooked, CreatedAt: now, Lang: w.Lang,
			ConfirmBy: m.settingsFor(ctx).confirmBy(w.OfferStart.UTC(), now)}
		if err := tx.Create(b).Error; err != nil { // the place is the one held: no counter change
			return err
		}
		if notify != nil {
			return notify(tx, b)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return b, next, nil
}

// ExpireOffers passes every expired offer to the next in line (or releases the place)
// and mails the new offers: the job appuntamenti/offerte, per ente.
func (m *Module) ExpireOffers(ctx context.Context, now time.Time) error {
	return m.forEachEnte(ctx, func(ctx context.Context) error {
		var due []Waiter
		if err := m.store(ctx).Where("status = ? AND offer_expires <= ?", WaitOffered, now.UTC()).Limit(500).Find(&due).Error; err != nil {
			return err
		}
		var errs []error
		for _, w := range due {
			var next *Waiter
			err := m.store(ctx).Transaction(func(tx *gorm.DB) error {
				res := tx.Model(&Waiter{}).Where("id = ? AND status = ? AND offer_expires <= ?", w.ID, WaitOffered, now.UTC()).
					Updates(map[string]any{"status": WaitExpired, "offers": gorm.Expr("offers + 1")})
				if res.Error != nil || res.RowsAffected != 1 {
					return res.Error // accepted or passed on by another run
				}
				var err error
				next, err = m.offerFreed(tx, w.OfficeID, w.Service, w.OfferStart.UTC(), now)
				return err
			})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if next != nil {
				if err := m.mailOffer(ctx, next); err != nil {
					errs = append(errs, err)
				}
			}
		}
		return errors.Join(errs...)
	})
}

// mailOffer tells a waiter a place is held for them.
func (m *Module) mailOffer(ctx context.Context, w *Waiter) error {
	lang := mailLang(w.Lang)
	o, err := m.officeOf(ctx, w.OfficeID)
	if err != nil {
		return err
	}
	tr := func(k string) string {
		return m.i18n.T(lang, k, "Service", m.i18n.T(lang, "appuntamenti.service."+w.Service), "When", when(*w.OfferStart, lang),
			"Office", o.Name, "Until", when(*w.OfferExpires, lang), "Link", m.baseURL(ctx)+base+"/offerta/"+w.ID)
	}
	_, err = m.mail.Enqueue(ctx, m.store(ctx), notifyMessage(w.Email, w.Name, tr("appuntamenti.mail.offer.subject"),
		tr("appuntamenti.mail.offer.text"), ID+".offer", w.CitizenCF))
	return err
}

func (m *Module) joinHandler(c echo.Context) error {
	ctx := c.Request().Context()
	v := web.CurrentViewer(c)
	ch := readChoice(c)
	email := strings.TrimSpace(c.FormValue("email"))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return web.NewError(http.StatusUnprocessableEntity, "appuntamenti.error.email")
	}
	_, err := m.Join(ctx, ch.Office, ch.Service, v.FiscalCode, v.DisplayName, email, web.Lang(c))
	switch {
	case errors.Is(err, ErrAlreadyBooked):
		return web.NewError(http.StatusConflict, "appuntamenti.error.already_waiting")
	case errors.Is(err, store.ErrNotFound) || !validService(ch.Service):
		return web.ErrNotFound
	case err != nil:
		return err
	}
	web.AddFlash(c, "success", "appuntamenti.flash.waiting")
	return web.Redirect(c, base+"/miei")
}

func (m *Module) ownOffer(c echo.Context) (*Waiter, error) {
	v := web.CurrentViewer(c)
	var w Waiter
	err := m.store(c.Request().Context()).Where("id = ? AND citizen_cf = ?", c.Param("id"), v.FiscalCode).Take(&w).Error
	if errors.Is(err, store.ErrNotFound) {
		return nil, m.denied(c, c.Param("id"))
	}
	return &w, err
}

func (m *Module) offerPage(c echo.Context) error {
	w, err := m.ownOffer(c)
	if err != nil {
		return err
	}
	o, err := m.officeOf(c.Request().Context(), w.OfficeID)
	if err != nil {
		return err
	}
	live := w.Status == WaitOffered && w.OfferExpires != nil && w.OfferExpires.After(m.now())
	data := map[string]any{"W": w, "Office": o, "Service": m.serviceView(c.Request().Context(), w.Service), "Live": live}
	if live {
		data["Start"], data["Until"] = *w.OfferStart, *w.OfferExpires
	}
	return m.render.Render(c, http.StatusOK, ID+"/offer.html", data)
}

func (m *Module) acceptHandler(c echo.Context) error {
	ctx := c.Request().Context()
	w, err := m.ownOffer(c)
	if err != nil {
		return err
	}
	b, next, err := m.Accept(ctx, w.ID, w.CitizenCF, m.bookedMail(ctx, web.Lang(c), false))
	if errors.Is(err, ErrOfferGone) {
		return web.NewError(http.StatusConflict, "appuntamenti.error.offer_gone")
	} else if err != nil {
		return err
	}
	if next != nil {
		if err := m.mailOffer(ctx, next); err != nil {
			m.log.ErrorContext(ctx, "offer mail not queued", "waiter", next.ID, "err", err)
		}
	}
	web.AddFlash(c, "success", "appuntamenti.flash.booked")
	return web.Redirect(c, base+"/prenotazione/"+b.ID)
}
