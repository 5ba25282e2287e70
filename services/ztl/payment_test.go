package ztl_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/store/storetest"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
	"github.com/comuni-italiani/sportello/services/ztl"
)

// eachWithFees is each with permit fees paid through pagoPA (the development pagoPA).
func eachWithFees(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	eachWithSettings(t, "pagopa_fees: true", false, fn)
}

// eachWithSettings is each with the module's settings (modules.settings.ztl) given as
// YAML and, with withSMTP, a real SMTP server (e.smtp) configured as the portal's, so
// that its outbox queues mails for delivery instead of holding them.
func eachWithSettings(t *testing.T, settings string, withSMTP bool, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			c := &clock{}
			c.set(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC))
			m := ztl.New(ztl.WithClock(c.now))
			var ms *smtpServer
			if withSMTP {
				ms = newSMTPServer(t)
			}
			s := apptest.New(t, d, apptest.Options{Modules: []services.Module{register{}, m},
				Configure: func(cfg *config.Config) {
					if ms != nil {
						cfg.Mail.SMTPHost, cfg.Mail.SMTPPort, cfg.Mail.TLS = "127.0.0.1", ms.port, "none"
					}
					var n yaml.Node
					if err := yaml.Unmarshal([]byte(settings), &n); err != nil {
						t.Fatal(err)
					}
					cfg.Modules.Settings = map[string]yaml.Node{ztl.ID: n}
				}})
			fn(t, &env{Server: s, clk: c, t: t, m: m, smtp: ms})
		})
	}
}

// A permit of a category with a fee, with fees paid through pagoPA: the approval
// grants it "da pagare" with its fee's debt position and no plate on the gates'
// list (the public check does not say valid); the citizen pays online on the
// (development) pagoPA and the permit becomes active with its plate listed; the
// receipt delivered again, tens of times at once, changes nothing. A free category
// is active at approval with no position.
func TestPermitFeePaidThroughPagoPA(t *testing.T) {
	t.Parallel()
	eachWithFees(t, func(t *testing.T, e *env) {
		ctx := enti.WithEnte(context.Background(), e.App.Enti().All(context.Background())[0])
		pay := e.App.Payments()
		lines := func(code string) int64 {
			t.Helper()
			var n int64
			if err := e.scoped().Table("ztl_access").Joins("JOIN ztl_permits ON ztl_permits.id = ztl_access.permit_id").
				Where("ztl_permits.code = ?", code).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		mario := e.citizen(cfMario, "Mario Rossi")
		permit := url.Values{"category": {"temporaneo"}, "start": {"2027-03-01"}, "days": {"2"}}
		id, r := apply(t, e, mario, permit, url.Values{"plate1": {"GB 482 KL"}, "country1": {""}}, url.Values{})
		want(t, r, http.StatusSeeOther)
		want(t, decide(t, e, e.officer(), id), http.StatusSeeOther)

		r = mario.Get("/servizi/ztl/permessi")
		want(t, r, http.StatusOK, "Da pagare") // the plates show once listed (paid)
		m := codeRE.FindStringSubmatch(r.Body)
		if m == nil {
			t.Fatalf("no permit link:\n%s", r.Body)
		}
		code := m[1]
		if r := mario.Get("/servizi/ztl/permessi/" + code); r.Status != http.StatusOK || !strings.Contains(r.Body, "5,00 euro da pagare con pagoPA") ||
			!strings.Contains(r.Body, "/area-personale/pagamenti") || strings.Contains(r.Body, "permesso.pdf") {
			t.Fatalf("unpaid permit page: %d (the permit's PDF must wait for the payment)", r.Status)
		}
		if n := lines(code); n != 0 {
			t.Fatalf("an unpaid permit has %d whitelist lines", n)
		}
		if r := e.Client().Get(ztl.VerifyBase + "/" + code); strings.Contains(r.Body, "PERMESSO VALIDO") || !strings.Contains(r.Body, "tariffa non è ancora pagata") {
			t.Errorf("public check of an unpaid permit: %d\n%s", r.Status, r.Body)
		}
		pos, err := pay.ByRef(ctx, ztl.PurposeFee, code)
		if err != nil || pos.AmountCents != 500 || pos.PayerCF != cfMario || pos.State != payments.Created {
			t.Fatalf("fee position %+v %v", pos, err)
		}
		// A temporary plate cannot open the gates of an unpaid permit.
		want(t, mario.PostForm("/servizi/ztl/permessi/"+code+"/targa-temporanea",
			url.Values{"tplate": {"AA 111 AA"}, "from": {"2027-03-01"}, "to": {"2027-03-02"}}), http.StatusUnprocessableEntity)

		// The citizen pays online: the position is published on the way to Checkout.
		r = mario.PostForm(payments.CitizenPath(pos.ID)+"/paga", nil)
		want(t, r, http.StatusSeeOther)
		checkout := mario.Follow(r)
		want(t, checkout, http.StatusOK, "5,00")
		back := mario.Submit(checkout, url.Values{"action": {"pay"}})
		want(t, mario.Follow(back), http.StatusOK, "Pagamento riuscito")

		want(t, mario.Get("/servizi/ztl/permessi/"+code), http.StatusOK, "Valido", "5,00 euro pagati con pagoPA")
		if n := lines(code); n != 1 {
			t.Fatalf("paid permit: %d whitelist lines, want 1", n)
		}
		if r := e.Client().Get(ztl.VerifyBase + "/" + code); !strings.Contains(r.Body, "PERMESSO VALIDO") {
			t.Errorf("public check of the paid permit: %d", r.Status)
		}
		// The receipt again, 25 times at once: counted once, the permit activated once.
		paid, _ := pay.Get(ctx, pos.ID)
		rc := payments.Receipt{ID: paid.ReceiptID, AmountCents: paid.AmountCents, PSP: paid.PSP}
		var firsts, errs atomic.Int32
		var wg sync.WaitGroup
		for range 25 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, err := pay.Confirm(ctx, pos.ID, rc)
				if err != nil {
					errs.Add(1)
				}
				if first {
					firsts.Add(1)
				}
			}()
		}
		wg.Wait()
		if firsts.Load() != 0 || errs.Load() != 0 || lines(code) != 1 {
			t.Fatalf("repeated receipts: %d first, %d errors, %d lines", firsts.Load(), errs.Load(), lines(code))
		}

		// A free category (disabled badge holders): active at approval, nothing to pay.
		free := url.Values{"category": {"disabili"}, "start": {"2027-03-01"}, "days": {""}}
		id2, r := apply(t, e, mario, free, url.Values{"plate1": {"FF 222 GG"}, "country1": {""}},
			url.Values{"badge_number": {"CUDE-RM-1234"}, "badge_expiry": {"2028-12-31"}}, pdfDoc)
		want(t, r, http.StatusSeeOther)
		want(t, decide(t, e, e.officer(), id2), http.StatusSeeOther)
		var free2 []ztl.Permit
		e.scoped().Where("case_id = ?", id2).Find(&free2)
		if len(free2) != 1 || free2[0].Status != ztl.StatusActive || lines(free2[0].Code) == 0 {
			t.Fatalf("free permit: %+v", free2)
		}
		if _, err := pay.ByRef(ctx, ztl.PurposeFee, free2[0].Code); err != payments.ErrNotFound {
			t.Errorf("a free permit has a fee position: %v", err)
		}
	})
}

// Tens of simultaneous first deliveries of the fee's receipt activate the permit
// once: one set of whitelist lines.
func TestPermitFeeConcurrentReceipts(t *testing.T) {
	t.Parallel()
	eachWithFees(t, func(t *testing.T, e *env) {
		ctx := enti.WithEnte(context.Background(), e.App.Enti().All(context.Background())[0])
		mario := e.citizen(cfMario, "Mario Rossi")
		id, r := apply(t, e, mario, url.Values{"category": {"temporaneo"}, "start": {"2027-03-01"}, "days": {"1"}},
			url.Values{"plate1": {"GB 482 KL"}, "country1": {""}}, url.Values{})
		want(t, r, http.StatusSeeOther)
		want(t, decide(t, e, e.officer(), id), http.StatusSeeOther)
		var p ztl.Permit
		if err := e.scoped().Where("case_id = ?", id).Take(&p).Error; err != nil || p.Status != ztl.StatusUnpaid {
			t.Fatalf("permit %+v %v", p, err)
		}
		pos, err := e.App.Payments().ByRef(ctx, ztl.PurposeFee, p.Code)
		if err != nil {
			t.Fatal(err)
		}
		rc := payments.Receipt{ID: "RICEVUTA-ZTL-1", AmountCents: pos.AmountCents, PSP: "Banca di prova"}
		var firsts atomic.Int32
		var wg sync.WaitGroup
		for range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, err := e.App.Payments().Confirm(ctx, pos.ID, rc)
				if err != nil {
					t.Error(err)
				}
				if first {
					firsts.Add(1)
				}
			}()
		}
		wg.Wait()
		var n int64
		e.scoped().Table("ztl_access").Where("permit_id = ?", p.ID).Count(&n)
		e.scoped().Where("id = ?", p.ID).Take(&p)
		if firsts.Load() != 1 || n != 1 || p.Status != ztl.StatusActive {
			t.Fatalf("%d first confirmations, %d lines, status %s; want 1, 1, attivo", firsts.Load(), n, p.Status)
		}
	})
}
