package appuntamenti

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/store"
)

// ErrBadDesks: the number of desks is out of range (1-100).
var ErrBadDesks = errors.New("appuntamenti: desks must be 1-100")

// SetDesks changes how many desks serve a service at an office from now on: new slots
// get the new capacity, and so do the future slots already counted, except those
// holding more bookings than the new capacity (they keep theirs, full, and are
// returned for the desk to reschedule; nothing is cancelled by a capacity change).
// When the desks grow, the free places are offered to the waiting list, earliest
// first (offerNewPlaces).
func (m *Module) SetDesks(ctx context.Context, officeID, service string, desks int) (over []Slot, err error) {
	if desks < 1 || desks > 100 {
		return nil, ErrBadDesks
	}
	now := m.now().UTC()
	var before OfficeService
	if err := m.store(ctx).Where("office_id = ? AND service = ?", officeID, service).Take(&before).Error; err != nil {
		return nil, err
	}
	err = m.store(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&OfficeService{}).Where("office_id = ? AND service = ?", officeID, service).Update("desks", desks)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return gorm.ErrRecordNotFound
		}
		// One conditional UPDATE: a slot booked beyond the new capacity is left alone,
		// so booked <= capacity holds throughout (the CHECK constraint stands behind it).
		if err := tx.Model(&Slot{}).Where("office_id = ? AND service = ? AND starts_at > ? AND booked <= ?",
			officeID, service, now, desks).Update("capacity", desks).Error; err != nil {
			return err
		}
		return tx.Where("office_id = ? AND service = ? AND starts_at > ? AND booked > ?", officeID, service, now, desks).
			Order("starts_at").Find(&over).Error
	})
	if err == nil && desks > before.Desks {
		_, err = m.offerNewPlaces(ctx, officeID, service, now, farFuture)
	}
	return over, err
}

// farFuture bounds "from now on" (the horizon cuts the walk well before).
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// holdPlace takes one place of a slot for the waiting list (creating its counter with
// desks places if needed), with the conditional UPDATE of takePlace; false when the
// slot is full.
func holdPlace(tx *gorm.DB, officeID, service string, start time.Time, desks int) (bool, error) {
	slot := Slot{OfficeID: officeID, Service: service, StartsAt: start.UTC(), Capacity: desks}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&slot).Error; err != nil {
		return false, err
	}
	res := tx.Model(&Slot{}).Where("office_id = ? AND service = ? AND starts_at = ? AND booked < capacity", officeID, service, start.UTC()).
		Update("booked", gorm.Expr("booked + 1"))
	return res.RowsAffected == 1, res.Error
}

// offerNewPlaces offers the free places of an office's service that start between from
// and to, earliest first, to its waiting list, through the path of a cancelled
// booking: each place is held (holdPlace) and passed to offerFreed, which offers it to
// the first in line who gains by it, or releases it. The walk stops at the first place
// nobody in line can use: a later place suits fewer of them still (a waiter gains only
// by a place before their own booking). It returns the offers made; each is mailed.
func (m *Module) offerNewPlaces(ctx context.Context, officeID, service string, from, to time.Time) (int, error) {
	s, err := m.schedule(ctx, officeID, service)
	if err != nil {
		return 0, err
	}
	now := m.now().UTC()
	var waiting int64
	if err := m.store(ctx).Model(&Waiter{}).Where("office_id = ? AND service = ? AND status = ?", officeID, service, WaitWaiting).
		Count(&waiting).Error; err != nil || waiting == 0 {
		return 0, err
	}
	days, err := m.Availability(ctx, s, now)
	if err != nil {
		return 0, err
	}
	offered := 0
	for _, d := range days {
		for _, fs := range d.Slots {
			// offerFreed offers only places starting after the minimum lead.
			if fs.Start.Before(from) || !fs.Start.Before(to) || !fs.Start.After(now.Add(m.settingsFor(ctx).minLead())) {
				continue
			}
			for range fs.Free {
				var w *Waiter
				held := false
				err := m.store(ctx).Transaction(func(tx *gorm.DB) error {
					var err error
					if held, err = holdPlace(tx, officeID, service, fs.Start, s.Service.Desks); err != nil || !held {
						return err
					}
					w, err = m.offerFreed(tx, officeID, service, fs.Start, now)
					return err
				})
				switch {
				case err != nil:
					return offered, err
				case !held:
					continue // booked meanwhile
				case w == nil:
					return offered, nil
				}
				m.offerMail(ctx, w)
				offered++
			}
		}
	}
	return offered, nil
}

// ErrBadHours: an opening interval that is not HH:MM-HH:MM, ends before it opens or
// overlaps one of the same day.
var ErrBadHours = errors.New("appuntamenti: opening hours not valid")

// AddHours adds a weekly opening interval of an office for a service and offers the
// places it opens to the waiting list.
func (m *Module) AddHours(ctx context.Context, h Hours) (int, error) {
	oh, om, err1 := clock(h.Opens)
	ch, cm, err2 := clock(h.Closes)
	if err1 != nil || err2 != nil || h.Weekday < 1 || h.Weekday > 7 || oh*60+om >= ch*60+cm {
		return 0, ErrBadHours
	}
	s, err := m.schedule(ctx, h.OfficeID, h.Service)
	if err != nil {
		return 0, err
	}
	for _, o := range s.Hours {
		if o.Weekday == h.Weekday && o.Opens < h.Closes && h.Opens < o.Closes {
			return 0, ErrBadHours
		}
	}
	if err := m.store(ctx).Create(&Hours{OfficeID: h.OfficeID, Service: h.Service, Weekday: h.Weekday, Opens: h.Opens, Closes: h.Closes}).Error; err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return 0, ErrBadHours
		}
		return 0, err
	}
	return m.offerNewPlaces(ctx, h.OfficeID, h.Service, m.now().UTC(), farFuture)
}

// RemoveClosure deletes a closure (a strike called off) and offers the places it
// reopens, service by service, to the waiting lists. It returns the closure removed.
func (m *Module) RemoveClosure(ctx context.Context, id string) (*Closure, int, error) {
	var cl Closure
	if err := m.store(ctx).Where("id = ?", id).Take(&cl).Error; err != nil {
		return nil, 0, err
	}
	res := m.store(ctx).Where("id = ?", id).Delete(&Closure{})
	if res.Error != nil {
		return nil, 0, res.Error
	}
	if res.RowsAffected != 1 {
		return nil, 0, store.ErrNotFound
	}
	var svcs []OfficeService
	if err := m.store(ctx).Where("office_id = ?", cl.OfficeID).Find(&svcs).Error; err != nil {
		return &cl, 0, err
	}
	total := 0
	for _, s := range svcs {
		n, err := m.offerNewPlaces(ctx, cl.OfficeID, s.Service, cl.StartsAt, cl.EndsAt)
		total += n
		if err != nil {
			return &cl, total, err
		}
	}
	return &cl, total, nil
}

// capacityAt is the capacity a slot counter holds, for tests and the agenda.
func (m *Module) capacityAt(ctx context.Context, officeID, service string, start time.Time) (Slot, error) {
	var s Slot
	err := m.store(ctx).Where("office_id = ? AND service = ? AND starts_at = ?", officeID, service, start.UTC()).Take(&s).Error
	return s, err
}
