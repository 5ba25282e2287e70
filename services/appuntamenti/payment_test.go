package appuntamenti_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services/appuntamenti"
)

// The CIE fee paid online, through real HTTP on both databases: a booked CIE
// appointment offers "pay now"; tens of simultaneous presses make one debt position
// of 22,21 € linked to the booking; the agenda says "to pay at the desk" until the
// receipt, then "paid online"; another citizen gets 404 and a security event.
func TestCIEFeeOnline(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		a := citizen(p, "RSSMRA80A01H501U", "Mario Rossi")
		slot := time.Date(2026, 3, 24, 9, 10, 0, 0, web.Rome)
		r := book(t, a, slot, "mario.rossi@example.it", "")
		m := refRE.FindStringSubmatch(r.Header.Get("Location"))
		if r.Status != http.StatusSeeOther || m == nil {
			t.Fatalf("book: %d %q", r.Status, r.Header.Get("Location"))
		}
		id := m[1]
		base := "/servizi/appuntamenti/prenotazione/" + id
		if r := a.Get(base); r.Status != http.StatusOK || !strings.Contains(r.Body, "Paga ora online i diritti (22,21 €)") {
			t.Fatalf("booking page: %d", r.Status)
		}
		if r := a.Get(base + "/pagamento"); r.Status != http.StatusOK || !strings.Contains(r.Body, "Continua con il pagamento") ||
			!strings.Contains(r.Body, "22,21 €") || !strings.Contains(r.Body, "Puoi pagare ora con pagoPA") {
			t.Fatalf("fee page: %d\n%s", r.Status, r.Body)
		}
		if r := a.GetLang(base+"/pagamento", "en"); !strings.Contains(r.Body, "Paying the identity card fee") {
			t.Error("no English fee page")
		}

		var wg sync.WaitGroup
		locs := make([]string, 20)
		for i := range locs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := a.PostForm(base+"/pagamento", nil)
				if r.Status != http.StatusSeeOther {
					t.Errorf("pay now: %d", r.Status)
				}
				locs[i] = r.Header.Get("Location")
			}()
		}
		wg.Wait()
		var n int64
		p.App.Payments().Store(p.ctx).Model(&payments.Position{}).Where("purpose = ? AND ref = ?", appuntamenti.PurposeCIE, id).Count(&n)
		if n != 1 {
			t.Fatalf("%d positions for one booking after 20 presses", n)
		}
		pos, err := p.App.Payments().ByRef(p.ctx, appuntamenti.PurposeCIE, id)
		if err != nil || pos.AmountCents != 2221 || pos.PayerCF != "RSSMRA80A01H501U" || !strings.Contains(pos.Causale, "24/03/2026 09:10") {
			t.Fatalf("position %+v %v", pos, err)
		}
		for _, l := range locs {
			if l != payments.CitizenPath(pos.ID) {
				t.Errorf("pay now leads to %q, want %q", l, payments.CitizenPath(pos.ID))
			}
		}

		desk := p.Client()
		p.LoginAs(desk, web.Viewer{Kind: "staff", ID: "sportello.uno", DisplayName: "Sportello", Roles: []string{appuntamenti.RoleDesk}})
		agenda := "/backoffice/appuntamenti/?ufficio=" + appuntamenti.DemoOffice + "&giorno=2026-03-24"
		if r := desk.Get(agenda); r.Status != http.StatusOK || !strings.Contains(r.Body, "Diritti CIE da pagare allo sportello") {
			t.Fatalf("agenda before payment: %d", r.Status)
		}
		// pagoPA's receipt (the module's clock is in March 2026: the development
		// pagoPA would call the position expired, so the receipt is given directly).
		if first, err := p.App.Payments().Confirm(p.ctx, pos.ID, payments.Receipt{ID: "RICEVUTA-CIE-1", AmountCents: 2221, PSP: "Banca di prova"}); err != nil || !first {
			t.Fatalf("confirm: %v %v", first, err)
		}
		if r := desk.Get(agenda); !strings.Contains(r.Body, "Diritti CIE pagati online") || strings.Contains(r.Body, "da pagare allo sportello") {
			t.Errorf("agenda after payment: %d", r.Status)
		}
		if r := a.Get(base + "/pagamento"); !strings.Contains(r.Body, "allo sportello non devi pagare nulla") || strings.Contains(r.Body, "Continua con il pagamento") {
			t.Errorf("fee page after payment: %d", r.Status)
		}

		// Another citizen: 404, audited.
		o := citizen(p, "VRDLGU75B02F205X", "Luigi Verdi")
		for _, r := range []*struct{ status int }{{o.Get(base + "/pagamento").Status}, {o.PostForm(base+"/pagamento", nil).Status}} {
			if r.status != http.StatusNotFound {
				t.Errorf("another citizen's booking: %d", r.status)
			}
		}
		var denied int64
		enti.AllEnti(p.DB, "test").Model(&audit.Event{}).Where("action = ? AND actor_id = ?", "security.appointment_access_denied",
			"VRDLGU75B02F205X").Count(&denied)
		if denied != 2 {
			t.Errorf("%d denied attempts audited, want 2", denied)
		}
	})
}

// The fee follows the booking: a CIE appointment paid online and then moved keeps its
// payment (the agenda says paid, nothing new to pay); an unpaid fee of a cancelled
// booking is withdrawn by the job, a paid one is never touched. Both databases.
func TestCIEFeeFollowsTheBooking(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, p portal) {
		a := citizen(p, "RSSMRA80A01H501U", "Mario Rossi")
		pay := func(id string) *payments.Position {
			t.Helper()
			if r := a.PostForm("/servizi/appuntamenti/prenotazione/"+id+"/pagamento", nil); r.Status != http.StatusSeeOther {
				t.Fatalf("pay now: %d", r.Status)
			}
			pos, err := p.App.Payments().ByRef(p.ctx, appuntamenti.PurposeCIE, id)
			if err != nil {
				t.Fatal(err)
			}
			return pos
		}
		first := bookCIE(t, a, time.Date(2026, 3, 24, 9, 10, 0, 0, web.Rome), "mario.rossi@example.it")
		pos := pay(first)
		if ok, err := p.App.Payments().Confirm(p.ctx, pos.ID, payments.Receipt{ID: "RICEVUTA-CIE-2", AmountCents: 2221, PSP: "Banca di prova"}); err != nil || !ok {
			t.Fatalf("confirm: %v %v", ok, err)
		}
		r := book(t, a, time.Date(2026, 3, 25, 10, 10, 0, 0, web.Rome), "mario.rossi@example.it", first)
		m := refRE.FindStringSubmatch(r.Header.Get("Location"))
		if r.Status != http.StatusSeeOther || m == nil || m[1] == first {
			t.Fatalf("move: %d %q", r.Status, r.Header.Get("Location"))
		}
		moved := m[1]
		if got, err := p.App.Payments().ByRef(p.ctx, appuntamenti.PurposeCIE, moved); err != nil || got.ID != pos.ID || got.State != payments.Paid {
			t.Fatalf("the paid fee did not follow the move: %+v %v", got, err)
		}
		if _, err := p.App.Payments().ByRef(p.ctx, appuntamenti.PurposeCIE, first); err != payments.ErrNotFound {
			t.Errorf("the old booking still has a fee: %v", err)
		}
		if r := a.Get("/servizi/appuntamenti/prenotazione/" + moved + "/pagamento"); !strings.Contains(r.Body, "allo sportello non devi pagare nulla") {
			t.Errorf("the moved booking asks to pay again: %d", r.Status)
		}
		var moves int64
		enti.AllEnti(p.DB, "test").Model(&audit.Event{}).Where("action = ? AND object_id = ?", "payments.move_ref", pos.ID).Count(&moves)
		if moves != 1 {
			t.Errorf("%d audit rows for the move, want 1", moves)
		}

		// Cancelled with its fee paid: the payment stays paid.
		if r := a.PostForm("/servizi/appuntamenti/prenotazione/"+moved+"/annulla", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("cancel: %d", r.Status)
		}
		// A new booking, fee asked but not paid, then cancelled: the job withdraws it.
		third := bookCIE(t, a, time.Date(2026, 3, 26, 9, 10, 0, 0, web.Rome), "mario.rossi@example.it")
		unpaid := pay(third)
		if r := a.PostForm("/servizi/appuntamenti/prenotazione/"+third+"/annulla", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("cancel: %d", r.Status)
		}
		if err := p.mod.CancelOrphanFees(p.ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got, _ := p.App.Payments().Get(p.ctx, unpaid.ID); got == nil || got.State != payments.Cancelled {
			t.Errorf("unpaid fee of a cancelled booking: %+v", got)
		}
		if got, _ := p.App.Payments().Get(p.ctx, pos.ID); got == nil || got.State != payments.Paid {
			t.Errorf("paid fee after the booking's cancellation: %+v", got)
		}
	})
}
