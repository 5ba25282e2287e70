package appuntamenti

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// ErrBadDesks: the number of desks is out of range (1-100).
var ErrBadDesks = errors.New("appuntamenti: desks must be 1-100")

// SetDesks changes how many desks serve a service at an office from now on: new slots
// get the new capacity, and so do the future slots already counted, except those
// holding more bookings than the new capacity (they keep theirs, full, and are
// returned for the desk to reschedule; nothing is cancelled by a capacity change).
// Places added to future slots are offered to the waiting list by the usual path only
// when a booking is cancelled: a new place is simply free.
func (m *Module) SetDesks(ctx context.Context, officeID, service string, desks int) (over []Slot, err error) {
	if desks < 1 || desks > 100 {
		return nil, ErrBadDesks
	}
	now := m.now().UTC()
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
	return over, err
}

// capacityAt is the capacity a slot counter holds, for tests and the agenda.
func (m *Module) capacityAt(ctx context.Context, officeID, service string, start time.Time) (Slot, error) {
	var s Slot
	err := m.store(ctx).Where("office_id = ? AND service = ? AND starts_at = ?", officeID, service, start.UTC()).Take(&s).Error
	return s, err
}
