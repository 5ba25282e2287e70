package certificates_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// bolloCategory is a made-up code of the right shape (the comune sets the real one).
const bolloCategory = "9/0199999TS/"

const bolloSettings = "verify_rate_per_minute: -1\nbollo_province: TO\nbollo_category: " + bolloCategory

// askInBollo goes through the three steps for a certificate in bollo and returns the
// payment position the portal sends the citizen to.
func askInBollo(t *testing.T, s *apptest.Server, c *apptest.Client, holderID int64) *payments.Position {
	t.Helper()
	q := url.Values{"persona": {itoa(holderID)}, "tipo": {certificates.TypeResidence}, "bollo": {"bollo"}}
	r := c.PostForm("/servizi/certificati/nuovo", q)
	loc := r.Header.Get("Location")
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, payments.CitizenBase+"/") {
		t.Fatalf("in bollo: %d %q", r.Status, loc)
	}
	ctx := enti.WithEnte(context.Background(), s.App.Enti().All(context.Background())[0])
	p, err := s.App.Payments().Get(ctx, strings.TrimPrefix(loc, payments.CitizenBase+"/"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func certCount(t *testing.T, s *apptest.Server, cf string) int64 {
	var n int64
	if err := s.All().Table("certificates").Where("requester_cf = ?", cf).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// A certificate in bollo: the citizen is sent to pay the marca da bollo digitale;
// nothing is issued before pagoPA's receipt (a failed payment issues nothing and the
// citizen can retry); once paid the certificate is issued once, bound to the hash
// of its data, and its PDF and verification page give the receipt.
func TestCertificateInBolloPaidThroughPagoPA(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, _ := portal(t, d, bolloSettings)
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			c := citizen(t, s, giulia)
			p := askInBollo(t, s, c, giulia.ID)
			if p.AmountCents != 1600 || p.State != payments.Published || p.StampHash == "" || p.StampProvince != "TO" {
				t.Fatalf("position %+v", p)
			}
			if p.Category != bolloCategory {
				t.Errorf("transfer category %q, want the configured %q", p.Category, bolloCategory)
			}
			// The reason names the certificate in words (not a translation key).
			if !strings.HasPrefix(p.Causale, "Imposta di bollo - Certificato di residenza - ") || strings.Contains(p.Causale, "[") {
				t.Errorf("causale %q", p.Causale)
			}
			if n := certCount(t, s, giulia.FiscalCode); n != 0 {
				t.Fatalf("%d certificates issued before payment", n)
			}
			page := c.Get(payments.CitizenPath(p.ID))
			if page.Status != http.StatusOK || !strings.Contains(page.Body, "marca da bollo digitale") {
				t.Fatalf("payment page: %d", page.Status)
			}
			payAt := func(action string) {
				t.Helper()
				r := c.PostForm(payments.CitizenPath(p.ID)+"/paga", nil)
				checkout := c.Follow(r)
				back := c.Submit(checkout, url.Values{"action": {action}})
				if res := c.Follow(back); res.Status != http.StatusOK {
					t.Fatalf("return from Checkout: %d", res.Status)
				}
			}
			payAt("fail")
			if n := certCount(t, s, giulia.FiscalCode); n != 0 {
				t.Fatalf("%d certificates issued after a failed payment", n)
			}
			payAt("pay")
			if n := certCount(t, s, giulia.FiscalCode); n != 1 {
				t.Fatalf("%d certificates after payment, want 1", n)
			}
			var cert certificates.Certificate
			if err := s.All().Where("requester_cf = ?", giulia.FiscalCode).Take(&cert).Error; err != nil {
				t.Fatal(err)
			}
			ctx := enti.WithEnte(context.Background(), s.App.Enti().All(context.Background())[0])
			paid, _ := s.App.Payments().Get(ctx, p.ID)
			if cert.BolloReceipt == "" || cert.BolloReceipt != paid.ReceiptID || cert.Bollo != certificates.BolloDue {
				t.Fatalf("certificate receipt %q, position receipt %q", cert.BolloReceipt, paid.ReceiptID)
			}
			// The duty is bound to the hash of exactly the data issued.
			if want := mustHex(t, cert.DataHash); p.StampHash != b64(want) {
				t.Errorf("stamp hash %s is not the certificate's data hash %x", p.StampHash, want)
			}
			text := pdfText(t, []byte(c.Get("/servizi/certificati/miei/"+cert.ID+"/certificato.pdf").Body))
			if !strings.Contains(text, "marca da bollo digitale") || !strings.Contains(text, cert.BolloReceipt) ||
				strings.Contains(text, "applicando la marca da bollo") {
				t.Errorf("PDF does not say the duty was paid:\n%s", text)
			}
			if v := s.Client().Get("/verifica/" + cert.ID); !strings.Contains(v.Body, cert.BolloReceipt) {
				t.Error("the verification page does not give the receipt")
			}
			// The receipt delivered again, many times at once: still one certificate.
			var wg sync.WaitGroup
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := s.App.Payments().Refresh(ctx, p.ID); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if n := certCount(t, s, giulia.FiscalCode); n != 1 {
				t.Fatalf("%d certificates after repeated receipts", n)
			}
		})
	}
}

// Tens of simultaneous first deliveries of the receipt issue one certificate.
func TestCertificateIssuedOnceUnderConcurrentReceipts(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, _ := portal(t, d, bolloSettings)
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			c := citizen(t, s, giulia)
			p := askInBollo(t, s, c, giulia.ID)
			ctx := enti.WithEnte(context.Background(), s.App.Enti().All(context.Background())[0])
			rc := payments.Receipt{ID: "RICEVUTA-0001", AmountCents: p.AmountCents, PSP: "Banca di prova"}
			var wg sync.WaitGroup
			var mu sync.Mutex
			firsts := 0
			for range 30 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					first, err := s.App.Payments().Confirm(ctx, p.ID, rc)
					if err != nil {
						t.Error(err)
					}
					if first {
						mu.Lock()
						firsts++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if n := certCount(t, s, giulia.FiscalCode); n != 1 || firsts != 1 {
				t.Fatalf("%d certificates, %d first confirmations; want 1 and 1", n, firsts)
			}
		})
	}
}

// A comune without pagoPA keeps today's behaviour: the certificate in bollo is issued
// at once and says how to pay the duty.
func TestCertificateInBolloWithoutPagoPA(t *testing.T) {
	s, _ := portal(t, store.SQLite, "verify_rate_per_minute: -1") // no bollo_province
	giulia := person(t, s.DB, "BIANCHI", "GIULIA")
	c := citizen(t, s, giulia)
	id := request(t, c, giulia, certificates.TypeResidence, "bollo", "")
	text := pdfText(t, []byte(c.Get("/servizi/certificati/miei/"+id+"/certificato.pdf").Body))
	if !strings.Contains(text, "applicando la marca da bollo") {
		t.Errorf("PDF lacks the duty explanation:\n%s", text)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// The demo: `sportello demo` gives the demo citizen one marca da bollo paid, with its
// receipt and the certificate in bollo it issued, and one to pay, which the payments
// job publishes on pagoPA once the portal runs; seeding again adds nothing.
func TestBolloDemo(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, m := portal(t, d, "") // no bollo_province: the demo still shows a paid duty
			ctx := enti.WithEnte(context.Background(), s.App.Enti().All(context.Background())[0])
			for range 2 {
				if err := m.SeedDemo(ctx, s.DB); err != nil {
					t.Fatal(err)
				}
			}
			ps, total, err := s.App.Payments().List(ctx, payments.Filter{PayerCF: anagrafe.DemoCitizenCF, Purpose: certificates.PurposeBollo})
			if err != nil || total != 2 {
				t.Fatalf("%d demo positions, %v", total, err)
			}
			var paid, open *payments.Position
			for i := range ps {
				switch ps[i].State {
				case payments.Paid:
					paid = &ps[i]
				case payments.Created:
					open = &ps[i]
				}
			}
			if paid == nil || open == nil || !strings.HasPrefix(paid.ReceiptID, "DEMO-") || paid.StampProvince != "RM" {
				t.Fatalf("demo positions %+v", ps)
			}
			var cert certificates.Certificate
			if err := s.All().Where("bollo_receipt = ?", paid.ReceiptID).Take(&cert).Error; err != nil || cert.RequesterCF != anagrafe.DemoCitizenCF {
				t.Fatalf("no certificate issued with the demo receipt: %v", err)
			}
			if _, _, err := s.App.Payments().Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if q, _ := s.App.Payments().Get(ctx, open.ID); q.State != payments.Published {
				t.Errorf("the demo position to pay is %s after the job, want published", q.State)
			}
		})
	}
}
