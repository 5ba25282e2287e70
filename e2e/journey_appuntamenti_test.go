package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store"
)

// TestJourneyAppuntamenti is the browser journey of the registry desk's appointments:
// the demo citizen books an appointment for the electronic identity card (CIE), gets
// the confirmation page and the mail with its .ics invitation, moves the appointment,
// joins the waiting list for an earlier slot, is offered the slot the desk frees by
// cancelling another citizen's appointment, accepts the offer from the mail's link and
// finally cancels; the desk sees the day's agenda and checks a citizen in. Every page
// is axe-checked and reflowed at 320 px (CheckA11y).
//
// The other citizen's appointments (one freed by the desk, one checked in today) are
// fixtures written in the database: the demo has a single citizen who can log in, and
// the check-in needs an appointment of today, whatever the hour the journey runs.
func TestJourneyAppuntamenti(t *testing.T) {
	EachDatabase(t, func(t *testing.T, p *Portal) {
		appuntamentiJourney(t, p)
	})
}

// Fictional second citizen of the fixtures.
const (
	apptOtherCF   = "RSSMRA80A01H501U"
	apptOtherName = "Mario Rossi"
)

func appuntamentiJourney(t *testing.T, p *Portal) {
	giulia := p.DemoAccount(t, "giulia.bianchi")
	var desk, admin Account
	for _, a := range p.DemoAccounts(t) {
		switch a.Role {
		case "anagrafe_sportello":
			desk = a
		case "admin":
			admin = a
		}
	}
	if desk.Username == "" || admin.Username == "" {
		t.Fatalf("the demo lacks the registry desk or the administrator:\n%s", p.DemoOutput)
	}
	db := apptDB(t, p)
	loc := rome()
	today := time.Now().In(loc)

	cit := NewBrowser(t)
	cit.BaseURL = p.URL
	cit.LoginComune(p, giulia)
	cit.CheckA11y(t)

	// The service card says how to log in as this portal allows: the demo has no SPID
	// or CIE broker, only the credentials the URP issues.
	cit.VisitAndCheck("/servizi/appuntamenti")
	if main := cit.Text("main"); strings.Contains(main, "SPID") || !strings.Contains(main, "Accedi con le credenziali rilasciate dall'URP") {
		t.Errorf("the service card does not follow the configured providers: %q", main)
	}

	// 1. Book: service and office, then a day at least two days ahead (so that it can
	// still be moved and cancelled), then the first time of that day.
	cit.VisitAndCheck("/servizi/appuntamenti/nuovo")
	cit.Submit(`form[action="/servizi/appuntamenti/nuovo/giorni"] button[type="submit"]`)
	cit.CheckA11y(t)
	apptShot(t, cit, "giorni")
	first := apptPickDay(t, cit, today.AddDate(0, 0, 2), false)
	cit.Follow(`ul[data-testid="free-days"] a[href*="giorno=` + first + `"]`)
	cit.CheckA11y(t)
	apptShot(t, cit, "orari")
	firstStart := eval[string](cit, `document.querySelector('input[name="inizio"]:checked').value`)
	cit.Submit(`form[action="/servizi/appuntamenti/nuovo/conferma"] button[type="submit"]`)
	cit.CheckA11y(t)
	apptShot(t, cit, "conferma")
	if main := cit.Text("main"); !strings.Contains(main, "Cosa portare") || !strings.Contains(main, "22,21 €") {
		t.Errorf("the confirmation step lacks what to bring and the fee: %q", main)
	}
	// An address that is not one is refused next to its field, nothing booked.
	cit.Fill("#email", "giulia.bianchi@")
	if code := cit.Submit(`form[action="/servizi/appuntamenti/nuovo"] button[type="submit"]`); code != 422 {
		t.Errorf("bad address: status %d, want 422", code)
	}
	cit.CheckA11y(t)
	if got := cit.Text("#email-err"); got == "" {
		t.Errorf("bad address: no message next to the field")
	}
	cit.Fill("#email", "giulia.bianchi@example.org")
	cit.Submit(`form[action="/servizi/appuntamenti/nuovo"] button[type="submit"]`)
	cit.CheckA11y(t)
	apptShot(t, cit, "prenotazione")
	ref := cit.Text(`[data-testid="ref"]`)
	if !strings.HasPrefix(cit.Path(), "/servizi/appuntamenti/prenotazione/") || ref == "" {
		t.Fatalf("after booking at %s (alerts %q), want the booking's page with its reference", cit.Path(), cit.Texts(".alert"))
	}
	if main := cit.Text("main"); !strings.Contains(main, "Confermato") {
		t.Errorf("the booking page does not say it is confirmed: %q", main)
	}
	if n := cit.Count(`img[src$="/qr.png"]`); n != 1 {
		t.Errorf("the booking page shows %d QR codes, want 1", n)
	}
	// The CIE fee, online with the (development) pagoPA: the booking page leads to the
	// fee page, which gives the amount and the pay action. Nothing is paid here.
	booking := cit.Path()
	cit.Follow(`main a[href$="/pagamento"]`)
	cit.CheckA11y(t)
	apptShot(t, cit, "pagamento")
	if cit.Path() != booking+"/pagamento" {
		t.Fatalf("the fee link leads to %s", cit.Path())
	}
	if main := cit.Text("main"); !strings.Contains(main, "22,21 €") || !strings.Contains(main, "Puoi pagare ora con pagoPA") {
		t.Errorf("the fee page lacks the amount or its lead in \"tu\": %q", main)
	}
	if got := cit.Text(`main form[action$="/pagamento"] button[type="submit"]`); got != "Continua con il pagamento" {
		t.Errorf("the fee page's pay action reads %q", got)
	}
	cit.VisitAndCheck(booking)

	// The confirmation mail, as the administrator's development mailbox shows it, and
	// its .ics invitation as queued in the outbox.
	adm := NewBrowser(t)
	adm.BaseURL = p.URL
	adm.LoginComune(p, admin)
	adm.CheckA11y(t)
	body := apptMail(t, adm, "Appuntamento confermato")
	if !strings.Contains(body, ref) || !strings.Contains(body, "Carta d'identità elettronica") {
		t.Errorf("the confirmation mail lacks the reference %s or the service: %q", ref, body)
	}
	ics := apptICS(t, db, giulia.FiscalCode, "appuntamenti.booked")
	for _, want := range []string{"BEGIN:VCALENDAR", "METHOD:PUBLISH", "BEGIN:VEVENT", ref, "DTSTART"} {
		if !strings.Contains(ics, want) {
			t.Errorf("the invitation lacks %q:\n%s", want, ics)
		}
	}

	// 2. Move it to the last day with free places.
	cit.Follow(`main a[href*="sposta="]`) // the reference is escaped in the query
	cit.CheckA11y(t)
	last := apptPickDay(t, cit, today.AddDate(0, 0, 2), true)
	if last <= first {
		t.Fatalf("no later day to move to (first %s, last %s)", first, last)
	}
	cit.Follow(`ul[data-testid="free-days"] a[href*="giorno=` + last + `"]`)
	cit.CheckA11y(t)
	cit.Submit(`form[action="/servizi/appuntamenti/nuovo/conferma"] button[type="submit"]`)
	cit.CheckA11y(t)
	cit.Fill("#email", "giulia.bianchi@example.org")
	cit.Submit(`form[action="/servizi/appuntamenti/nuovo"] button[type="submit"]`)
	cit.CheckA11y(t)
	moved := cit.Text(`[data-testid="ref"]`)
	if moved == ref || !strings.Contains(cit.Text("main"), "spostato") {
		t.Fatalf("after moving: reference %s (was %s), alerts %q", moved, ref, cit.Texts(".alert"))
	}
	if body := apptMail(t, adm, "Appuntamento spostato"); !strings.Contains(body, moved) {
		t.Errorf("the mail about the move lacks the new reference %s: %q", moved, body)
	}

	// 3. The first slot (freed by the move) is taken by another citizen (fixture);
	// Giulia joins the waiting list for an earlier slot.
	unix, err := strconv.ParseInt(firstStart, 10, 64)
	if err != nil {
		t.Fatalf("slot start %q: %v", firstStart, err)
	}
	start := time.Unix(unix, 0).UTC()
	ente := apptEnte(t, db, moved)
	other := apptFixture(t, db, ente, "cie", start, 20*time.Minute)
	cit.VisitAndCheck("/servizi/appuntamenti/nuovo/giorni?servizio=cie&ufficio=anagrafe-centro")
	cit.Fill("#wait-email", "giulia.bianchi@example.org")
	cit.Submit(`form[action="/servizi/appuntamenti/attesa"] button[type="submit"]`)
	cit.CheckA11y(t)
	if got := cit.Path(); got != "/servizi/appuntamenti/miei" || !strings.Contains(cit.Text("main"), "lista d'attesa") {
		t.Fatalf("after joining the waiting list at %s (alerts %q)", got, cit.Texts(".alert"))
	}

	// 4. The desk: today's agenda and a check-in (fixture of today), then the day of
	// the other citizen's appointment, cancelled with a reason.
	todayRef := apptFixture(t, db, ente, "residenza", time.Date(today.Year(), today.Month(), today.Day(), 9, 0, 0, 0, loc).UTC(), 30*time.Minute)
	st := NewBrowser(t)
	st.BaseURL = p.URL
	st.LoginComune(p, desk)
	st.CheckA11y(t)
	st.VisitAndCheck("/backoffice/appuntamenti/")
	if !strings.Contains(st.Text("main"), todayRef) {
		t.Fatalf("today's agenda lacks the appointment %s: %q", todayRef, st.Text("main"))
	}
	st.Submit(`form[action="/backoffice/appuntamenti/` + todayRef + `/presente"] button[type="submit"]`)
	st.CheckA11y(t)
	if got := st.Texts("main tbody tr"); len(got) == 0 || !strings.Contains(strings.Join(got, " "), "Presentato") {
		t.Errorf("after the check-in the agenda says %q", got)
	}
	st.VisitAndCheck("/backoffice/appuntamenti/?ufficio=anagrafe-centro&giorno=" + first)
	st.Fill("#motivo-"+other, "Sportello chiuso per un guasto al sistema di emissione")
	st.Submit(`form[action="/backoffice/appuntamenti/` + other + `/annulla"] button[type="submit"]`)
	st.CheckA11y(t)
	if got := strings.Join(st.Texts(".alert"), " "); !strings.Contains(got, "annullato") {
		t.Errorf("after the desk's cancellation: alerts %q", got)
	}

	// 5. The freed slot is offered to Giulia, first in line: the mail's link holds it.
	offer := apptMail(t, adm, "Si è liberato un posto")
	m := regexp.MustCompile(`/servizi/appuntamenti/offerta/[^\s]+`).FindString(offer)
	if m == "" {
		t.Fatalf("the offer mail has no link: %q", offer)
	}
	cit.VisitAndCheck(m)
	apptShot(t, cit, "offerta")
	cit.Submit(`form[action$="/accetta"] button[type="submit"]`)
	cit.CheckA11y(t)
	accepted := cit.Text(`[data-testid="ref"]`)
	if !strings.Contains(cit.Text("main"), "Confermato") || accepted == moved {
		t.Fatalf("after accepting the offer: reference %s, alerts %q", accepted, cit.Texts(".alert"))
	}
	if got, _ := cit.Attr("main time", "datetime"); got != start.Format("2006-01-02T15:04:05Z") {
		t.Errorf("the accepted appointment is at %s, want the freed slot %s", got, start.Format(time.RFC3339))
	}

	// 6. Cancel: the appointment and the one it replaced are both listed as cancelled.
	cit.Submit(`main form[action$="/annulla"] button[type="submit"]`)
	cit.CheckA11y(t)
	if got := cit.Path(); got != "/servizi/appuntamenti/miei" {
		t.Fatalf("after cancelling at %s", got)
	}
	if got := strings.Count(cit.Text("main"), "Annullato"); got != 3 {
		t.Errorf("the list shows %d cancelled appointments, want 3 (moved, replaced by the offer, cancelled): %q", got, cit.Text("main"))
	}
	var booked int
	if err := db.Raw(`SELECT booked FROM appt_slots WHERE ente_id = ? AND service = 'cie' AND starts_at = ?`, ente, start).
		Scan(&booked).Error; err != nil || booked != 0 {
		t.Errorf("the slot cancelled last holds %d places (err %v), want 0", booked, err)
	}

	// 7. The desk's statistics of the month.
	st.VisitAndCheck("/backoffice/appuntamenti/statistiche")
	if got := st.Count(`table[data-testid="stats"] tbody tr`); got != 3 {
		t.Errorf("the statistics have %d rows, want 3 (two services and the total)", got)
	}

	// 8. A change of address booked without an account: the form, the mail's
	// confirmation link, the booking's own link, a cancellation from it.
	anon := NewBrowser(t)
	anon.BaseURL = p.URL
	anon.VisitAndCheck("/servizi/appuntamenti/ospite")
	apptShot(t, anon, "ospite")
	anon.Submit(`form[action="/servizi/appuntamenti/ospite/giorni"] button[type="submit"]`)
	anon.CheckA11y(t)
	gday := apptPickDay(t, anon, today.AddDate(0, 0, 2), false)
	anon.Follow(`ul[data-testid="free-days"] a[href*="giorno=` + gday + `"]`)
	anon.CheckA11y(t)
	anon.Submit(`form[action="/servizi/appuntamenti/ospite/conferma"] button[type="submit"]`)
	anon.CheckA11y(t)
	anon.Fill("#nome", apptOtherName)
	anon.Fill("#codice_fiscale", "RSSMRA80A01H501X") // wrong check character
	anon.Fill("#email", "mario.rossi@example.org")
	if code := anon.Submit(`main form[action="/servizi/appuntamenti/ospite"] button[type="submit"]`); code != 422 {
		t.Errorf("wrong codice fiscale: status %d, want 422", code)
	}
	anon.CheckA11y(t)
	apptShot(t, anon, "ospite-errore")
	anon.Fill("#codice_fiscale", apptOtherCF)
	anon.Submit(`main form[action="/servizi/appuntamenti/ospite"] button[type="submit"]`)
	anon.CheckA11y(t)
	if n := anon.Count(`[data-testid="sent"]`); n != 1 {
		t.Fatalf("no \"check your email\" page: %q", anon.Text("main"))
	}
	link := regexp.MustCompile(`/servizi/appuntamenti/ospite/c/[A-Za-z0-9_-]+`).FindString(apptMail(t, adm, "Conferma la prenotazione"))
	if link == "" {
		t.Fatal("the confirmation mail has no link")
	}
	anon.VisitAndCheck(link)
	anon.Submit(`main form button[type="submit"]`)
	anon.CheckA11y(t)
	apptShot(t, anon, "ospite-prenotazione")
	if !strings.HasPrefix(anon.Path(), "/servizi/appuntamenti/ospite/g/") || anon.Text(`[data-testid="ref"]`) == "" {
		t.Fatalf("after confirming at %s (alerts %q)", anon.Path(), anon.Texts(".alert"))
	}
	manage := anon.Path()
	if body := apptMail(t, adm, "Appuntamento confermato"); !strings.Contains(body, "/servizi/appuntamenti/ospite/g/") {
		t.Errorf("the booking mail has no link to manage it without an account: %q", body)
	}
	anon.Submit(`main form[action$="/annulla"] button[type="submit"]`)
	anon.CheckA11y(t)
	if got := anon.Path(); got != manage || !strings.Contains(anon.Text("main"), "Annullato") {
		t.Errorf("after cancelling without an account at %s: %q", got, anon.Text("main"))
	}
}

// apptShot looks at the page as a 390 px phone shows it (kept under
// e2e/testdata/out).
func apptShot(t *testing.T, b *Browser, name string) {
	t.Helper()
	b.setWidth(DocScreenshotWidth)
	b.Screenshot(name + "-390")
	b.setWidth(0)
}

// apptPickDay returns the first (or, with last, the last) free day offered on the
// days page that is not before from.
func apptPickDay(t *testing.T, b *Browser, from time.Time, last bool) string {
	t.Helper()
	days := eval[[]string](b, `Array.from(document.querySelectorAll('ul[data-testid="free-days"] a'),
		a => new URL(a.href).searchParams.get('giorno'))`)
	min := from.Format("2006-01-02")
	var out string
	for _, d := range days {
		if d >= min && (out == "" || last) {
			out = d
		}
	}
	if out == "" {
		t.Fatalf("no free day from %s: %v", min, days)
	}
	return out
}

// apptMail opens the newest message whose subject starts with subject in the
// development mailbox and returns its text.
func apptMail(t *testing.T, b *Browser, subject string) string {
	t.Helper()
	b.VisitAndCheck("/backoffice/posta")
	href := eval[string](b, fmt.Sprintf(`(Array.from(document.querySelectorAll('main tbody a')).find(a => a.textContent.trim().startsWith(%s)) || {}).href || ''`,
		jsString(subject)))
	if href == "" {
		t.Fatalf("no mail %q in the mailbox: %q", subject, b.Texts("main tbody a"))
	}
	b.VisitAndCheck(href)
	return b.Text("main pre")
}

// apptDB opens the portal's database (the SQLite file or the PostgreSQL database).
func apptDB(t *testing.T, p *Portal) *gorm.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{URL: p.DatabaseURL, DataDir: p.DataDir, MaxOpenConns: 1})
	if err != nil {
		t.Fatalf("open the portal's database: %v", err)
	}
	t.Cleanup(func() { store.Close(db) })
	return db
}

// apptICS returns the invitation attached to the newest mail of kind to cf.
func apptICS(t *testing.T, db *gorm.DB, cf, kind string) string {
	t.Helper()
	var rec notify.Record
	if err := db.Where("citizen_cf = ? AND kind = ?", cf, kind).Order("id DESC").Take(&rec).Error; err != nil {
		t.Fatalf("no %s mail in the outbox: %v", kind, err)
	}
	files, err := rec.Files()
	if err != nil || len(files) != 1 || !strings.HasPrefix(files[0].ContentType, "text/calendar") {
		t.Fatalf("the %s mail's attachments: %d (err %v), want one text/calendar", kind, len(files), err)
	}
	return string(files[0].Data)
}

// apptEnte is the ente of booking id.
func apptEnte(t *testing.T, db *gorm.DB, id string) string {
	t.Helper()
	var ente string
	if err := db.Raw(`SELECT ente_id FROM appt_bookings WHERE id = ?`, id).Scan(&ente).Error; err != nil || ente == "" {
		t.Fatalf("ente of booking %s: %q, %v", id, ente, err)
	}
	return ente
}

// apptFixture books a place of slot (service, start) of the demo office for the
// fictional second citizen, as Book would (the slot's counter, then the booking), and
// returns the booking's reference.
func apptFixture(t *testing.T, db *gorm.DB, ente, service string, start time.Time, length time.Duration) string {
	t.Helper()
	ref := fmt.Sprintf("FIX%s%d", strings.ToUpper(service[:3]), start.Unix()%1000000)
	err := db.Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Raw(`SELECT COUNT(*) FROM appt_slots WHERE ente_id = ? AND office_id = 'anagrafe-centro' AND service = ? AND starts_at = ?`,
			ente, service, start).Scan(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			if err := tx.Exec(`INSERT INTO appt_slots (ente_id, office_id, service, starts_at, capacity, booked) VALUES (?, 'anagrafe-centro', ?, ?, 1, 0)`,
				ente, service, start).Error; err != nil {
				return err
			}
		}
		res := tx.Exec(`UPDATE appt_slots SET booked = booked + 1 WHERE ente_id = ? AND office_id = 'anagrafe-centro' AND service = ? AND starts_at = ? AND booked < capacity`,
			ente, service, start)
		if res.Error != nil || res.RowsAffected != 1 {
			return fmt.Errorf("no free place at %s: %v", start, res.Error)
		}
		return tx.Exec(`INSERT INTO appt_bookings (ente_id, id, office_id, service, starts_at, ends_at, citizen_cf, name, email, status, created_at)
			VALUES (?, ?, 'anagrafe-centro', ?, ?, ?, ?, ?, 'mario.rossi@example.org', 'booked', ?)`,
			ente, ref, service, start, start.Add(length), apptOtherCF, apptOtherName, time.Now().UTC()).Error
	})
	if err != nil {
		t.Fatalf("fixture appointment %s at %s: %v", service, start, err)
	}
	return ref
}
