package appuntamenti_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/appuntamenti"
)

// now is Monday 23 March 2026, 08:00 in Rome.
var now = time.Date(2026, 3, 23, 8, 0, 0, 0, web.Rome)

type portal struct {
	*apptest.Server
	mod *appuntamenti.Module
	ctx context.Context // carries the portal's ente
}

// each runs fn on a fresh portal per dialect, with the demo office seeded.
func each(t *testing.T, fn func(t *testing.T, p portal)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			mod := appuntamenti.New(appuntamenti.WithClock(func() time.Time { return now }))
			s := apptest.New(t, d, apptest.Options{Modules: []services.Module{mod}})
			all := s.App.Enti().All(context.Background())
			if len(all) == 0 {
				t.Fatal("no ente")
			}
			ctx := enti.WithEnte(context.Background(), all[0])
			if err := mod.SeedDemo(ctx, s.DB); err != nil {
				t.Fatal(err)
			}
			if err := mod.SeedDemo(ctx, s.DB); err != nil { // idempotent
				t.Fatal(err)
			}
			fn(t, portal{Server: s, mod: mod, ctx: ctx})
		})
	}
}

func citizen(p portal, cf, name string) *apptest.Client {
	c := p.Client()
	p.LoginAs(c, web.Viewer{Kind: "citizen", ID: cf, DisplayName: name, FiscalCode: cf})
	return c
}

var refRE = regexp.MustCompile(`/prenotazione/([0-9A-Z*~$=U-]+)$`)

func bookingOf(t *testing.T, p portal, id string) appuntamenti.Booking {
	t.Helper()
	var b appuntamenti.Booking
	if err := enti.AllEnti(p.DB, "test check").Where("id = ?", id).Take(&b).Error; err != nil {
		t.Fatal(err)
	}
	return b
}

func outbox(t *testing.T, db *gorm.DB, kind string) []notify.Record {
	t.Helper()
	var out []notify.Record
	if err := enti.AllEnti(db, "test check").Where("kind = ?", kind).Order("id").Find(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

// book walks the steps for start and returns the confirmation page's answer.
func book(t *testing.T, c *apptest.Client, start time.Time, email, move string) *apptest.Response {
	t.Helper()
	q := url.Values{"servizio": {"cie"}, "ufficio": {appuntamenti.DemoOffice}, "inizio": {fmt.Sprint(start.Unix())}}
	if move != "" {
		q.Set("sposta", move)
	}
	page := c.Get("/servizi/appuntamenti/nuovo/conferma?" + q.Encode())
	if page.Status != http.StatusOK {
		t.Fatalf("confirm page: %d", page.Status)
	}
	// Posted as the page's form would (apptest's Submit takes the first POST form, the
	// header's logout).
	if !strings.Contains(page.Body, `action="/servizi/appuntamenti/nuovo"`) {
		t.Fatalf("confirm page has no booking form")
	}
	q.Set("email", email)
	return c.PostForm("/servizi/appuntamenti/nuovo", q)
}

// The citizen journey through real HTTP: choose, see the first free days, a time,
// confirm (bad email first), the mail with its .ics, the QR code, another citizen
// refused, move, cancel.
func TestJourneyBookMoveCancel(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		a := citizen(p, "RSSMRA80A01H501U", "Mario Rossi")
		r := a.Get("/servizi/appuntamenti/nuovo")
		if r.Status != 200 || !strings.Contains(r.Body, "Sportello Anagrafe - Sede centrale") {
			t.Fatalf("step 1: %d", r.Status)
		}
		r = a.Get("/servizi/appuntamenti/nuovo/giorni?servizio=cie&ufficio=" + appuntamenti.DemoOffice)
		// First free day is today (after the 2-hour minimum lead), then tomorrow.
		if r.Status != 200 || !strings.Contains(r.Body, `href="/servizi/appuntamenti/nuovo/orari?servizio=cie&amp;ufficio=anagrafe-centro&amp;giorno=2026-03-23"`) ||
			!strings.Contains(r.Body, "lunedì 23 marzo 2026") {
			t.Fatalf("days: %d %s", r.Status, r.Body)
		}
		r = a.Get("/servizi/appuntamenti/nuovo/orari?servizio=cie&ufficio=" + appuntamenti.DemoOffice + "&giorno=2026-03-24")
		if r.Status != 200 || !strings.Contains(r.Body, ">08:30 ") {
			t.Fatalf("times: %d", r.Status)
		}
		slot := time.Date(2026, 3, 24, 9, 10, 0, 0, web.Rome)

		// A bad address: 422, the message tied to the field, nothing booked.
		r = book(t, a, slot, "non-una-email", "")
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Scrivi un indirizzo email valido") {
			t.Fatalf("bad email: %d", r.Status)
		}
		var n int64
		if err := enti.AllEnti(p.DB, "test").Model(&appuntamenti.Booking{}).Count(&n).Error; err != nil || n != 0 {
			t.Fatalf("bookings after a refused form: %d %v", n, err)
		}

		r = book(t, a, slot, "mario.rossi@example.it", "")
		m := refRE.FindStringSubmatch(r.Header.Get("Location"))
		if r.Status != http.StatusSeeOther || m == nil {
			t.Fatalf("book: %d %s", r.Status, r.Header.Get("Location"))
		}
		id := m[1]
		page := a.Follow(r)
		if page.Status != 200 || !strings.Contains(page.Body, id) || !strings.Contains(page.Body, "24/03/2026 09:10") ||
			!strings.Contains(page.Body, "22,21 €") {
			t.Fatalf("confirmation page: %d", page.Status)
		}
		// The personal area lists it.
		if r := a.Get("/area-personale"); r.Status != 200 || !strings.Contains(r.Body, "I tuoi appuntamenti") ||
			!strings.Contains(r.Body, "/servizi/appuntamenti/prenotazione/"+id) {
			t.Fatalf("personal area: %d", r.Status)
		}
		if q := a.Get("/servizi/appuntamenti/prenotazione/" + id + "/qr.png"); q.Status != 200 || q.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("qr: %d %s", q.Status, q.Header.Get("Content-Type"))
		}

		// The mail carries the invitation: 08:10 UTC (09:10 in Rome, winter time).
		mails := outbox(t, p.DB, "appuntamenti.booked")
		if len(mails) != 1 || mails[0].To != "mario.rossi@example.it" || !strings.Contains(mails[0].Text, id) {
			t.Fatalf("booked mails: %+v", mails)
		}
		files, err := mails[0].Files()
		if err != nil || len(files) != 1 || !strings.HasPrefix(files[0].ContentType, "text/calendar") {
			t.Fatalf("attachments: %+v %v", files, err)
		}
		cal, err := ics.ParseCalendar(strings.NewReader(string(files[0].Data)))
		if err != nil || len(cal.Events()) != 1 {
			t.Fatalf("ics: %v", err)
		}
		st, err := cal.Events()[0].GetStartAt()
		if err != nil || !st.Equal(slot) || !st.Equal(time.Date(2026, 3, 24, 8, 10, 0, 0, time.UTC)) {
			t.Fatalf("ics start %v %v", st, err)
		}
		if dl := a.Get("/servizi/appuntamenti/prenotazione/" + id + "/invito.ics"); dl.Status != 200 || !strings.Contains(dl.Body, "BEGIN:VEVENT") {
			t.Fatalf("ics download: %d", dl.Status)
		}

		// A second booking of the same service: 409, clear message.
		r = book(t, a, time.Date(2026, 3, 25, 9, 10, 0, 0, web.Rome), "mario.rossi@example.it", "")
		if r.Status != http.StatusConflict || !strings.Contains(r.Body, "Hai già una prenotazione attiva") {
			t.Fatalf("second booking: %d", r.Status)
		}

		// Another citizen: 404 as for a missing booking, and a security audit entry.
		b := citizen(p, "VRDLGU75B02F205X", "Luigi Verdi")
		for _, path := range []string{"", "/qr.png", "/invito.ics"} {
			if r := b.Get("/servizi/appuntamenti/prenotazione/" + id + path); r.Status != http.StatusNotFound {
				t.Fatalf("other citizen GET %s: %d", path, r.Status)
			}
		}
		if r := b.PostForm("/servizi/appuntamenti/prenotazione/"+id+"/annulla", nil); r.Status != http.StatusNotFound {
			t.Fatalf("other citizen cancel: %d", r.Status)
		}
		if r := book(t, b, time.Date(2026, 3, 25, 9, 30, 0, 0, web.Rome), "l@example.it", id); r.Status != http.StatusNotFound {
			t.Fatalf("other citizen move: %d", r.Status)
		}
		if bookingOf(t, p, id).Status != appuntamenti.StatusBooked {
			t.Fatal("another citizen changed the booking")
		}
		var denied []audit.Event
		if err := enti.AllEnti(p.DB, "test").Where("action = ? AND object_id = ?", "security.appointment_access_denied", id).
			Find(&denied).Error; err != nil || len(denied) < 4 || denied[0].ActorID != "VRDLGU75B02F205X" {
			t.Fatalf("audit: %d %v", len(denied), err)
		}

		// Move: a new booking, the old one cancelled, a mail.
		newSlot := time.Date(2026, 3, 25, 10, 30, 0, 0, web.Rome)
		r = book(t, a, newSlot, "mario.rossi@example.it", id)
		m2 := refRE.FindStringSubmatch(r.Header.Get("Location"))
		if r.Status != http.StatusSeeOther || m2 == nil || m2[1] == id {
			t.Fatalf("move: %d %s", r.Status, r.Header.Get("Location"))
		}
		if old := bookingOf(t, p, id); old.Status != appuntamenti.StatusCancelled || old.CancelReason != "moved" {
			t.Fatalf("old booking after move: %+v", old)
		}
		if len(outbox(t, p.DB, "appuntamenti.moved")) != 1 {
			t.Fatal("no mail for the move")
		}
		// My appointments lists both.
		if r := a.Get("/servizi/appuntamenti/miei"); r.Status != 200 || !strings.Contains(r.Body, m2[1]) || !strings.Contains(r.Body, id) {
			t.Fatalf("mine: %d", r.Status)
		}
		// Cancel.
		r = a.PostForm("/servizi/appuntamenti/prenotazione/"+m2[1]+"/annulla", nil)
		if r.Status != http.StatusSeeOther || bookingOf(t, p, m2[1]).Status != appuntamenti.StatusCancelled {
			t.Fatalf("cancel: %d", r.Status)
		}
		if r := a.PostForm("/servizi/appuntamenti/prenotazione/"+m2[1]+"/annulla", nil); r.Status != http.StatusConflict {
			t.Fatalf("cancel twice: %d", r.Status)
		}
		if len(outbox(t, p.DB, "appuntamenti.cancelled")) != 1 {
			t.Fatal("no mail for the cancellation")
		}
		// English pages.
		if r := a.GetLang("/servizi/appuntamenti/nuovo", "en"); r.Status != 200 || !strings.Contains(r.Body, "Book an appointment") {
			t.Fatalf("english: %d", r.Status)
		}
	})
}

// Many citizens through HTTP for the last places of a slot: exactly the capacity is
// booked, every other answer is a 409 "no longer available" page, never a 5xx.
func TestHTTPLastPlaces(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		const n = 100 // 2 desks: 2 places
		slot := time.Date(2026, 3, 24, 9, 10, 0, 0, web.Rome)
		clients := make([]*apptest.Client, n)
		form := url.Values{"servizio": {"cie"}, "ufficio": {appuntamenti.DemoOffice}, "inizio": {fmt.Sprint(slot.Unix())},
			"email": {"p@example.it"}}
		for i := range clients {
			clients[i] = citizen(p, fmt.Sprintf("TSTCTZ80A01H%03dX", i), "Prova")
			clients[i].CSRF()
		}
		codes := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		gate := make(chan struct{})
		full := 0
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				f := url.Values{}
				for k, v := range form {
					f[k] = v
				}
				r := clients[i].PostForm("/servizi/appuntamenti/nuovo", f)
				mu.Lock()
				defer mu.Unlock()
				codes[r.Status]++
				if r.Status == http.StatusConflict && strings.Contains(r.Body, "non è più disponibile") {
					full++
				}
			}()
		}
		close(gate)
		wg.Wait()
		if codes[http.StatusSeeOther] != 2 || codes[http.StatusConflict] != n-2 || full != n-2 {
			t.Fatalf("answers %v (full pages %d)", codes, full)
		}
	})
}
