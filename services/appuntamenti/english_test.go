package appuntamenti_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services/appuntamenti"
)

// A citizen who uses the portal in English gets the later mails in English too: the
// reminder (sent by a job, outside any request) and the waiting list's offer.
func TestLaterMailsInTheCitizensLanguage(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		en := citizen(p, "RSSMRA80A01H501U", "Mario Rossi")
		en.Get("/?lang=en")
		id := bookAt(t, en, "cie", time.Date(2026, 3, 24, 9, 10, 0, 0, web.Rome), "mario@example.it")
		it := citizen(p, "VRDLGU75B02F205X", "Luigi Verdi")
		bookAt(t, it, "cie", time.Date(2026, 3, 24, 9, 30, 0, 0, web.Rome), "luigi@example.it")
		if err := p.mod.SendReminders(context.Background(), now); err != nil {
			t.Fatal(err)
		}
		for _, m := range outbox(t, p.DB, "appuntamenti.reminder") {
			switch m.To {
			case "mario@example.it":
				if !strings.HasPrefix(m.Subject, "Reminder") || !strings.Contains(m.Text, id) || !strings.Contains(m.Text, "Tuesday 24 March 2026") {
					t.Errorf("English reminder: %q %q", m.Subject, m.Text)
				}
			case "luigi@example.it":
				if !strings.HasPrefix(m.Subject, "Promemoria") {
					t.Errorf("Italian reminder: %q", m.Subject)
				}
			}
		}
		// The English citizen waits for a residenza place; the Italian one frees it.
		freed := bookAt(t, it, "residenza", time.Date(2026, 3, 25, 9, 0, 0, 0, web.Rome), "luigi@example.it")
		if r := en.PostForm("/servizi/appuntamenti/attesa", url.Values{"servizio": {"residenza"}, "ufficio": {appuntamenti.DemoOffice},
			"email": {"mario@example.it"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("join: %d", r.Status)
		}
		if r := it.PostForm("/servizi/appuntamenti/prenotazione/"+freed+"/annulla", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("cancel: %d", r.Status)
		}
		offers := outbox(t, p.DB, "appuntamenti.offer")
		if len(offers) != 1 || !strings.HasPrefix(offers[0].Subject, "A place has freed up") || !strings.Contains(offers[0].Text, "We hold it for you") {
			t.Fatalf("English offer: %+v", offers)
		}
	})
}
