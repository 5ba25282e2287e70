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
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services/appuntamenti"
)

func bookAt(t *testing.T, c *apptest.Client, service string, start time.Time, email string) string {
	t.Helper()
	r := c.PostForm("/servizi/appuntamenti/nuovo", url.Values{"servizio": {service}, "ufficio": {appuntamenti.DemoOffice},
		"inizio": {fmt.Sprint(start.Unix())}, "email": {email}})
	m := refRE.FindStringSubmatch(r.Header.Get("Location"))
	if r.Status != http.StatusSeeOther || m == nil {
		t.Fatalf("book %v: %d", start, r.Status)
	}
	return m[1]
}

// Reminders go once per booking, also when two runs overlap; the mail carries the
// invitation.
func TestReminderOnce(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		a := citizen(p, "RSSMRA80A01H501U", "Mario Rossi")
		soon := bookAt(t, a, "cie", time.Date(2026, 3, 24, 9, 10, 0, 0, web.Rome), "mario@example.it")
		b := citizen(p, "VRDLGU75B02F205X", "Luigi Verdi")
		far := bookAt(t, b, "cie", time.Date(2026, 4, 10, 9, 10, 0, 0, web.Rome), "luigi@example.it")
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- p.mod.SendReminders(context.Background(), now) }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := outbox(t, p.DB, "appuntamenti.reminder")
		if len(got) != 1 || got[0].To != "mario@example.it" || !strings.Contains(got[0].Text, soon) {
			t.Fatalf("reminders: %d %+v", len(got), got)
		}
		if files, _ := got[0].Files(); len(files) != 1 {
			t.Fatal("reminder without invitation")
		}
		if bookingOf(t, p, far).RemindedAt != nil {
			t.Fatal("a booking beyond the reminder window was reminded")
		}
	})
}

// The desk: role required, the day's agenda, check-in, no-show (not for a future
// day), cancellation with a reason mailed to the citizen, all audited.
func TestStaffAgenda(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		a := citizen(p, "RSSMRA80A01H501U", "Mario Rossi")
		today := bookAt(t, a, "cie", time.Date(2026, 3, 23, 10, 10, 0, 0, web.Rome), "mario@example.it")
		b := citizen(p, "VRDLGU75B02F205X", "Luigi Verdi")
		todayB := bookAt(t, b, "cie", time.Date(2026, 3, 23, 10, 30, 0, 0, web.Rome), "luigi@example.it")
		c := citizen(p, "BNCNNA90C41L219Y", "Anna Bianchi")
		tomorrow := bookAt(t, c, "residenza", time.Date(2026, 3, 24, 9, 0, 0, 0, web.Rome), "anna@example.it")

		other := p.Client()
		p.LoginAs(other, web.Viewer{Kind: "staff", ID: "ufficio.tributi", DisplayName: "Tributi", Roles: []string{"urp"}})
		if r := other.Get("/backoffice/appuntamenti/"); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
			t.Fatalf("staff without the role: %d", r.Status)
		}
		desk := p.Client()
		p.LoginAs(desk, web.Viewer{Kind: "staff", ID: "sportello.uno", DisplayName: "Sportello", Roles: []string{appuntamenti.RoleDesk}})
		r := desk.Get("/backoffice/appuntamenti/?ufficio=" + appuntamenti.DemoOffice + "&giorno=2026-03-23")
		if r.Status != 200 || !strings.Contains(r.Body, today) || !strings.Contains(r.Body, todayB) || strings.Contains(r.Body, tomorrow) {
			t.Fatalf("agenda: %d", r.Status)
		}
		if r := desk.PostForm("/backoffice/appuntamenti/"+today+"/presente", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("check-in: %d", r.Status)
		}
		if r := desk.PostForm("/backoffice/appuntamenti/"+todayB+"/assente", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("no-show: %d", r.Status)
		}
		if r := desk.PostForm("/backoffice/appuntamenti/"+tomorrow+"/assente", nil); r.Status != http.StatusConflict {
			t.Fatalf("no-show for tomorrow: %d", r.Status)
		}
		if r := desk.PostForm("/backoffice/appuntamenti/"+today+"/assente", nil); r.Status != http.StatusConflict {
			t.Fatalf("no-show after check-in: %d", r.Status)
		}
		if bookingOf(t, p, today).Status != appuntamenti.StatusCheckedIn || bookingOf(t, p, todayB).Status != appuntamenti.StatusNoShow ||
			bookingOf(t, p, tomorrow).Status != appuntamenti.StatusBooked {
			t.Fatal("statuses after the desk's actions")
		}
		// Cancel without a reason: 422, nothing changes; with one: mailed.
		if r := desk.PostForm("/backoffice/appuntamenti/"+tomorrow+"/annulla", url.Values{"motivo": {"  "}}); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("cancel without reason: %d", r.Status)
		}
		if bookingOf(t, p, tomorrow).Status != appuntamenti.StatusBooked {
			t.Fatal("cancelled without a reason")
		}
		if r := desk.PostForm("/backoffice/appuntamenti/"+tomorrow+"/annulla", url.Values{"motivo": {"Sportello chiuso per guasto informatico"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("cancel: %d", r.Status)
		}
		mails := outbox(t, p.DB, "appuntamenti.staff_cancelled")
		if len(mails) != 1 || mails[0].To != "anna@example.it" || !strings.Contains(mails[0].Text, "guasto informatico") {
			t.Fatalf("staff cancellation mail: %+v", mails)
		}
		var n int64
		if err := enti.AllEnti(p.DB, "test").Model(&audit.Event{}).Where("actor_id = ? AND action IN ?", "sportello.uno",
			[]string{"appuntamenti.checkin", "appuntamenti.no_show", "appuntamenti.staff_cancel"}).Count(&n).Error; err != nil || n != 3 {
			t.Fatalf("audit entries: %d %v", n, err)
		}
		// A closure on 25 March: the bookings it hits are listed; the day is no longer offered.
		d := citizen(p, "GLLPLA70D05G273Z", "Paola Gialli")
		hit := bookAt(t, d, "cie", time.Date(2026, 3, 25, 9, 10, 0, 0, web.Rome), "paola@example.it")
		if r := desk.PostForm("/backoffice/appuntamenti/chiusure", url.Values{"ufficio": {appuntamenti.DemoOffice},
			"dal": {"2026-03-25T09:00"}, "al": {"2026-03-25T08:00"}, "motivo": {"Sciopero"}}); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("closure ending before it starts: %d", r.Status)
		}
		r = desk.PostForm("/backoffice/appuntamenti/chiusure", url.Values{"ufficio": {appuntamenti.DemoOffice},
			"dal": {"2026-03-25T08:00"}, "al": {"2026-03-25T13:00"}, "motivo": {"Sciopero del personale"}})
		if r.Status != 200 || !strings.Contains(r.Body, hit) || !strings.Contains(r.Body, "1 appuntamenti") {
			t.Fatalf("closure: %d", r.Status)
		}
		if r := d.Get("/servizi/appuntamenti/nuovo/giorni?servizio=cie&ufficio=" + appuntamenti.DemoOffice); strings.Contains(r.Body, "giorno=2026-03-25") {
			t.Fatal("the closed morning is still offered (25 March has no afternoon hours)")
		}
		// Figures: one attended, one no-show this month: 50 %.
		stats, err := p.mod.Stats(p.ctx)
		if err != nil || len(stats) != 3 || stats[0].Value != 4 || stats[2].Value != 50 {
			t.Fatalf("stats %+v %v", stats, err)
		}
	})
}

// The desk's capacity pages: desks, opening hours, a closure called off; bad input
// refused with 422 and nothing changed; added places offered to the line first;
// another role refused; every change audited.
func TestStaffCapacityPages(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		w := citizen(p, "VRDLGU75B02F205X", "Luigi Verdi")
		if r := w.PostForm("/servizi/appuntamenti/attesa", url.Values{"servizio": {"residenza"}, "ufficio": {appuntamenti.DemoOffice},
			"email": {"luigi@example.it"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("join: %d", r.Status)
		}
		other := p.Client()
		p.LoginAs(other, web.Viewer{Kind: "staff", ID: "ufficio.tributi", DisplayName: "Tributi", Roles: []string{"urp"}})
		if r := other.PostForm("/backoffice/appuntamenti/sportelli", url.Values{"ufficio": {appuntamenti.DemoOffice},
			"servizio": {"residenza"}, "sportelli": {"5"}}); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
			t.Fatalf("staff without the role: %d", r.Status)
		}
		desk := p.Client()
		p.LoginAs(desk, web.Viewer{Kind: "staff", ID: "sportello.uno", DisplayName: "Sportello", Roles: []string{appuntamenti.RoleDesk}})
		for _, bad := range []url.Values{{"sportelli": {"0"}, "servizio": {"residenza"}}, {"sportelli": {"tre"}, "servizio": {"residenza"}},
			{"sportelli": {"101"}, "servizio": {"residenza"}}, {"sportelli": {"2"}, "servizio": {"passaporto"}}} {
			bad.Set("ufficio", appuntamenti.DemoOffice)
			if r := desk.PostForm("/backoffice/appuntamenti/sportelli", bad); r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("desks %v: %d", bad, r.Status)
			}
		}
		if r := desk.PostForm("/backoffice/appuntamenti/sportelli", url.Values{"ufficio": {"altrove"}, "servizio": {"residenza"},
			"sportelli": {"2"}}); r.Status != http.StatusNotFound {
			t.Fatalf("unknown office: %d", r.Status)
		}
		if wt := waiterOf(t, p, "VRDLGU75B02F205X"); wt.Status != appuntamenti.WaitWaiting {
			t.Fatalf("refused changes offered a place: %s", wt.Status)
		}
		// A second desk for the change of address: Luigi is offered the earliest place.
		if r := desk.PostForm("/backoffice/appuntamenti/sportelli", url.Values{"ufficio": {appuntamenti.DemoOffice},
			"servizio": {"residenza"}, "sportelli": {"2"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("desks: %d", r.Status)
		}
		wt := waiterOf(t, p, "VRDLGU75B02F205X")
		if wt.Status != appuntamenti.WaitOffered || !wt.OfferStart.Equal(time.Date(2026, 3, 23, 10, 30, 0, 0, web.Rome)) {
			t.Fatalf("after the new desk: %s %v", wt.Status, wt.OfferStart)
		}
		if offers := outbox(t, p.DB, "appuntamenti.offer"); len(offers) != 1 || offers[0].To != "luigi@example.it" {
			t.Fatalf("offer mails: %+v", offers)
		}
		// Opening hours: bad ones refused, Saturday morning added and shown.
		for _, bad := range []url.Values{{"apre": {"10:00"}, "chiude": {"09:00"}, "giorno_settimana": {"6"}},
			{"apre": {"09:00"}, "chiude": {"10:00"}, "giorno_settimana": {"9"}},
			{"apre": {"11:00"}, "chiude": {"13:00"}, "giorno_settimana": {"1"}}} { // overlaps 08:30-12:30
			bad.Set("ufficio", appuntamenti.DemoOffice)
			bad.Set("servizio", "cie")
			if r := desk.PostForm("/backoffice/appuntamenti/orari", bad); r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("hours %v: %d", bad, r.Status)
			}
		}
		if r := desk.PostForm("/backoffice/appuntamenti/orari", url.Values{"ufficio": {appuntamenti.DemoOffice}, "servizio": {"cie"},
			"giorno_settimana": {"6"}, "apre": {"09:00"}, "chiude": {"10:00"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("hours: %d", r.Status)
		}
		if r := w.Get("/servizi/appuntamenti/nuovo/giorni?servizio=cie&ufficio=" + appuntamenti.DemoOffice); !strings.Contains(r.Body, "giorno=2026-03-28") {
			t.Fatal("Saturday 28 March is not offered after the new opening")
		}
		// A closure, then called off.
		if r := desk.PostForm("/backoffice/appuntamenti/chiusure", url.Values{"ufficio": {appuntamenti.DemoOffice},
			"dal": {"2026-03-26T08:00"}, "al": {"2026-03-26T18:00"}, "motivo": {"Sciopero del personale"}}); r.Status != 200 {
			t.Fatalf("closure: %d", r.Status)
		}
		page := desk.Get("/backoffice/appuntamenti/?ufficio=" + appuntamenti.DemoOffice)
		m := regexp.MustCompile(`/backoffice/appuntamenti/chiusure/([^/]+)/rimuovi`).FindStringSubmatch(page.Body)
		if page.Status != 200 || m == nil || !strings.Contains(page.Body, "Sabato 09:00-10:00") {
			t.Fatalf("agenda without the closure or the new hours: %d", page.Status)
		}
		if r := other.PostForm("/backoffice/appuntamenti/chiusure/"+m[1]+"/rimuovi", nil); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
			t.Fatalf("closure removed by another role: %d", r.Status)
		}
		if r := desk.PostForm("/backoffice/appuntamenti/chiusure/"+m[1]+"/rimuovi", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("remove closure: %d", r.Status)
		}
		if r := desk.PostForm("/backoffice/appuntamenti/chiusure/"+m[1]+"/rimuovi", nil); r.Status != http.StatusNotFound {
			t.Fatalf("remove closure twice: %d", r.Status)
		}
		if r := w.Get("/servizi/appuntamenti/nuovo/giorni?servizio=cie&ufficio=" + appuntamenti.DemoOffice); !strings.Contains(r.Body, "giorno=2026-03-26") {
			t.Fatal("26 March is not offered again after the closure was called off")
		}
		var n int64
		if err := enti.AllEnti(p.DB, "test").Model(&audit.Event{}).Where("actor_id = ? AND action IN ?", "sportello.uno",
			[]string{"appuntamenti.desks", "appuntamenti.hours", "appuntamenti.closure", "appuntamenti.closure_removed"}).Count(&n).Error; err != nil || n != 4 {
			t.Fatalf("audit entries: %d %v", n, err)
		}
	})
}

// Statistics per office and month, on the page and as CSV: bookings, cancellations
// (not moves), no-shows, attendances, average days to the first free slot; a bad month
// is a 400, an unknown office a 404, other roles are refused.
func TestStaffStatistics(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		a := citizen(p, "RSSMRA80A01H501U", "Mario Rossi")
		seen := bookAt(t, a, "cie", time.Date(2026, 3, 23, 10, 10, 0, 0, web.Rome), "mario@example.it")
		b := citizen(p, "VRDLGU75B02F205X", "Luigi Verdi")
		away := bookAt(t, b, "cie", time.Date(2026, 3, 23, 10, 30, 0, 0, web.Rome), "luigi@example.it")
		c := citizen(p, "BNCNNA90C41L219Y", "Anna Bianchi")
		first := bookAt(t, c, "residenza", time.Date(2026, 3, 25, 9, 0, 0, 0, web.Rome), "anna@example.it")
		// Anna moves (not a cancellation), then cancels.
		r := c.PostForm("/servizi/appuntamenti/nuovo", url.Values{"servizio": {"residenza"}, "ufficio": {appuntamenti.DemoOffice},
			"inizio": {fmt.Sprint(time.Date(2026, 3, 26, 9, 0, 0, 0, web.Rome).Unix())}, "email": {"anna@example.it"}, "sposta": {first}})
		moved := refRE.FindStringSubmatch(r.Header.Get("Location"))
		if r.Status != http.StatusSeeOther || moved == nil {
			t.Fatalf("move: %d", r.Status)
		}
		if r := c.PostForm("/servizi/appuntamenti/prenotazione/"+moved[1]+"/annulla", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("cancel: %d", r.Status)
		}
		desk := p.Client()
		p.LoginAs(desk, web.Viewer{Kind: "staff", ID: "sportello.uno", DisplayName: "Sportello", Roles: []string{appuntamenti.RoleDesk}})
		desk.PostForm("/backoffice/appuntamenti/"+seen+"/presente", nil)
		desk.PostForm("/backoffice/appuntamenti/"+away+"/assente", nil)

		page := desk.Get("/backoffice/appuntamenti/statistiche?ufficio=" + appuntamenti.DemoOffice + "&mese=2026-03")
		if page.Status != 200 || !strings.Contains(page.Body, "Statistiche per sportello e mese") {
			t.Fatalf("stats page: %d", page.Status)
		}
		csvR := desk.Get("/backoffice/appuntamenti/statistiche.csv?ufficio=" + appuntamenti.DemoOffice + "&mese=2026-03")
		if csvR.Status != 200 || !strings.HasPrefix(csvR.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("csv: %d %s", csvR.Status, csvR.Header.Get("Content-Type"))
		}
		lines := strings.Split(strings.TrimSpace(csvR.Body), "\n")
		// Both CIE bookings were made at 08:00 with the first free slot at 10:00 (the
		// minimum lead): 2 hours, 0.1 days.
		want := []string{
			"Mese;Servizio;Appuntamenti prenotati;Annullati;Non presentati;Presentati;Giorni medi al primo posto libero",
			"2026-03;Carta d'identità elettronica (CIE);2;0;1;1;0,1",
			"2026-03;Cambio di residenza o di indirizzo;2;1;0;0;0,1",
			"2026-03;Totale;4;1;1;1;0,1",
		}
		if len(lines) != len(want) {
			t.Fatalf("csv lines:\n%s", csvR.Body)
		}
		for i := range want {
			if strings.TrimRight(lines[i], "\r") != want[i] {
				t.Errorf("csv line %d: %q, want %q", i, lines[i], want[i])
			}
		}
		if r := desk.Get("/backoffice/appuntamenti/statistiche.csv?ufficio=" + appuntamenti.DemoOffice + "&mese=2026-04"); !strings.Contains(r.Body, "2026-04;Totale;0;0;0;0;") {
			t.Errorf("an empty month: %q", r.Body)
		}
		if r := desk.Get("/backoffice/appuntamenti/statistiche?mese=marzo"); r.Status != http.StatusBadRequest {
			t.Errorf("bad month: %d", r.Status)
		}
		if r := desk.Get("/backoffice/appuntamenti/statistiche?ufficio=altrove"); r.Status != http.StatusNotFound {
			t.Errorf("unknown office: %d", r.Status)
		}
		other := p.Client()
		p.LoginAs(other, web.Viewer{Kind: "staff", ID: "ufficio.tributi", DisplayName: "Tributi", Roles: []string{"urp"}})
		if r := other.Get("/backoffice/appuntamenti/statistiche.csv"); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
			t.Errorf("another role: %d", r.Status)
		}
	})
}

// Named desks: the desk names a desk of a service; bookings get a desk, shown on the
// agenda and in the confirmation mail; bad names are refused with 422.
func TestStaffNamesDesks(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		desk := p.Client()
		p.LoginAs(desk, web.Viewer{Kind: "staff", ID: "sportello.uno", DisplayName: "Sportello", Roles: []string{appuntamenti.RoleDesk}})
		name := url.Values{"ufficio": {appuntamenti.DemoOffice}, "servizio": {"cie"}, "numero": {"2"}, "nome": {"Sportello 2 - piano terra"}}
		for _, bad := range []url.Values{{"numero": {"3"}}, {"numero": {"zero"}}, {"nome": {strings.Repeat("x", 61)}}} {
			f := url.Values{}
			for k, v := range name {
				f[k] = v
			}
			for k, v := range bad {
				f[k] = v
			}
			if r := desk.PostForm("/backoffice/appuntamenti/sportelli/nome", f); r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("desk name %v: %d", bad, r.Status)
			}
		}
		if r := desk.PostForm("/backoffice/appuntamenti/sportelli/nome", name); r.Status != http.StatusSeeOther {
			t.Fatalf("desk name: %d", r.Status)
		}
		slot := time.Date(2026, 3, 24, 9, 10, 0, 0, web.Rome)
		a := citizen(p, "RSSMRA80A01H501U", "Mario Rossi")
		first := bookAt(t, a, "cie", slot, "mario@example.it")
		b := citizen(p, "VRDLGU75B02F205X", "Luigi Verdi")
		second := bookAt(t, b, "cie", slot, "luigi@example.it")
		if d1, d2 := bookingOf(t, p, first).Desk, bookingOf(t, p, second).Desk; d1 != 1 || d2 != 2 {
			t.Fatalf("desks %d and %d, want 1 and 2", d1, d2)
		}
		page := desk.Get("/backoffice/appuntamenti/?ufficio=" + appuntamenti.DemoOffice + "&giorno=2026-03-24")
		if page.Status != 200 || !strings.Contains(page.Body, "<td>Sportello 1</td>") || !strings.Contains(page.Body, "<td>Sportello 2 - piano terra</td>") {
			t.Fatalf("agenda without the desks: %d", page.Status)
		}
		for _, m := range outbox(t, p.DB, "appuntamenti.booked") {
			want := map[string]string{"mario@example.it": "Sportello: Sportello 1\n", "luigi@example.it": "Sportello: Sportello 2 - piano terra\n"}[m.To]
			if !strings.Contains(m.Text, want) {
				t.Errorf("mail to %s lacks %q: %q", m.To, want, m.Text)
			}
		}
	})
}
