package appuntamenti

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// testNow is Monday 23 March 2026, 08:00 in Rome: the week before summer time starts.
var testNow = romeAt(2026, 3, 23, 8, 0)

// storeModule returns a module over db (guard installed) with the clock at now, and a
// context carrying ente id.
func storeModule(t testing.TB, db *gorm.DB, now time.Time) *Module {
	t.Helper()
	if db.Callback().Query().Get("enti:scope_query") == nil {
		if err := enti.NewGuard((&Module{}).EnteTables()...).Install(db); err != nil {
			t.Fatal(err)
		}
	}
	m := New(WithClock(func() time.Time { return now }))
	m.store = func(ctx context.Context) *gorm.DB { return enti.For(ctx, db) }
	return m
}

func enteCtx(id string) context.Context {
	return enti.WithEnte(context.Background(), &enti.Ente{ID: id})
}

// seedOffice creates office "o" for service cie with desks desks, open every weekday
// 08:30-12:30, slots of 20 minutes.
func seedOffice(t testing.TB, ctx context.Context, m *Module, desks int) {
	t.Helper()
	db := m.store(ctx)
	if err := db.Create(&Office{ID: "o", Name: "Sportello prova", Address: "Via Roma 1", HorizonDays: 60}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&OfficeService{OfficeID: "o", Service: ServiceCIE, SlotMinutes: 20, Desks: desks}).Error; err != nil {
		t.Fatal(err)
	}
	for wd := 1; wd <= 5; wd++ {
		if err := db.Create(&Hours{OfficeID: "o", Service: ServiceCIE, Weekday: wd, Opens: "08:30", Closes: "12:30"}).Error; err != nil {
			t.Fatal(err)
		}
	}
}

func cf(i int) string { return fmt.Sprintf("TSTCTZ80A01H%03dX", i) }

func TestBookingRules(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, db *gorm.DB) {
		m := storeModule(t, db, testNow)
		ctx := enteCtx("alfa")
		seedOffice(t, ctx, m, 1)
		slot := romeAt(2026, 3, 24, 9, 10)
		req := func(i int, start time.Time) Request {
			return Request{OfficeID: "o", Service: ServiceCIE, Start: start, CitizenCF: cf(i), Name: "Prova", Email: "p@example.it"}
		}
		b, err := m.Book(ctx, req(1, slot))
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			r    Request
			want error
		}{
			{"same slot, one desk", req(2, slot), ErrSlotFull},
			{"second active booking of the service", req(1, romeAt(2026, 3, 25, 9, 10)), ErrAlreadyBooked},
			{"not on the schedule", req(3, romeAt(2026, 3, 24, 9, 15)), ErrNotBookable},
			{"saturday", req(3, romeAt(2026, 3, 28, 9, 10)), ErrNotBookable},
			{"too soon", req(3, romeAt(2026, 3, 23, 8, 30)), ErrNotBookable},
			{"beyond horizon", req(3, romeAt(2026, 5, 22, 9, 10)), ErrNotBookable},
			{"unknown office", Request{OfficeID: "x", Service: ServiceCIE, Start: slot, CitizenCF: cf(3)}, ErrNotBookable},
		}
		for _, c := range cases {
			if _, err := m.Book(ctx, c.r); !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
		}
		// A closure hides and refuses the slots it covers.
		if err := m.store(ctx).Create(&Closure{ID: "c1", OfficeID: "o", StartsAt: romeAt(2026, 3, 26, 0, 0).UTC(),
			EndsAt: romeAt(2026, 3, 27, 0, 0).UTC(), Reason: "Sciopero", CreatedAt: testNow}).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := m.Book(ctx, req(3, romeAt(2026, 3, 26, 9, 10))); !errors.Is(err, ErrNotBookable) {
			t.Errorf("closed day: %v", err)
		}
		s, _ := m.schedule(ctx, "o", ServiceCIE)
		days, err := m.Availability(ctx, s, testNow)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range days {
			if d.Day == (Day{2026, 3, 26}) {
				t.Error("the closed day is offered")
			}
			if d.Day == (Day{2026, 3, 24}) && d.Free != 12-1 {
				t.Errorf("24 March: %d free, want 11", d.Free)
			}
		}
		if days[0].Day != (Day{2026, 3, 23}) || days[0].Slots[0].Start.Equal(romeAt(2026, 3, 23, 8, 30)) {
			t.Errorf("first free day %v %v: today's slots within the minimum lead must be skipped", days[0].Day, days[0].Slots[0].Start)
		}
		// Cancel: the place is free again and the citizen may book anew.
		if _, err := m.Cancel(ctx, b.ID, cf(1), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Cancel(ctx, b.ID, cf(1), nil); !errors.Is(err, ErrNotActive) {
			t.Errorf("second cancel: %v", err)
		}
		if _, err := m.Book(ctx, req(2, slot)); err != nil {
			t.Fatalf("freed place: %v", err)
		}
		if _, err := m.Book(ctx, req(1, romeAt(2026, 3, 25, 9, 10))); err != nil {
			t.Fatalf("after cancelling: %v", err)
		}
		// Move: the old place is freed in the same transaction.
		nb, err := m.Book(ctx, Request{OfficeID: "o", Service: ServiceCIE, Start: romeAt(2026, 3, 25, 9, 30), CitizenCF: cf(2),
			Email: "p@example.it", Replaces: mustActive(t, m, ctx, cf(2)).ID, By: cf(2)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Book(ctx, req(4, slot)); err != nil {
			t.Fatalf("place freed by the move: %v", err)
		}
		// Another citizen cannot cancel or move it: as if it did not exist.
		if _, err := m.Cancel(ctx, nb.ID, cf(4), nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("cancel by another citizen: %v", err)
		}
		// Too late to cancel: a booking for tomorrow 9:10 seen at 10:00 today.
		late := storeModule(t, db, romeAt(2026, 3, 23, 9, 11))
		if _, err := late.Cancel(ctx, mustActive(t, m, ctx, cf(4)).ID, cf(4), nil); !errors.Is(err, ErrTooLate) {
			t.Errorf("cancel within 24 h: %v", err)
		}
		var sl Slot
		if err := m.store(ctx).Where("office_id = ? AND starts_at = ?", "o", slot.UTC()).Take(&sl).Error; err != nil || sl.Booked != 1 {
			t.Fatalf("slot counter %+v %v", sl, err)
		}
	})
}

func mustActive(t *testing.T, m *Module, ctx context.Context, cf string) Booking {
	t.Helper()
	var b Booking
	if err := m.store(ctx).Where("citizen_cf = ? AND status = ?", cf, StatusBooked).Take(&b).Error; err != nil {
		t.Fatal(err)
	}
	return b
}

// Rows of one ente are invisible and unchangeable from another.
func TestEnteIsolation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, db *gorm.DB) {
		m := storeModule(t, db, testNow)
		a, b := enteCtx("alfa"), enteCtx("beta")
		seedOffice(t, a, m, 1)
		seedOffice(t, b, m, 1) // same office id in the other comune: keys carry the ente
		slot := romeAt(2026, 3, 24, 9, 10)
		bk, err := m.Book(a, Request{OfficeID: "o", Service: ServiceCIE, Start: slot, CitizenCF: cf(1), Email: "p@example.it"})
		if err != nil {
			t.Fatal(err)
		}
		// The same citizen and slot in beta are independent.
		if _, err := m.Book(b, Request{OfficeID: "o", Service: ServiceCIE, Start: slot, CitizenCF: cf(1), Email: "p@example.it"}); err != nil {
			t.Fatalf("beta: %v", err)
		}
		if _, err := m.booking(b, bk.ID, ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("beta reads alfa's booking: %v", err)
		}
		if _, err := m.Cancel(b, bk.ID, cf(1), nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("beta cancels alfa's booking: %v", err)
		}
		res := m.store(b).Model(&Booking{}).Where("id = ?", bk.ID).Update("status", StatusNoShow)
		if res.Error != nil || res.RowsAffected != 0 {
			t.Errorf("beta updated alfa's booking: %d %v", res.RowsAffected, res.Error)
		}
		got, err := m.booking(a, bk.ID, cf(1))
		if err != nil || got.Status != StatusBooked {
			t.Fatalf("alfa's booking after beta's attempts: %+v %v", got, err)
		}
		// Without an ente every statement on its tables fails.
		var n int64
		if err := m.store(context.Background()).Model(&Booking{}).Count(&n).Error; !errors.Is(err, enti.ErrUnscoped) {
			t.Errorf("no ente: %v", err)
		}
		if err := db.Model(&Booking{}).Count(&n).Error; !errors.Is(err, enti.ErrUnscoped) {
			t.Errorf("unscoped: %v", err)
		}
	})
}

// concurrentBook runs n citizens at once on one slot and counts the outcomes.
func concurrentBook(t *testing.T, m *Module, ctx context.Context, n int, start time.Time) (ok, full int, other []error) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			_, err := m.Book(ctx, Request{OfficeID: "o", Service: ServiceCIE, Start: start, CitizenCF: cf(100 + i), Email: "p@example.it"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrSlotFull):
				full++
			default:
				other = append(other, err)
			}
		}()
	}
	close(gate)
	wg.Wait()
	return
}

// 50 citizens at once for the last place: exactly one gets it.
func TestLastPlaceFiftyCitizens(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, db *gorm.DB) {
		m := storeModule(t, db, testNow)
		ctx := enteCtx("alfa")
		seedOffice(t, ctx, m, 3)
		slot := romeAt(2026, 3, 24, 9, 10)
		for i := range 2 {
			if _, err := m.Book(ctx, Request{OfficeID: "o", Service: ServiceCIE, Start: slot, CitizenCF: cf(i), Email: "p@example.it"}); err != nil {
				t.Fatal(err)
			}
		}
		ok, full, other := concurrentBook(t, m, ctx, 50, slot)
		if ok != 1 || full != 49 || len(other) > 0 {
			t.Fatalf("ok %d, full %d, other %v", ok, full, other)
		}
		assertCounter(t, m, ctx, slot, 3)
	})
}

// 500 attempts at once on the last 10 places: exactly 10 bookings, every other a
// "no longer available" answer.
func TestLastTenPlacesFiveHundredAttempts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, db *gorm.DB) {
		m := storeModule(t, db, testNow)
		ctx := enteCtx("alfa")
		seedOffice(t, ctx, m, 10)
		slot := romeAt(2026, 3, 24, 9, 10)
		start := time.Now()
		ok, full, other := concurrentBook(t, m, ctx, 500, slot)
		if ok != 10 || full != 490 || len(other) > 0 {
			t.Fatalf("ok %d, full %d, other %d: %v", ok, full, len(other), other[:min(3, len(other))])
		}
		t.Logf("%s: 500 attempts in %v (%.0f attempts/s)", store.DialectOf(db), time.Since(start), 500/time.Since(start).Seconds())
		assertCounter(t, m, ctx, slot, 10)
	})
}

func assertCounter(t *testing.T, m *Module, ctx context.Context, slot time.Time, want int) {
	t.Helper()
	var sl Slot
	if err := m.store(ctx).Where("office_id = ? AND starts_at = ?", "o", slot.UTC()).Take(&sl).Error; err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := m.store(ctx).Model(&Booking{}).Where("starts_at = ? AND status = ?", slot.UTC(), StatusBooked).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if sl.Booked != want || n != int64(want) || sl.Capacity != want {
		t.Fatalf("counter %+v, bookings %d, want %d", sl, n, want)
	}
}
