package appuntamenti

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// A capacity change: more desks add places to counted slots; fewer desks lower the
// capacity where the bookings fit and list the slots where they do not, never
// cancelling a booking nor leaving booked above capacity.
func TestSetDesks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, db *gorm.DB) {
		m := storeModule(t, db, testNow)
		ctx := enteCtx("alfa")
		seedOffice(t, ctx, m, 2)
		a, b := romeAt(2026, 3, 24, 9, 10), romeAt(2026, 3, 24, 9, 30)
		n := 0
		book := func(start time.Time) error {
			n++
			_, err := m.Book(ctx, Request{OfficeID: "o", Service: ServiceCIE, Start: start, CitizenCF: cf(n), Email: "p@example.it"})
			return err
		}
		for _, s := range []time.Time{a, a, b} {
			if err := book(s); err != nil {
				t.Fatal(err)
			}
		}
		if err := book(a); !errors.Is(err, ErrSlotFull) {
			t.Fatalf("full slot: %v", err)
		}
		// Three desks: the full slot gains a place.
		if over, err := m.SetDesks(ctx, "o", ServiceCIE, 3); err != nil || len(over) != 0 {
			t.Fatalf("3 desks: %v %v", over, err)
		}
		if err := book(a); err != nil {
			t.Fatalf("added place: %v", err)
		}
		// One desk: 9:30 (1 booked) fits; 9:10 (3 booked) is listed and keeps its capacity.
		over, err := m.SetDesks(ctx, "o", ServiceCIE, 1)
		if err != nil || len(over) != 1 || !over[0].StartsAt.Equal(a) || over[0].Booked != 3 {
			t.Fatalf("1 desk: %+v %v", over, err)
		}
		if s, _ := m.capacityAt(ctx, "o", ServiceCIE, b); s.Capacity != 1 || s.Booked != 1 {
			t.Fatalf("9:30 after: %+v", s)
		}
		if s, _ := m.capacityAt(ctx, "o", ServiceCIE, a); s.Capacity != 3 || s.Booked != 3 {
			t.Fatalf("9:10 after: %+v", s)
		}
		// A new slot gets the new capacity.
		c := romeAt(2026, 3, 24, 9, 50)
		if err := book(c); err != nil {
			t.Fatal(err)
		}
		if err := book(c); !errors.Is(err, ErrSlotFull) {
			t.Fatalf("one desk, second booking: %v", err)
		}
		for _, bad := range []int{0, 101} {
			if _, err := m.SetDesks(ctx, "o", ServiceCIE, bad); !errors.Is(err, ErrBadDesks) {
				t.Errorf("%d desks: %v", bad, err)
			}
		}
		if _, err := m.SetDesks(ctx, "nessuno", ServiceCIE, 2); !errors.Is(err, gorm.ErrRecordNotFound) {
			t.Errorf("unknown office: %v", err)
		}
		// Another ente cannot change this office's capacity.
		if _, err := m.SetDesks(enteCtx("beta"), "o", ServiceCIE, 5); !errors.Is(err, gorm.ErrRecordNotFound) {
			t.Errorf("beta changed alfa's office: %v", err)
		}
	})
}

// New capacity goes to the waiting list first: more desks, a new opening interval and
// a closure called off each offer the places they open, earliest first, to the first
// in line, through the path of a cancellation (held, then offered or released).
func TestNewCapacityOffersTheLine(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, db *gorm.DB) {
		m := storeModule(t, db, testNow)
		ctx := enteCtx("alfa")
		st := m.store(ctx)
		// Office "p": open on Tuesdays 09:00-09:40 only (two 20-minute slots, one desk),
		// booking horizon 7 days: Tuesday 24 March is the only day.
		if err := st.Create(&Office{ID: "p", Name: "Sportello piccolo", HorizonDays: 7}).Error; err != nil {
			t.Fatal(err)
		}
		if err := st.Create(&OfficeService{OfficeID: "p", Service: ServiceCIE, SlotMinutes: 20, Desks: 1}).Error; err != nil {
			t.Fatal(err)
		}
		if err := st.Create(&Hours{OfficeID: "p", Service: ServiceCIE, Weekday: 2, Opens: "09:00", Closes: "09:40"}).Error; err != nil {
			t.Fatal(err)
		}
		s900, s920, s1000, s1100 := romeAt(2026, 3, 24, 9, 0), romeAt(2026, 3, 24, 9, 20), romeAt(2026, 3, 24, 10, 0), romeAt(2026, 3, 24, 11, 0)
		for i, s := range []time.Time{s900, s920} {
			if _, err := m.Book(ctx, Request{OfficeID: "p", Service: ServiceCIE, Start: s, CitizenCF: cf(i + 1), Email: "p@example.it"}); err != nil {
				t.Fatal(err)
			}
		}
		join := func(i int) {
			t.Helper()
			if _, err := m.Join(ctx, "p", ServiceCIE, cf(i), "Prova", "w@example.it", "it"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond) // the line is in order of joining
		}
		waiter := func(i int) Waiter {
			t.Helper()
			var w Waiter
			if err := st.Where("citizen_cf = ?", cf(i)).Take(&w).Error; err != nil {
				t.Fatal(err)
			}
			return w
		}
		offeredAt := func(i int, at time.Time) {
			t.Helper()
			if w := waiter(i); w.Status != WaitOffered || !w.OfferStart.Equal(at) {
				t.Fatalf("waiter %d: %s at %v, want offered %v", i, w.Status, w.OfferStart, at)
			}
		}
		counter := func(at time.Time, booked, capacity int) {
			t.Helper()
			if s, err := m.capacityAt(ctx, "p", ServiceCIE, at); err != nil || s.Booked != booked || s.Capacity != capacity {
				t.Fatalf("slot %v: %+v %v, want %d of %d", at, s, err, booked, capacity)
			}
		}
		for i := 3; i <= 5; i++ {
			m.now = func() time.Time { return testNow.Add(time.Duration(i) * time.Second) }
			join(i)
		}
		m.now = func() time.Time { return testNow.Add(time.Minute) }
		// A second desk: the two new places go to the first two in line, held.
		if _, err := m.SetDesks(ctx, "p", ServiceCIE, 2); err != nil {
			t.Fatal(err)
		}
		offeredAt(3, s900)
		offeredAt(4, s920)
		if w := waiter(5); w.Status != WaitWaiting {
			t.Fatalf("third in line: %s", w.Status)
		}
		counter(s900, 2, 2)
		counter(s920, 2, 2)
		// A new opening 10:00-10:20 (two desks): one place to the third in line, the
		// other released as the line is empty.
		if n, err := m.AddHours(ctx, Hours{OfficeID: "p", Service: ServiceCIE, Weekday: 2, Opens: "10:00", Closes: "10:20"}); err != nil || n != 1 {
			t.Fatalf("new opening: %d offers, %v", n, err)
		}
		offeredAt(5, s1000)
		counter(s1000, 1, 2)
		for _, bad := range []Hours{{Weekday: 2, Opens: "09:30", Closes: "10:00"}, {Weekday: 2, Opens: "12:00", Closes: "11:00"},
			{Weekday: 8, Opens: "09:00", Closes: "10:00"}, {Weekday: 3, Opens: "9:00", Closes: "10:00"}} {
			bad.OfficeID, bad.Service = "p", ServiceCIE
			if _, err := m.AddHours(ctx, bad); !errors.Is(err, ErrBadHours) {
				t.Errorf("hours %+v: %v", bad, err)
			}
		}
		// A strike on Tuesday 11:00-12:00, then an opening there (the line is empty now).
		// A citizen joins; the strike is called off: the reopened place goes to them.
		if err := st.Create(&Closure{ID: "sciopero", OfficeID: "p", StartsAt: s1100.UTC(), EndsAt: s1100.Add(time.Hour).UTC(),
			Reason: "Sciopero", CreatedAt: testNow}).Error; err != nil {
			t.Fatal(err)
		}
		if n, err := m.AddHours(ctx, Hours{OfficeID: "p", Service: ServiceCIE, Weekday: 2, Opens: "11:00", Closes: "11:20"}); err != nil || n != 0 {
			t.Fatalf("opening in a closure: %d offers, %v", n, err)
		}
		join(6)
		if _, _, err := m.RemoveClosure(enteCtx("beta"), "sciopero"); !errors.Is(err, gorm.ErrRecordNotFound) {
			t.Fatalf("another ente removed the closure: %v", err)
		}
		if _, n, err := m.RemoveClosure(ctx, "sciopero"); err != nil || n != 1 {
			t.Fatalf("closure called off: %d offers, %v", n, err)
		}
		offeredAt(6, s1100)
		counter(s1100, 1, 2)
		if _, _, err := m.RemoveClosure(ctx, "sciopero"); !errors.Is(err, gorm.ErrRecordNotFound) {
			t.Fatalf("second removal: %v", err)
		}
	})
}

// Forty citizens book one slot of six desks at once: six bookings, on desks 1 to 6,
// never two on one desk; a cancelled booking's desk goes to the next booking.
func TestDesksUnderContention(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, db *gorm.DB) {
		m := storeModule(t, db, testNow)
		ctx := enteCtx("alfa")
		seedOffice(t, ctx, m, 6)
		slot := romeAt(2026, 3, 24, 9, 10)
		ok, full, other := concurrentBook(t, m, ctx, 40, slot)
		if ok != 6 || full != 34 || len(other) != 0 {
			t.Fatalf("40 attempts on 6 desks: %d booked, %d full, %v", ok, full, other)
		}
		var list []Booking
		if err := m.store(ctx).Where("starts_at = ? AND status = ?", slot.UTC(), StatusBooked).Order("desk").Find(&list).Error; err != nil {
			t.Fatal(err)
		}
		for i, b := range list {
			if b.Desk != i+1 {
				t.Fatalf("desks %v: booking %d on desk %d", list, i, b.Desk)
			}
		}
		if _, err := m.Cancel(ctx, list[2].ID, list[2].CitizenCF, nil); err != nil {
			t.Fatal(err)
		}
		b, err := m.Book(ctx, Request{OfficeID: "o", Service: ServiceCIE, Start: slot, CitizenCF: cf(900), Email: "p@example.it"})
		if err != nil || b.Desk != 3 {
			t.Fatalf("after a cancellation: desk %v, %v", b, err)
		}
		// Names: within the desks, at most 60 characters; another ente cannot name them.
		for _, bad := range []struct {
			n    int
			name string
		}{{0, "Zero"}, {7, "Sette"}, {1, strings.Repeat("x", 61)}, {1, "a\nb"}} {
			if err := m.NameDesk(m.store(ctx), "o", ServiceCIE, bad.n, bad.name); !errors.Is(err, ErrBadDeskName) {
				t.Errorf("desk %d %q: %v", bad.n, bad.name, err)
			}
		}
		if err := m.NameDesk(m.store(enteCtx("beta")), "o", ServiceCIE, 1, "Altro"); !errors.Is(err, gorm.ErrRecordNotFound) {
			t.Errorf("another ente named a desk: %v", err)
		}
		for _, name := range []string{"Sportello 1 - piano terra", "Sportello A"} { // the second renames
			if err := m.NameDesk(m.store(ctx), "o", ServiceCIE, 1, name); err != nil {
				t.Fatal(err)
			}
		}
		names, err := deskNames(m.store(ctx), "o")
		if err != nil || names[ServiceCIE][1] != "Sportello A" || len(names[ServiceCIE]) != 1 {
			t.Fatalf("names %v %v", names, err)
		}
	})
}
