package appuntamenti_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/appuntamenti"
)

// confirmPortal is a portal whose comune asks for a confirmation 72 hours before.
func confirmPortal(t *testing.T, d store.Dialect, clk *clock) portal {
	t.Helper()
	set := appuntamenti.DefaultSettings()
	set.ConfirmHours = 72
	mod := appuntamenti.New(appuntamenti.WithClock(clk.Now), appuntamenti.WithSettings(set))
	s := apptest.New(t, d, apptest.Options{Modules: []services.Module{mod}})
	ctx := enti.WithEnte(context.Background(), s.App.Enti().All(context.Background())[0])
	if err := mod.SeedDemo(ctx, s.DB); err != nil {
		t.Fatal(err)
	}
	return portal{Server: s, mod: mod, ctx: ctx}
}

func bookCIE(t *testing.T, c *apptest.Client, start time.Time, email string) string {
	t.Helper()
	r := c.PostForm("/servizi/appuntamenti/nuovo", url.Values{"servizio": {"cie"}, "ufficio": {appuntamenti.DemoOffice},
		"inizio": {fmt.Sprint(start.Unix())}, "email": {email}})
	m := refRE.FindStringSubmatch(r.Header.Get("Location"))
	if r.Status != http.StatusSeeOther || m == nil {
		t.Fatalf("book %s: %d %s", start, r.Status, r.Body)
	}
	return m[1]
}

// Confirm by a deadline or lose the slot: the mail asking for the confirmation goes
// once, the page confirms, another citizen gets 404, an unconfirmed booking is
// released at the deadline and its place offered to the first in line, a confirmed
// one is kept, a late confirmation is refused.
func TestConfirmOrLoseTheSlot(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			clk := &clock{t: now}
			p := confirmPortal(t, d, clk)
			// Friday 27 March 09:10: deadline Tuesday 24 March 09:10 (72 hours before).
			slot := time.Date(2026, 3, 27, 9, 10, 0, 0, web.Rome)
			deadline := slot.Add(-72 * time.Hour)
			a := citizen(p, "RSSMRA80A01H501U", "Mario Rossi")
			idA := bookCIE(t, a, slot, "mario@example.it")
			if b := bookingOf(t, p, idA); b.ConfirmBy == nil || !b.ConfirmBy.Equal(deadline) || b.ConfirmedAt != nil {
				t.Fatalf("booking's deadline %v, want %v", b.ConfirmBy, deadline)
			}
			// Booked within 72 hours of the appointment: nothing to confirm.
			c := citizen(p, "BNCNNA90C41L219Y", "Anna Bianchi")
			idC := bookCIE(t, c, time.Date(2026, 3, 25, 9, 10, 0, 0, web.Rome), "anna@example.it")
			if b := bookingOf(t, p, idC); b.ConfirmBy != nil {
				t.Fatalf("a booking made after its deadline would fall asks for a confirmation: %v", b.ConfirmBy)
			}
			page := a.Get("/servizi/appuntamenti/prenotazione/" + idA)
			if page.Status != 200 || !strings.Contains(page.Body, `action="/servizi/appuntamenti/prenotazione/`+idA+`/conferma"`) ||
				!strings.Contains(page.Body, "24/03/2026 09:10") {
				t.Fatalf("the booking's page does not ask for the confirmation: %d", page.Status)
			}
			// The request goes once, also when two runs overlap.
			var wg sync.WaitGroup
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := p.mod.ConfirmJob(context.Background(), clk.Now()); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			asked := outbox(t, p.DB, "appuntamenti.confirm")
			if len(asked) != 1 || asked[0].To != "mario@example.it" || !strings.Contains(asked[0].Text, "/prenotazione/"+idA) ||
				!strings.Contains(asked[0].Subject, "24/03/2026, 09:10") {
				t.Fatalf("confirmation requests: %+v", asked)
			}
			// Luigi joins the line; someone else cannot confirm Mario's booking.
			l := citizen(p, "VRDLGU75B02F205X", "Luigi Verdi")
			if r := l.PostForm("/servizi/appuntamenti/attesa", url.Values{"servizio": {"cie"}, "ufficio": {appuntamenti.DemoOffice},
				"email": {"luigi@example.it"}}); r.Status != http.StatusSeeOther {
				t.Fatalf("join: %d", r.Status)
			}
			if r := l.PostForm("/servizi/appuntamenti/prenotazione/"+idA+"/conferma", nil); r.Status != http.StatusNotFound {
				t.Fatalf("someone else's confirmation: %d", r.Status)
			}
			// Mario does not confirm: at the deadline the job releases the booking and
			// offers the place to Luigi.
			clk.Advance(deadline.Sub(clk.Now()) + time.Minute)
			if err := p.mod.ConfirmJob(context.Background(), clk.Now()); err != nil {
				t.Fatal(err)
			}
			if b := bookingOf(t, p, idA); b.Status != appuntamenti.StatusCancelled || b.CancelReason != "unconfirmed" {
				t.Fatalf("unconfirmed booking: %s %s", b.Status, b.CancelReason)
			}
			if w := waiterOf(t, p, "VRDLGU75B02F205X"); w.Status != appuntamenti.WaitOffered || !w.OfferStart.Equal(slot) {
				t.Fatalf("the released place was not offered to the line: %+v", w)
			}
			if rel := outbox(t, p.DB, "appuntamenti.released"); len(rel) != 1 || rel[0].To != "mario@example.it" {
				t.Fatalf("release mails: %+v", rel)
			}
			if offers := outbox(t, p.DB, "appuntamenti.offer"); len(offers) != 1 || offers[0].To != "luigi@example.it" {
				t.Fatalf("offer mails: %+v", offers)
			}
			if r := a.PostForm("/servizi/appuntamenti/prenotazione/"+idA+"/conferma", nil); r.Status != http.StatusConflict {
				t.Fatalf("confirmation of a released booking: %d", r.Status)
			}
			// A booking confirmed in time is kept by the job.
			clk.t = now
			g := citizen(p, "GLLGPP70D04H501Z", "Giuseppe Galli")
			later := time.Date(2026, 4, 3, 9, 10, 0, 0, web.Rome)
			idG := bookCIE(t, g, later, "giuseppe@example.it")
			if r := g.PostForm("/servizi/appuntamenti/prenotazione/"+idG+"/conferma", nil); r.Status != http.StatusSeeOther {
				t.Fatalf("confirm: %d", r.Status)
			}
			if r := g.Get("/servizi/appuntamenti/prenotazione/" + idG); !strings.Contains(r.Body, "Hai confermato che verrai") ||
				strings.Contains(r.Body, "/conferma\"") {
				t.Fatalf("the confirmed booking's page still asks: %s", r.Body)
			}
			if err := p.mod.ConfirmJob(context.Background(), later.Add(-71*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if b := bookingOf(t, p, idG); b.Status != appuntamenti.StatusBooked || b.ConfirmedAt == nil {
				t.Fatalf("confirmed booking: %s %v", b.Status, b.ConfirmedAt)
			}
		})
	}
}

// Twenty confirmations at once race the release job on one booking at its deadline:
// the booking ends either confirmed (one confirmation changed it, the job left it) or
// released (no confirmation counted, the place freed), never both; several rounds on
// each database.
func TestConfirmRacesRelease(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			clk := &clock{t: now}
			p := confirmPortal(t, d, clk)
			outcomes := map[string]int{}
			for round := range 6 {
				clk.t = now
				slot := time.Date(2026, 3, 30+round%2, 9, 10+20*(round/2), 0, 0, web.Rome)
				who := fmt.Sprintf("TSTCTZ80A01H%03dX", round)
				c := citizen(p, who, "Prova")
				id := bookCIE(t, c, slot, "prova@example.it")
				deadline := slot.Add(-72 * time.Hour)
				// Confirmations see the last second before the deadline; the job runs one
				// second after it.
				clk.t = deadline.Add(-time.Second)
				var wg sync.WaitGroup
				var mu sync.Mutex
				changed, late := 0, 0
				start := make(chan struct{})
				for range 20 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						ok, err := p.mod.Confirm(p.ctx, id, who)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil && ok:
							changed++
						case err == nil:
						case errors.Is(err, appuntamenti.ErrNotActive) || errors.Is(err, appuntamenti.ErrConfirmLate):
							late++
						default:
							t.Errorf("confirm: %v", err)
						}
					}()
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if err := p.mod.ReleaseUnconfirmed(p.ctx, deadline.Add(time.Second)); err != nil {
						t.Errorf("release: %v", err)
					}
				}()
				close(start)
				wg.Wait()
				b := bookingOf(t, p, id)
				var s appuntamenti.Slot
				if err := enti.AllEnti(p.DB, "test check").Where("service = ? AND starts_at = ?", "cie", slot.UTC()).Take(&s).Error; err != nil {
					t.Fatal(err)
				}
				switch {
				case b.Status == appuntamenti.StatusBooked && b.ConfirmedAt != nil:
					if changed != 1 || late != 0 || s.Booked != 1 {
						t.Fatalf("round %d confirmed: %d confirmations changed it, %d refused, slot %d booked", round, changed, late, s.Booked)
					}
					outcomes["confirmed"]++
				case b.Status == appuntamenti.StatusCancelled && b.ConfirmedAt == nil && b.CancelReason == "unconfirmed":
					if changed != 0 || late != 20 || s.Booked != 0 {
						t.Fatalf("round %d released: %d confirmations changed it, %d refused, slot %d booked", round, changed, late, s.Booked)
					}
					outcomes["released"]++
				default:
					t.Fatalf("round %d: status %s, confirmed at %v, reason %q", round, b.Status, b.ConfirmedAt, b.CancelReason)
				}
			}
			t.Logf("%s: outcomes %v", d, outcomes)
		})
	}
}

// A booking without an account, when the comune asks for confirmations: the request
// mail carries a link that works without logging in, and confirms.
func TestGuestConfirmsByDeadline(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			clk := &clock{t: now}
			p := confirmPortal(t, d, clk)
			anon := p.Client()
			slot := time.Date(2026, 3, 27, 9, 0, 0, 0, web.Rome)
			if r := anon.PostForm("/servizi/appuntamenti/ospite", guestForm(slot, "Mario Rossi", "RSSMRA80A01H501U", "mario@example.it")); r.Status != 200 {
				t.Fatalf("request: %d", r.Status)
			}
			m := confirmLinkRE.FindStringSubmatch(outbox(t, p.DB, "appuntamenti.guest_confirm")[0].Text)
			if r := anon.PostForm("/servizi/appuntamenti/ospite/c/"+m[1], nil); r.Status != http.StatusSeeOther {
				t.Fatalf("confirm the request: %d", r.Status)
			}
			if err := p.mod.ConfirmJob(context.Background(), clk.Now()); err != nil {
				t.Fatal(err)
			}
			asked := outbox(t, p.DB, "appuntamenti.confirm")
			if len(asked) != 1 {
				t.Fatalf("confirmation requests: %d", len(asked))
			}
			mm := manageLinkRE.FindStringSubmatch(asked[0].Text)
			if mm == nil || strings.Contains(asked[0].Text, "/prenotazione/") {
				t.Fatalf("the request's link needs a login: %q", asked[0].Text)
			}
			if r := anon.Get("/servizi/appuntamenti/ospite/g/" + mm[1]); r.Status != 200 || !strings.Contains(r.Body, "/conferma\"") {
				t.Fatalf("manage page without the confirmation: %d", r.Status)
			}
			if r := anon.PostForm("/servizi/appuntamenti/ospite/g/"+mm[1]+"/conferma", nil); r.Status != http.StatusSeeOther {
				t.Fatalf("confirm: %d", r.Status)
			}
			var b appuntamenti.Booking
			if err := enti.AllEnti(p.DB, "test check").Take(&b).Error; err != nil || b.ConfirmedAt == nil {
				t.Fatalf("booking after the confirmation: %+v %v", b, err)
			}
		})
	}
}
