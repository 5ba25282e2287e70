package appuntamenti

import (
	"errors"
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
