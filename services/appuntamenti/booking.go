package appuntamenti

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
)

// Booking refusals. Each is a clear answer to the citizen, never a 5xx.
var (
	// ErrSlotFull: the slot's last place was taken by someone else.
	ErrSlotFull = errors.New("appuntamenti: slot no longer available")
	// ErrAlreadyBooked: the citizen holds an active booking for the service.
	ErrAlreadyBooked = errors.New("appuntamenti: an active booking for this service exists")
	// ErrNotBookable: the time is not a slot of the office (closed, past, beyond the
	// horizon, not on the schedule).
	ErrNotBookable = errors.New("appuntamenti: not a bookable slot")
	// ErrTooLate: the booking starts too soon to be moved or cancelled online.
	ErrTooLate = errors.New("appuntamenti: too late to change the booking")
	// ErrNotActive: the booking was already cancelled or used.
	ErrNotActive = errors.New("appuntamenti: booking not active")
)

// Schedule is what the availability of one office and service depends on.
type Schedule struct {
	Office  Office
	Service OfficeService
	Hours   []Hours
}

// Length is the slot length.
func (s Schedule) Length() time.Duration { return time.Duration(s.Service.SlotMinutes) * time.Minute }

// schedule loads the office's schedule for service (store.ErrNotFound when the
// office does not offer it).
func (m *Module) schedule(ctx context.Context, officeID, service string) (*Schedule, error) {
	return loadSchedule(m.store(ctx), officeID, service)
}

// loadSchedule is schedule on db (a transaction's handle, so that a transaction never
// waits for a second connection of the pool).
func loadSchedule(db *gorm.DB, officeID, service string) (*Schedule, error) {
	var s Schedule
	if err := db.Where("id = ?", officeID).Take(&s.Office).Error; err != nil {
		return nil, err
	}
	if err := db.Where("office_id = ? AND service = ?", officeID, service).Take(&s.Service).Error; err != nil {
		return nil, err
	}
	if err := db.Where("office_id = ? AND service = ?", officeID, service).Order("weekday, opens").Find(&s.Hours).Error; err != nil {
		return nil, err
	}
	return &s, nil
}

// policy returns the rules for an office.
func (m *Module) policy(ctx context.Context, o Office) Policy {
	s := m.settingsFor(ctx)
	return Policy{MinLead: s.minLead(), CancelBefore: s.cancelBefore(), HorizonDays: o.HorizonDays}
}

// FreeSlot is one bookable slot with its free places.
type FreeSlot struct {
	Start time.Time
	Free  int
}

// FreeDay is a day with at least one free place.
type FreeDay struct {
	Day   Day
	Slots []FreeSlot
	Free  int
}

// Availability lists, day by day from today to the horizon, the slots with free
// places. It reads the schedule, the closures and the booked counts in three
// queries, however many days and desks.
func (m *Module) Availability(ctx context.Context, s *Schedule, now time.Time) ([]FreeDay, error) {
	p := m.policy(ctx, s.Office)
	from, to := now.UTC(), p.HorizonEnd(now).UTC()
	db := m.store(ctx)
	var cs []Closure
	if err := db.Where("office_id = ? AND ends_at > ? AND starts_at < ?", s.Office.ID, from, to).Find(&cs).Error; err != nil {
		return nil, err
	}
	var rows []Slot
	if err := db.Where("office_id = ? AND service = ? AND starts_at >= ? AND starts_at < ?", s.Office.ID, s.Service.Service, from, to).
		Find(&rows).Error; err != nil {
		return nil, err
	}
	booked := make(map[int64]Slot, len(rows))
	for _, r := range rows {
		booked[r.StartsAt.Unix()] = r
	}
	var out []FreeDay
	length := s.Length()
	for d := DayOf(now); d.Start().Before(to); d = d.Next() {
		starts, err := DaySlots(d, s.Hours, length)
		if err != nil {
			return nil, err
		}
		fd := FreeDay{Day: d}
		for _, t := range starts {
			if p.Bookable(now, t, length, cs) != "" {
				continue
			}
			free := s.Service.Desks
			if r, ok := booked[t.Unix()]; ok {
				free = r.Capacity - r.Booked
			}
			if free > 0 {
				fd.Slots = append(fd.Slots, FreeSlot{Start: t, Free: free})
				fd.Free += free
			}
		}
		if len(fd.Slots) > 0 {
			out = append(out, fd)
		}
	}
	return out, nil
}

// FirstFree returns the first free slot, or nil when none is free up to the horizon.
func (m *Module) FirstFree(ctx context.Context, s *Schedule, now time.Time) (*time.Time, error) {
	days, err := m.Availability(ctx, s, now)
	if err != nil || len(days) == 0 {
		return nil, err
	}
	t := days[0].Slots[0].Start
	return &t, nil
}

// checkSlot returns nil when start is a slot of the schedule that the policy allows
// at now, else an error wrapping ErrNotBookable.
func (m *Module) checkSlot(ctx context.Context, s *Schedule, start, now time.Time) error {
	starts, err := DaySlots(DayOf(start), s.Hours, s.Length())
	if err != nil {
		return err
	}
	found := false
	for _, t := range starts {
		if t.Equal(start) {
			found = true
			break
		}
	}
	if !found {
		return fmt.Errorf("%w: not on the schedule", ErrNotBookable)
	}
	var cs []Closure
	if err := m.store(ctx).Where("office_id = ? AND ends_at > ? AND starts_at < ?", s.Office.ID, start.UTC(),
		start.Add(s.Length()).UTC()).Find(&cs).Error; err != nil {
		return err
	}
	if why := m.policy(ctx, s.Office).Bookable(now, start, s.Length(), cs); why != "" {
		return fmt.Errorf("%w: %s", ErrNotBookable, why)
	}
	return nil
}

// Request asks for one booking.
type Request struct {
	OfficeID, Service string
	Start             time.Time
	CitizenCF, Name   string
	Email             string
	// Replaces is the id of the citizen's booking this one moves (cancelled in the same
	// transaction), or "".
	Replaces string
	// By names who acts, for the cancellation of a moved booking ("citizen").
	By string
	// Lang is the citizen's language, for the later mails.
	Lang string
	// Guest marks a booking made without an account.
	Guest bool
	// Before, when set, runs first in the booking's transaction (a guest's
	// confirmation link is spent there, so that link and booking commit together).
	Before func(tx *gorm.DB, b *Booking) error
	// Notify, when set, runs in the booking's transaction once the place is taken (the
	// confirmation mail is queued there, so that booking and mail commit together).
	Notify func(tx *gorm.DB, b *Booking) error
}

// Book takes one place of a slot for a citizen. The place is taken with a conditional
// UPDATE (booked < capacity) and the booking inserted in the same transaction under
// the unique index "one active booking per citizen and service": concurrent attempts
// on the last place get ErrSlotFull, a second booking ErrAlreadyBooked, on both
// dialects and without SELECT ... FOR UPDATE.
func (m *Module) Book(ctx context.Context, r Request) (*Booking, error) {
	now := m.now().UTC()
	s, err := m.schedule(ctx, r.OfficeID, r.Service)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: no such office or service", ErrNotBookable)
		}
		return nil, err
	}
	start := r.Start.UTC()
	if err := m.checkSlot(ctx, s, start, now); err != nil {
		return nil, err
	}
	first, err := m.FirstFree(ctx, s, now)
	if err != nil {
		return nil, err
	}
	id, err := stamp.NewCode()
	if err != nil {
		return nil, err
	}
	b := &Booking{ID: id, OfficeID: s.Office.ID, Service: r.Service, StartsAt: start, EndsAt: start.Add(s.Length()),
		CitizenCF: r.CitizenCF, Name: r.Name, Email: r.Email, Status: StatusBooked, Lang: mailLang(r.Lang), Guest: r.Guest, CreatedAt: now, FirstFreeAt: first,
		ConfirmBy: m.settingsFor(ctx).confirmBy(start, now)}
	var next *Waiter
	err = m.store(ctx).Transaction(func(tx *gorm.DB) error {
		if r.Before != nil {
			if err := r.Before(tx, b); err != nil {
				return err
			}
		}
		if r.Replaces != "" {
			var err error
			if next, err = m.cancelTx(tx, r.Replaces, r.CitizenCF, now, "moved", r.By, true); err != nil {
				return err
			}
		}
		if err := takePlace(tx, b, s.Service.Desks); err != nil {
			return err
		}
		if r.Replaces != "" {
			if err := m.carryFee(ctx, tx, r.Replaces, b.ID, r.By); err != nil {
				return err
			}
		}
		if r.Notify != nil {
			return r.Notify(tx, b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.offerMail(ctx, next)
	return b, nil
}

// takePlace creates the slot's counter if needed, takes a place if one is free and
// inserts the booking: all in tx.
func takePlace(tx *gorm.DB, b *Booking, desks int) error {
	slot := Slot{OfficeID: b.OfficeID, Service: b.Service, StartsAt: b.StartsAt, Capacity: desks}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&slot).Error; err != nil {
		return err
	}
	res := tx.Model(&Slot{}).
		Where("office_id = ? AND service = ? AND starts_at = ? AND booked < capacity", b.OfficeID, b.Service, b.StartsAt).
		Update("booked", gorm.Expr("booked + 1"))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return ErrSlotFull
	}
	var err error
	if b.Desk, err = freeDesk(tx, b.OfficeID, b.Service, b.StartsAt); err != nil {
		return err
	}
	if err := tx.Create(b).Error; err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return ErrAlreadyBooked
		}
		return err
	}
	return nil
}

// freeDesk returns the lowest desk number no active booking of the slot holds. It runs
// after the slot's counter was updated in the same transaction: on PostgreSQL that row
// stays locked until commit, so the bookings of one slot choose their desks one after
// the other (and see each other's); SQLite runs one writer at a time. The partial
// unique index appt_bookings_desk stands behind it.
func freeDesk(tx *gorm.DB, officeID, service string, start time.Time) (int, error) {
	var taken []int
	if err := tx.Model(&Booking{}).Where("office_id = ? AND service = ? AND starts_at = ? AND status = ? AND desk > 0",
		officeID, service, start.UTC(), StatusBooked).Order("desk").Pluck("desk", &taken).Error; err != nil {
		return 0, err
	}
	n := 1
	for _, d := range taken {
		if d == n {
			n++
		} else if d > n {
			break
		}
	}
	return n, nil
}

// cancelTx cancels booking id in tx and frees its place. cf, when not empty, must be
// the booking's citizen (else store.ErrNotFound, as for a booking that does not exist).
// With citizen set the cancellation deadline applies.
func (m *Module) cancelTx(tx *gorm.DB, id, cf string, now time.Time, reason, by string, citizen bool) (*Waiter, error) {
	// The conditional UPDATE comes first: on SQLite a transaction that reads before
	// writing cannot wait for the write lock (SQLITE_BUSY at once under contention).
	q := tx.Model(&Booking{}).Where("id = ? AND status = ?", id, StatusBooked)
	if cf != "" {
		q = q.Where("citizen_cf = ?", cf)
	}
	if citizen {
		q = q.Where("starts_at >= ?", now.Add(m.settingsFor(tx.Statement.Context).cancelBefore()))
	}
	res := q.Updates(map[string]any{"status": StatusCancelled, "cancelled_at": now, "cancel_reason": reason, "cancelled_by": by})
	if res.Error != nil {
		return nil, res.Error
	}
	var b Booking
	get := tx.Where("id = ?", id)
	if cf != "" {
		get = get.Where("citizen_cf = ?", cf)
	}
	if err := get.Take(&b).Error; err != nil {
		return nil, err
	}
	if res.RowsAffected != 1 {
		if b.Active() {
			return nil, ErrTooLate
		}
		return nil, ErrNotActive
	}
	// The place goes to the first in the waiting list, held for them, or is released.
	return m.offerFreed(tx, b.OfficeID, b.Service, b.StartsAt, now)
}

// Cancel cancels a citizen's own booking (before the deadline). notify, when not nil,
// runs in the same transaction with the cancelled booking (the mail to the citizen).
func (m *Module) Cancel(ctx context.Context, id, cf string, notify func(tx *gorm.DB, b *Booking) error) (*Booking, error) {
	now := m.now().UTC()
	var next *Waiter
	err := m.store(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if next, err = m.cancelTx(tx, id, cf, now, "citizen", cf, true); err != nil || notify == nil {
			return err
		}
		var b Booking
		if err := tx.Where("id = ?", id).Take(&b).Error; err != nil {
			return err
		}
		return notify(tx, &b)
	})
	if err != nil {
		return nil, err
	}
	m.offerMail(ctx, next)
	return m.booking(ctx, id, cf)
}

// booking reads a booking; cf, when not empty, must be its citizen.
func (m *Module) booking(ctx context.Context, id, cf string) (*Booking, error) {
	var b Booking
	q := m.store(ctx).Where("id = ?", id)
	if cf != "" {
		q = q.Where("citizen_cf = ?", cf)
	}
	if err := q.Take(&b).Error; err != nil {
		return nil, err
	}
	return &b, nil
}

// Mine lists a citizen's bookings, the coming ones first, then the past ones.
func (m *Module) Mine(ctx context.Context, cf string) ([]Booking, error) {
	var out []Booking
	err := m.store(ctx).Where("citizen_cf = ?", cf).Order("starts_at DESC").Limit(100).Find(&out).Error
	return out, err
}

// offerMail mails w its offer (nothing when w is nil); a failure is logged: the offer
// stands and is visible in the citizen's area.
func (m *Module) offerMail(ctx context.Context, w *Waiter) {
	if w == nil || m.mail == nil || m.i18n == nil {
		return
	}
	if err := m.mailOffer(ctx, w); err != nil {
		m.log.ErrorContext(ctx, "offer mail not queued", "waiter", w.ID, "err", err)
	}
}
