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

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/appuntamenti"
)

var (
	confirmLinkRE = regexp.MustCompile(`/servizi/appuntamenti/ospite/c/([A-Za-z0-9_-]{43})`)
	manageLinkRE  = regexp.MustCompile(`/servizi/appuntamenti/ospite/g/([A-Za-z0-9_-]{43})`)
)

func guestForm(start time.Time, name, cf, email string) url.Values {
	return url.Values{"servizio": {"residenza"}, "ufficio": {appuntamenti.DemoOffice}, "inizio": {fmt.Sprint(start.Unix())},
		"nome": {name}, "codice_fiscale": {cf}, "email": {email}}
}

func countRows(t *testing.T, p portal, table string) int64 {
	t.Helper()
	var n int64
	if err := enti.AllEnti(p.DB, "test check").Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// Booking without an account for the change of address: bad input refused (nothing
// stored), a request mails a confirmation link (only its SHA-256 stored, nothing
// booked yet), twenty confirmations at once of one link make one booking, the
// booking's link manages it (move, cancel), an unknown link is a 404 with a security
// event; the identity card needs the comune's setting.
func TestGuestBooking(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		anon := p.Client()
		if r := anon.Get("/servizi/appuntamenti"); r.Status != 200 || !strings.Contains(r.Body, `href="/servizi/appuntamenti/ospite"`) ||
			!strings.Contains(r.Body, "Procedi senza accedere") {
			t.Fatalf("the service card does not offer booking without an account: %d", r.Status)
		}
		if r := anon.Get("/servizi/appuntamenti/ospite"); r.Status != 200 || !strings.Contains(r.Body, `value="residenza"`) ||
			strings.Contains(r.Body, `value="cie"`) {
			t.Fatalf("start page without an account: %d", r.Status)
		}
		if r := anon.Get("/servizi/appuntamenti/ospite/giorni?servizio=cie&ufficio=" + appuntamenti.DemoOffice); r.Status != http.StatusSeeOther {
			t.Fatalf("the identity card without an account (not allowed by default): %d", r.Status)
		}
		if r := anon.Get("/servizi/appuntamenti/ospite/conferma?servizio=residenza&ufficio=" + appuntamenti.DemoOffice +
			"&inizio=" + fmt.Sprint(time.Date(2026, 3, 24, 9, 0, 0, 0, web.Rome).Unix())); r.Status != 200 ||
			!strings.Contains(r.Body, `id="codice_fiscale"`) || !strings.Contains(r.Body, `action="/servizi/appuntamenti/ospite"`) {
			t.Fatalf("last step without an account: %d", r.Status)
		}
		slot := time.Date(2026, 3, 24, 9, 0, 0, 0, web.Rome)
		for name, f := range map[string]url.Values{
			"bad codice fiscale": guestForm(slot, "Mario Rossi", "RSSMRA80A01H501X", "mario@example.it"),
			"no name":            guestForm(slot, " ", "RSSMRA80A01H501U", "mario@example.it"),
			"bad email":          guestForm(slot, "Mario Rossi", "RSSMRA80A01H501U", "mario@"),
		} {
			if r := anon.PostForm("/servizi/appuntamenti/ospite", f); r.Status != http.StatusUnprocessableEntity {
				t.Errorf("%s: %d", name, r.Status)
			}
		}
		if r := anon.PostForm("/servizi/appuntamenti/ospite", guestForm(time.Date(2026, 3, 28, 9, 0, 0, 0, web.Rome),
			"Mario Rossi", "RSSMRA80A01H501U", "mario@example.it")); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("a Saturday: %d", r.Status)
		}
		if n := countRows(t, p, "appt_guest_tokens"); n != 0 {
			t.Fatalf("refused requests stored %d tokens", n)
		}
		r := anon.PostForm("/servizi/appuntamenti/ospite", guestForm(slot, "Mario Rossi", "rssmra80a01h501u", "mario@example.it"))
		if r.Status != 200 || !strings.Contains(r.Body, "Controlla la tua email") {
			t.Fatalf("request: %d", r.Status)
		}
		mails := outbox(t, p.DB, "appuntamenti.guest_confirm")
		if len(mails) != 1 || mails[0].To != "mario@example.it" {
			t.Fatalf("confirmation mails: %+v", mails)
		}
		m := confirmLinkRE.FindStringSubmatch(mails[0].Text)
		if m == nil {
			t.Fatalf("no confirmation link: %q", mails[0].Text)
		}
		raw := m[1]
		var hashes []string
		if err := enti.AllEnti(p.DB, "test check").Table("appt_guest_tokens").Pluck("hash", &hashes).Error; err != nil ||
			len(hashes) != 1 || hashes[0] == raw || len(hashes[0]) != 64 {
			t.Fatalf("stored token: %v %v", hashes, err)
		}
		if n := countRows(t, p, "appt_bookings"); n != 0 {
			t.Fatal("booked before the confirmation")
		}
		if r := anon.Get("/servizi/appuntamenti/ospite/c/" + raw); r.Status != 200 || !strings.Contains(r.Body, "Confermo la prenotazione") {
			t.Fatalf("confirmation page: %d", r.Status)
		}
		// Twenty confirmations at once (the link opened on several devices): one booking.
		var wg sync.WaitGroup
		statuses := make(chan int, 20)
		for range 20 {
			c := p.Client()
			c.CSRF()
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses <- c.PostForm("/servizi/appuntamenti/ospite/c/"+raw, nil).Status
			}()
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		if count[http.StatusSeeOther] != 1 || count[http.StatusConflict] != 19 {
			t.Fatalf("20 confirmations: %v, want one 303 and nineteen 409", count)
		}
		var list []appuntamenti.Booking
		if err := enti.AllEnti(p.DB, "test check").Find(&list).Error; err != nil || len(list) != 1 || !list[0].Guest ||
			list[0].CitizenCF != "RSSMRA80A01H501U" || !list[0].StartsAt.Equal(slot) {
			t.Fatalf("bookings after the confirmations: %+v %v", list, err)
		}
		id := list[0].ID
		booked := outbox(t, p.DB, "appuntamenti.booked")
		if len(booked) != 1 {
			t.Fatalf("booked mails: %d", len(booked))
		}
		mm := manageLinkRE.FindStringSubmatch(booked[0].Text)
		if mm == nil || strings.Contains(booked[0].Text, "/prenotazione/") {
			t.Fatalf("the booking mail has no link to manage it without an account: %q", booked[0].Text)
		}
		if files, _ := booked[0].Files(); len(files) != 1 {
			t.Fatal("booking mail without the invitation")
		}
		if r := anon.Get("/servizi/appuntamenti/ospite/g/" + mm[1]); r.Status != 200 || !strings.Contains(r.Body, id) ||
			!strings.Contains(r.Body, "24/03/2026 09:00") {
			t.Fatalf("manage page: %d", r.Status)
		}
		// Unknown links: 404 and a security event.
		for _, path := range []string{"/ospite/c/" + strings.Repeat("A", 43), "/ospite/g/" + strings.Repeat("B", 43)} {
			if r := anon.Get("/servizi/appuntamenti" + path); r.Status != http.StatusNotFound {
				t.Fatalf("unknown link %s: %d", path, r.Status)
			}
		}
		var sec int64
		if err := enti.AllEnti(p.DB, "test").Model(&audit.Event{}).Where("action = ?", "security.appointment_access_denied").
			Count(&sec).Error; err != nil || sec != 2 {
			t.Fatalf("security events: %d %v", sec, err)
		}
		// Move from the link: a new booking with its own link, the old one cancelled.
		later := time.Date(2026, 3, 25, 10, 0, 0, 0, web.Rome)
		mv := url.Values{"servizio": {"residenza"}, "ufficio": {appuntamenti.DemoOffice}, "inizio": {fmt.Sprint(later.Unix())},
			"gestione": {mm[1]}}
		if r := anon.Get("/servizi/appuntamenti/ospite/conferma?" + mv.Encode()); r.Status != 200 || strings.Contains(r.Body, `id="codice_fiscale"`) {
			t.Fatalf("move's last step: %d", r.Status)
		}
		r = anon.PostForm("/servizi/appuntamenti/ospite", mv)
		m2 := manageLinkRE.FindStringSubmatch(r.Header.Get("Location"))
		if r.Status != http.StatusSeeOther || m2 == nil || m2[1] == mm[1] {
			t.Fatalf("move: %d %s", r.Status, r.Header.Get("Location"))
		}
		if b := bookingOf(t, p, id); b.Status != appuntamenti.StatusCancelled || b.CancelReason != "moved" {
			t.Fatalf("moved booking: %s %s", b.Status, b.CancelReason)
		}
		// Cancel from the new link.
		if r := anon.PostForm("/servizi/appuntamenti/ospite/g/"+m2[1]+"/annulla", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("cancel: %d", r.Status)
		}
		var active int64
		if err := enti.AllEnti(p.DB, "test check").Model(&appuntamenti.Booking{}).Where("status = ?", appuntamenti.StatusBooked).
			Count(&active).Error; err != nil || active != 0 {
			t.Fatalf("active bookings after the cancellation: %d %v", active, err)
		}
		// The used confirmation link stays used.
		if r := anon.PostForm("/servizi/appuntamenti/ospite/c/"+raw, nil); r.Status != http.StatusConflict {
			t.Fatalf("reused link: %d", r.Status)
		}
	})
}

// The limits of the requests without an account, under concurrency: thirty requests
// at once for one email pass five times; then requests for other emails from the
// same address pass until the address's twenty.
func TestGuestRateLimits(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		slot := time.Date(2026, 3, 24, 9, 0, 0, 0, web.Rome)
		run := func(n int, email func(i int) string) map[int]int {
			var wg sync.WaitGroup
			statuses := make(chan int, n)
			for i := range n {
				c := p.Client()
				c.CSRF()
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses <- c.PostForm("/servizi/appuntamenti/ospite", guestForm(slot, "Mario Rossi", "RSSMRA80A01H501U", email(i))).Status
				}()
			}
			wg.Wait()
			close(statuses)
			count := map[int]int{}
			for s := range statuses {
				count[s]++
			}
			return count
		}
		if got := run(30, func(int) string { return "mario@example.it" }); got[200] != appuntamenti.GuestPerEmail ||
			got[http.StatusTooManyRequests] != 30-appuntamenti.GuestPerEmail {
			t.Fatalf("30 requests for one email: %v", got)
		}
		left := appuntamenti.GuestPerAddress - appuntamenti.GuestPerEmail
		if got := run(25, func(i int) string { return fmt.Sprintf("p%d@example.it", i) }); got[200] != left ||
			got[http.StatusTooManyRequests] != 25-left {
			t.Fatalf("25 requests from one address: %v, want %d passed", got, left)
		}
		if n := countRows(t, p, "appt_guest_tokens"); n != int64(appuntamenti.GuestPerAddress) {
			t.Fatalf("tokens stored: %d, want %d", n, appuntamenti.GuestPerAddress)
		}
		if n := len(outbox(t, p.DB, "appuntamenti.guest_confirm")); n != appuntamenti.GuestPerAddress {
			t.Fatalf("mails: %d", n)
		}
	})
}

// The identity card without an account, when the comune allows it.
func TestGuestCIEWhenAllowed(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			set := appuntamenti.DefaultSettings()
			set.GuestServices = []string{appuntamenti.ServiceCIE, appuntamenti.ServiceResidenza}
			mod := appuntamenti.New(appuntamenti.WithClock(func() time.Time { return now }), appuntamenti.WithSettings(set))
			s := apptest.New(t, d, apptest.Options{Modules: []services.Module{mod}})
			ctx := enti.WithEnte(context.Background(), s.App.Enti().All(context.Background())[0])
			if err := mod.SeedDemo(ctx, s.DB); err != nil {
				t.Fatal(err)
			}
			anon := s.Client()
			if r := anon.Get("/servizi/appuntamenti/ospite"); r.Status != 200 || !strings.Contains(r.Body, `value="cie"`) {
				t.Fatalf("start page: %d", r.Status)
			}
			if r := anon.Get("/servizi/appuntamenti/ospite/giorni?servizio=cie&ufficio=" + appuntamenti.DemoOffice); r.Status != 200 ||
				strings.Contains(r.Body, "lista d'attesa") {
				t.Fatalf("days for the identity card: %d", r.Status)
			}
		})
	}
}

// The confirmation job forgets the links expired for more than a month and the
// counters whose window is long over; live ones stay.
func TestGuestPurge(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		anon := p.Client()
		if r := anon.PostForm("/servizi/appuntamenti/ospite", guestForm(time.Date(2026, 3, 24, 9, 0, 0, 0, web.Rome),
			"Mario Rossi", "RSSMRA80A01H501U", "mario@example.it")); r.Status != 200 {
			t.Fatalf("request: %d", r.Status)
		}
		if err := p.mod.ConfirmJob(context.Background(), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if countRows(t, p, "appt_guest_tokens") != 1 || countRows(t, p, "appt_guest_limits") != 2 {
			t.Fatal("live link or counters purged")
		}
		if err := p.mod.ConfirmJob(context.Background(), now.Add(appuntamenti.GuestKeep+48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n, l := countRows(t, p, "appt_guest_tokens"), countRows(t, p, "appt_guest_limits"); n != 0 || l != 0 {
			t.Fatalf("after the purge: %d links, %d counters", n, l)
		}
	})
}
