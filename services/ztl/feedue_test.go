package ztl_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services/ztl"
)

// TestRevokedUnpaidPermitFeeWithdrawn: an officer revokes an unpaid permit and its
// fee is withdrawn on pagoPA at once (the notice can no longer be paid); a receipt
// arriving afterwards is refused and the permit stays revoked with no plate listed.
// A fee paid on pagoPA just before the revocation is recorded as paid, the permit
// stays revoked and the payment is in the audit log for the office to refund. The
// fee of a permit that ended unpaid is withdrawn by the job ztl/tariffe. The permit
// page says what to do while the fee is due, and that nothing is due afterwards.
func TestRevokedUnpaidPermitFeeWithdrawn(t *testing.T) {
	t.Parallel()
	eachWithFees(t, func(t *testing.T, e *env) {
		ctx := enti.WithEnte(context.Background(), e.App.Enti().All(context.Background())[0])
		pay := e.App.Payments()
		mario := e.citizen(cfMario, "Mario Rossi")
		off := e.officer()
		grant := func(plate, days string) (ztl.Permit, *payments.Position) {
			t.Helper()
			id, r := apply(t, e, mario, url.Values{"category": {"temporaneo"}, "start": {"2027-03-01"}, "days": {days}},
				url.Values{"plate1": {plate}, "country1": {""}}, url.Values{})
			want(t, r, http.StatusSeeOther)
			want(t, decide(t, e, off, id), http.StatusSeeOther)
			var p ztl.Permit
			if err := e.scoped().Where("case_id = ?", id).Take(&p).Error; err != nil || p.Status != ztl.StatusUnpaid {
				t.Fatalf("permit %+v %v", p, err)
			}
			pos, err := pay.ByRef(ctx, ztl.PurposeFee, p.Code)
			if err != nil {
				t.Fatal(err)
			}
			return p, pos
		}
		state := func(code string) (string, int64) {
			t.Helper()
			var p ztl.Permit
			if err := e.scoped().Where("code = ?", code).Take(&p).Error; err != nil {
				t.Fatal(err)
			}
			var n int64
			e.scoped().Model(&ztl.Access{}).Where("permit_id = ?", p.ID).Count(&n)
			return p.Status, n
		}

		// Unpaid, its notice published: the page says how to pay, by when, and what
		// happens after the due date (the permit ends on 3 March: due by 2 March).
		p1, pos1 := grant("GB 482 KL", "2")
		if _, err := pay.Publish(ctx, pos1.ID, payments.System); err != nil {
			t.Fatal(err)
		}
		r := mario.Get("/servizi/ztl/permessi/" + p1.Code)
		want(t, r, http.StatusOK, "5,00 euro da pagare con pagoPA entro il 02/03/2027",
			"Cosa devi fare: pagare la tariffa entro il 02/03/2027", "scarica l&#39;avviso di pagamento pagoPA",
			"il permesso decade", payments.CitizenPath(pos1.ID))
		if strings.Contains(r.Body, "nucleo familiare") {
			t.Error("a temporary permit's page speaks of household places")
		}
		want(t, mario.GetLang("/servizi/ztl/permessi/"+p1.Code, "en"), http.StatusOK, "What to do: pay the fee by 02/03/2027", "the permit lapses")

		want(t, off.PostForm("/backoffice/ztl/permessi/"+p1.Code+"/revoca", url.Values{"reason": {"Domanda presentata per errore"}}), http.StatusSeeOther)
		got, err := pay.Get(ctx, pos1.ID)
		if err != nil || got.State != payments.Cancelled || got.CancelReason == "" {
			t.Fatalf("fee of the revoked permit right after the revocation: %+v %v", got, err)
		}
		if _, ok := e.App.DevPagoPA().Pay(got.CreditorCF, got.NoticeNumber); ok {
			t.Error("the withdrawn notice could still be paid on pagoPA")
		}
		if _, err := pay.Confirm(ctx, pos1.ID, payments.Receipt{ID: "RICEVUTA-TARDIVA", AmountCents: 500, PSP: "Banca di prova"}); !errors.Is(err, payments.ErrState) {
			t.Errorf("a receipt for the withdrawn fee: %v, want ErrState", err)
		}
		if s, n := state(p1.Code); s != ztl.StatusRevoked || n != 0 {
			t.Fatalf("revoked permit after a late receipt: %s with %d lines", s, n)
		}
		want(t, mario.Get("/servizi/ztl/permessi/"+p1.Code), http.StatusOK, "5,00 euro non più dovuti")

		// Paid on pagoPA a moment before the revocation: the withdrawal finds the
		// payment and records it; the permit stays revoked, the office sees it.
		p2, pos2 := grant("GC 111 AA", "3")
		pub, err := pay.Publish(ctx, pos2.ID, payments.System)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := e.App.DevPagoPA().Pay(pub.CreditorCF, pub.NoticeNumber); !ok {
			t.Fatal("could not pay the notice on the development pagoPA")
		}
		want(t, off.PostForm("/backoffice/ztl/permessi/"+p2.Code+"/revoca", url.Values{"reason": {"Veicolo non conforme"}}), http.StatusSeeOther)
		if got, _ := pay.Get(ctx, pos2.ID); got == nil || got.State != payments.Paid {
			t.Fatalf("fee paid before the revocation: %+v", got)
		}
		if s, n := state(p2.Code); s != ztl.StatusRevoked || n != 0 {
			t.Fatalf("the payment reactivated a revoked permit: %s with %d lines", s, n)
		}
		var refunds int64
		e.All().Model(&audit.Event{}).Where("action = ? AND object_id = ?", "ztl.fee_paid_revoked", p2.Code).Count(&refunds)
		if refunds != 1 {
			t.Errorf("%d audit rows for the payment of a revoked permit, want 1", refunds)
		}

		// Ended unpaid: the job withdraws the fee; still waiting in time: untouched.
		p3, pos3 := grant("GD 222 BB", "1")
		_, pos4 := grant("GE 333 CC", "7")
		e.job("ztl/tariffe", e.clk.now())
		if got, _ := pay.Get(ctx, pos3.ID); got == nil || got.State != payments.Created {
			t.Fatalf("fee of a permit still waiting in time: %+v", got)
		}
		e.clk.set(p3.ValidTo.Add(time.Hour))
		e.job("ztl/tariffe", e.clk.now())
		if got, _ := pay.Get(ctx, pos3.ID); got == nil || got.State != payments.Cancelled {
			t.Fatalf("fee of a permit ended unpaid: %+v", got)
		}
		if got, _ := pay.Get(ctx, pos4.ID); got == nil || got.State != payments.Created {
			t.Fatalf("fee of a permit still in time: %+v", got)
		}
	})
}

// TestUnpaidResidentPermitLapses: an unpaid residents' permit holds its household
// places until its fee's due date (30 days); then the job ztl/tariffe withdraws the
// fee and the permit lapses, its places released once even with tens of runs at once,
// while the paid permit of the same household keeps its place.
func TestUnpaidResidentPermitLapses(t *testing.T) {
	t.Parallel()
	eachWithFees(t, func(t *testing.T, e *env) {
		ctx := enti.WithEnte(context.Background(), e.App.Enti().All(context.Background())[0])
		pay := e.App.Payments()
		pair := householdPair(t, e) // two living members of one household
		off := e.officer()
		permit := url.Values{"category": {"residenti"}, "start": {"2027-03-01"}, "days": {""}}
		var ps [2]ztl.Permit
		var pos [2]*payments.Position
		for i, plate := range []string{"AB123CD", "XY987ZW"} {
			c := e.citizenWithEmail(pair[i], "residente"+string(rune('a'+i))+"@example.it")
			id, r := apply(t, e, c, permit, url.Values{"plate1": {plate}}, url.Values{}, pdfDoc)
			want(t, r, http.StatusSeeOther)
			want(t, decide(t, e, off, id), http.StatusSeeOther)
			if err := e.scoped().Where("case_id = ?", id).Take(&ps[i]).Error; err != nil || ps[i].Status != ztl.StatusUnpaid {
				t.Fatalf("permit %+v %v", ps[i], err)
			}
			var err error
			if pos[i], err = pay.Publish(ctx, mustPos(t, pay, ctx, ps[i].Code).ID, payments.System); err != nil {
				t.Fatal(err)
			}
		}
		used := func() int {
			t.Helper()
			var s ztl.HouseholdSlots
			if err := e.scoped().Where("category = ?", "residenti").Take(&s).Error; err != nil {
				t.Fatal(err)
			}
			return s.Used
		}
		if used() != 2 {
			t.Fatalf("household places used %d by two unpaid permits, want 2", used())
		}
		// The second member pays.
		if _, err := pay.Confirm(ctx, pos[1].ID, payments.Receipt{ID: "RICEVUTA-RES-2", AmountCents: 3000, PSP: "Banca di prova"}); err != nil {
			t.Fatal(err)
		}

		want(t, e.citizenWithEmail(pair[0], "residentea@example.it").Get("/servizi/ztl/permessi/"+ps[0].Code), http.StatusOK,
			"il permesso decade", "Fino a quella data il permesso occupa i suoi posti tra i veicoli del tuo nucleo familiare")

		// Before the due date the unpaid permit keeps its place.
		e.clk.set(e.clk.now().AddDate(0, 0, 29))
		e.job("ztl/tariffe", e.clk.now())
		if got, _ := pay.Get(ctx, pos[0].ID); got == nil || got.State != payments.Published || used() != 2 {
			t.Fatalf("before the due date: fee %+v, places %d", got, used())
		}

		// After the due date: 20 runs at once (replicas) lapse it once.
		e.clk.set(pos[0].DueDate.Add(time.Hour))
		var job func(context.Context, time.Time) error
		for _, j := range e.m.Jobs() {
			if j.Name == "ztl/tariffe" {
				job = j.Run
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := job(bg, e.clk.now()); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got, _ := pay.Get(ctx, pos[0].ID); got == nil || got.State != payments.Cancelled {
			t.Fatalf("fee past its due date: %+v", got)
		}
		var lapsed ztl.Permit
		e.scoped().Where("id = ?", ps[0].ID).Take(&lapsed)
		if lapsed.Status != ztl.StatusRevoked || lapsed.SlotHeld || lapsed.RevokedBy != "ztl/tariffe" {
			t.Fatalf("lapsed permit: status %s, holds places %v, by %q", lapsed.Status, lapsed.SlotHeld, lapsed.RevokedBy)
		}
		if used() != 1 {
			t.Errorf("household places used %d after the lapse, want 1 (the paid permit's)", used())
		}
		var n int64
		e.All().Model(&audit.Event{}).Where("action = ? AND object_id = ?", "ztl.permit_lapse", ps[0].Code).Count(&n)
		if n != 1 {
			t.Errorf("%d audit rows for the lapse, want 1", n)
		}
		// The holder is told once, in both languages.
		var mails []notify.Record
		e.All().Where("kind = ?", "ztl.lapse").Find(&mails)
		if len(mails) != 1 || mails[0].To != lapsed.Email || mails[0].Subject != "Il permesso ZTL "+lapsed.Code+" è decaduto: tariffa non pagata" ||
			!strings.Contains(mails[0].Text, "non devi pagare nulla") || !strings.Contains(mails[0].Text, "the permit has lapsed") {
			t.Errorf("lapse mails (holder %q): %+v", lapsed.Email, mails)
		}
		var paid ztl.Permit
		e.scoped().Where("id = ?", ps[1].ID).Take(&paid)
		if paid.Status != ztl.StatusActive || !paid.SlotHeld {
			t.Errorf("the paid permit: %s, holds places %v", paid.Status, paid.SlotHeld)
		}
	})
}

func mustPos(t *testing.T, pay *payments.Service, ctx context.Context, code string) *payments.Position {
	t.Helper()
	p, err := pay.ByRef(ctx, ztl.PurposeFee, code)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// citizenWithEmail is a client logged in as register person p with an e-mail address.
func (e *env) citizenWithEmail(p anagrafe.Person, email string) *apptest.Client {
	c := e.Client()
	e.LoginWithEmail(c, web.Viewer{Kind: "citizen", ID: p.FiscalCode, FiscalCode: p.FiscalCode, DisplayName: p.Name}, email)
	return c
}

// TestWithdrawnFeeStillLapses: a fee withdrawn while its permit still waits (by the
// payments office, or by a run of ztl/tariffe whose lapse then failed) can no longer
// be paid, so the permit still lapses at the due date: 20 runs at once lapse it once,
// with one audit entry and one mail; before the due date nothing happens.
func TestWithdrawnFeeStillLapses(t *testing.T) {
	t.Parallel()
	eachWithFees(t, func(t *testing.T, e *env) {
		ctx := enti.WithEnte(context.Background(), e.App.Enti().All(context.Background())[0])
		pay := e.App.Payments()
		mario := e.citizenWithEmail(anagrafe.Person{FiscalCode: cfMario, Name: "Mario Rossi"}, "mario.rossi@example.it")
		id, r := apply(t, e, mario, url.Values{"category": {"merci"}, "start": {"2027-03-01"}, "days": {""}},
			url.Values{"plate1": {"FD 404 DD"}, "country1": {""}}, url.Values{}, pdfDoc, pdfDoc)
		want(t, r, http.StatusSeeOther)
		want(t, decide(t, e, e.officer(), id), http.StatusSeeOther)
		var p ztl.Permit
		if err := e.scoped().Where("case_id = ?", id).Take(&p).Error; err != nil || p.Status != ztl.StatusUnpaid {
			t.Fatalf("permit %+v %v", p, err)
		}
		pos := mustPos(t, pay, ctx, p.Code)
		if _, err := pay.Cancel(ctx, pos.ID, "Avviso annullato dall'ufficio tributi", payments.Actor{Kind: audit.ActorStaff, ID: "u.tributi"}); err != nil {
			t.Fatal(err)
		}
		status := func() string {
			t.Helper()
			var got ztl.Permit
			if err := e.scoped().Where("id = ?", p.ID).Take(&got).Error; err != nil {
				t.Fatal(err)
			}
			return got.Status
		}
		e.clk.set(pos.DueDate.Add(-time.Hour))
		e.job("ztl/tariffe", e.clk.now())
		if s := status(); s != ztl.StatusUnpaid {
			t.Fatalf("before the due date the permit is %s", s)
		}
		e.clk.set(pos.DueDate.Add(time.Hour))
		atOnce(t, e.runs("ztl/tariffe", 20, e.clk.now())...)
		if s := status(); s != ztl.StatusRevoked {
			t.Fatalf("after the due date the permit is %s", s)
		}
		var audits, mails int64
		e.All().Model(&audit.Event{}).Where("action = ? AND object_id = ?", "ztl.permit_lapse", p.Code).Count(&audits)
		e.All().Model(&notify.Record{}).Where("kind = ?", "ztl.lapse").Count(&mails)
		if audits != 1 || mails != 1 {
			t.Errorf("%d lapse audit entries and %d lapse mails, want 1 and 1", audits, mails)
		}
	})
}
