package appuntamenti_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/appuntamenti"
)

// clock is a settable clock shared by the module under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func waiterOf(t *testing.T, p portal, cf string) appuntamenti.Waiter {
	t.Helper()
	var w appuntamenti.Waiter
	if err := enti.AllEnti(p.DB, "test check").Where("citizen_cf = ?", cf).Order("created_at DESC").Take(&w).Error; err != nil {
		t.Fatal(err)
	}
	return w
}

func slotCounter(t *testing.T, p portal, start time.Time) appuntamenti.Slot {
	t.Helper()
	var s appuntamenti.Slot
	if err := enti.AllEnti(p.DB, "test check").Where("service = ? AND starts_at = ?", "residenza", start.UTC()).Take(&s).Error; err != nil {
		t.Fatal(err)
	}
	return s
}

// A freed place is offered to the first in line by mail and held; an offer that
// expires passes to the next in line; the next accepts and gets the booking; the
// first's late acceptance is refused. Twenty acceptances at once of one offer: one
// booking.
func TestWaitingListOfferExpiresAndPasses(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			clk := &clock{t: now}
			mod := appuntamenti.New(appuntamenti.WithClock(clk.Now))
			s := apptest.New(t, d, apptest.Options{Modules: []services.Module{mod}})
			ctx := enti.WithEnte(context.Background(), s.App.Enti().All(context.Background())[0])
			if err := mod.SeedDemo(ctx, s.DB); err != nil {
				t.Fatal(err)
			}
			p := portal{Server: s, mod: mod, ctx: ctx}
			// Change of address: one desk, 30-minute slots.
			slot := time.Date(2026, 3, 24, 9, 0, 0, 0, web.Rome)
			holder := citizen(p, "RSSMRA80A01H501U", "Mario Rossi")
			form := url.Values{"servizio": {"residenza"}, "ufficio": {appuntamenti.DemoOffice}, "inizio": {fmt.Sprint(slot.Unix())},
				"email": {"mario@example.it"}}
			r := holder.PostForm("/servizi/appuntamenti/nuovo", form)
			m := refRE.FindStringSubmatch(r.Header.Get("Location"))
			if r.Status != http.StatusSeeOther || m == nil {
				t.Fatalf("book: %d", r.Status)
			}
			// Two citizens join the line; the second has a later booking already.
			first := citizen(p, "VRDLGU75B02F205X", "Luigi Verdi")
			second := citizen(p, "BNCNNA90C41L219Y", "Anna Bianchi")
			later := url.Values{"servizio": {"residenza"}, "ufficio": {appuntamenti.DemoOffice},
				"inizio": {fmt.Sprint(time.Date(2026, 4, 2, 9, 0, 0, 0, web.Rome).Unix())}, "email": {"anna@example.it"}}
			if r := second.PostForm("/servizi/appuntamenti/nuovo", later); r.Status != http.StatusSeeOther {
				t.Fatalf("second's own booking: %d", r.Status)
			}
			join := url.Values{"servizio": {"residenza"}, "ufficio": {appuntamenti.DemoOffice}}
			for _, c := range []struct {
				cl    *apptest.Client
				email string
			}{{first, "luigi@example.it"}, {second, "anna@example.it"}} {
				j := url.Values{"email": {c.email}}
				for k, v := range join {
					j[k] = v
				}
				if r := c.cl.PostForm("/servizi/appuntamenti/attesa", j); r.Status != http.StatusSeeOther {
					t.Fatalf("join: %d", r.Status)
				}
				if r := c.cl.PostForm("/servizi/appuntamenti/attesa", j); r.Status != http.StatusConflict {
					t.Fatalf("join twice: %d", r.Status)
				}
				clk.Advance(time.Second) // the line is in order of joining
			}
			clk.Advance(time.Minute)

			// The holder cancels: the place goes to Luigi, held (the counter stays full).
			if r := holder.PostForm("/servizi/appuntamenti/prenotazione/"+m[1]+"/annulla", nil); r.Status != http.StatusSeeOther {
				t.Fatalf("cancel: %d", r.Status)
			}
			w1 := waiterOf(t, p, "VRDLGU75B02F205X")
			if w1.Status != appuntamenti.WaitOffered || !w1.OfferStart.Equal(slot) {
				t.Fatalf("first in line: %+v", w1)
			}
			if sc := slotCounter(t, p, slot); sc.Booked != 1 {
				t.Fatalf("held place released: %+v", sc)
			}
			offers := outbox(t, p.DB, "appuntamenti.offer")
			if len(offers) != 1 || offers[0].To != "luigi@example.it" || !strings.Contains(offers[0].Text, "/offerta/"+w1.ID) {
				t.Fatalf("offer mails: %+v", offers)
			}
			// Nobody else sees the held place, nor the offer.
			if r := second.Get("/servizi/appuntamenti/offerta/" + w1.ID); r.Status != http.StatusNotFound {
				t.Fatalf("someone else's offer: %d", r.Status)
			}
			if r := first.Get("/servizi/appuntamenti/offerta/" + w1.ID); r.Status != 200 || !strings.Contains(r.Body, "24/03/2026 09:00") {
				t.Fatalf("offer page: %d", r.Status)
			}

			// Luigi lets it expire; the job passes it to Anna (her booking is later).
			clk.Advance(appuntamenti.OfferHold + time.Minute)
			if err := mod.ExpireOffers(context.Background(), clk.Now()); err != nil {
				t.Fatal(err)
			}
			if w := waiterOf(t, p, "VRDLGU75B02F205X"); w.Status != appuntamenti.WaitExpired {
				t.Fatalf("expired offer: %+v", w)
			}
			w2 := waiterOf(t, p, "BNCNNA90C41L219Y")
			if w2.Status != appuntamenti.WaitOffered || len(outbox(t, p.DB, "appuntamenti.offer")) != 2 {
				t.Fatalf("next in line: %+v", w2)
			}
			if r := first.PostForm("/servizi/appuntamenti/offerta/"+w1.ID+"/accetta", nil); r.Status != http.StatusConflict {
				t.Fatalf("late acceptance: %d", r.Status)
			}
			// Anna accepts, twenty times at once: one booking; her later one is cancelled.
			var wg sync.WaitGroup
			codes := map[int]int{}
			var mu sync.Mutex
			second.CSRF()
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := second.PostForm("/servizi/appuntamenti/offerta/"+w2.ID+"/accetta", nil)
					mu.Lock()
					codes[r.Status]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if codes[http.StatusSeeOther] != 1 || codes[http.StatusConflict] != 19 {
				t.Fatalf("acceptances: %v", codes)
			}
			var mine []appuntamenti.Booking
			if err := enti.AllEnti(p.DB, "test").Where("citizen_cf = ?", "BNCNNA90C41L219Y").Order("starts_at").Find(&mine).Error; err != nil {
				t.Fatal(err)
			}
			if len(mine) != 2 || mine[0].Status != appuntamenti.StatusBooked || !mine[0].StartsAt.Equal(slot) ||
				mine[1].Status != appuntamenti.StatusCancelled {
				t.Fatalf("Anna's bookings: %+v", mine)
			}
			if sc := slotCounter(t, p, slot); sc.Booked != 1 || sc.Capacity != 1 {
				t.Fatalf("slot after acceptance: %+v", sc)
			}
			// Her later place, with nobody left in line, is released.
			if sc := slotCounter(t, p, mine[1].StartsAt); sc.Booked != 0 {
				t.Fatalf("later slot not released: %+v", sc)
			}
		})
	}
}
