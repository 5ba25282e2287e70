package certificates_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/certificates"
)

func TestMaskFiscalCode(t *testing.T) {
	for in, want := range map[string]string{
		"BNCGLI85C52H501J": "BNC***85C52****J",
		"spsSFO17B51L219X": "SPS***17B51****X",
		"12345678901":      "123*******1",
		"ABC":              "***",
	} {
		if got := certificates.MaskFiscalCode(in); got != want {
			t.Errorf("MaskFiscalCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// The public verification page and API show a minor's tax code masked (holder and
// household members), an adult's in full; NON AUTENTICO shows nothing of any
// certificate.
func TestVerificationMasksMinors(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			clk := newClock(time.Date(2026, 1, 12, 9, 30, 0, 0, time.UTC))
			s, m := portal(t, d, "", certificates.WithClock(clk.now))
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			sofia := person(t, s.DB, "ESPOSITO", "SOFIA")
			birth := issue(t, m, giulia, sofia, certificates.TypeBirth)
			family := issue(t, m, giulia, giulia, certificates.TypeFamily)
			maskedSofia := certificates.MaskFiscalCode(sofia.FiscalCode)

			if v := verdictOf(t, s, birth.ID); v.Verdict != certificates.Valid || v.HolderCF != maskedSofia {
				t.Fatalf("API, minor: %+v", v)
			}
			page := s.Client().Get("/verifica/" + url.PathEscape(birth.ID))
			if page.Status != http.StatusOK || strings.Contains(page.Body, sofia.FiscalCode) || !strings.Contains(page.Body, maskedSofia) {
				t.Fatalf("page, minor: %d, full code shown %v", page.Status, strings.Contains(page.Body, sofia.FiscalCode))
			}
			// The family certificate: Giulia (adult) in full, her children masked.
			if v := verdictOf(t, s, family.ID); v.HolderCF != giulia.FiscalCode {
				t.Fatalf("API, adult: %+v", v)
			}
			fp := s.Client().Get("/verifica/" + url.PathEscape(family.ID))
			if !strings.Contains(fp.Body, giulia.FiscalCode) || strings.Contains(fp.Body, sofia.FiscalCode) || !strings.Contains(fp.Body, maskedSofia) {
				t.Fatal("family certificate: minors not masked, or the adult masked")
			}
			// The holder's own copy in the personal area keeps the full code.
			own := citizen(t, s, giulia).Get("/servizi/certificati/miei/" + url.PathEscape(birth.ID))
			if own.Status != http.StatusOK || !strings.Contains(own.Body, sofia.FiscalCode) {
				t.Fatal("the requester's own page masks the code")
			}
			// Eighteen years later Sofia is an adult: shown in full.
			clk.set(time.Date(2035, 2, 11, 12, 0, 0, 0, time.UTC))
			if v := verdictOf(t, s, birth.ID); v.HolderCF != sofia.FiscalCode {
				t.Fatalf("API, now adult: %+v", v)
			}
			// NON AUTENTICO: nothing of any certificate.
			bad := s.Client().Get("/verifica/ABCD-EFGH-JKMN-P")
			if bad.Status != http.StatusNotFound || !strings.Contains(bad.Body, "NON AUTENTICO") || strings.Contains(bad.Body, `id="cert-data"`) {
				t.Fatalf("not authentic: %d", bad.Status)
			}
		})
	}
}

// The accessible copy carries the PDF's whole text (letterhead, text, closing, stamp)
// as HTML, for the holder and the requester.
func TestAccessibleCopy(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, m := portal(t, d, "")
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			luca := person(t, s.DB, "ESPOSITO", "LUCA")
			cert := issue(t, m, giulia, luca, certificates.TypeFamily)
			pdf, err := m.PDF(context.Background(), cert)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(strings.Fields(pdfText(t, pdf)), " ")
			for _, c := range []*apptest.Client{citizen(t, s, giulia), citizen(t, s, luca)} {
				r := c.Get("/servizi/certificati/miei/" + url.PathEscape(cert.ID) + "/copia")
				if r.Status != http.StatusOK || !strings.Contains(r.Body, `<article`) || !strings.Contains(r.Body, `lang="it"`) {
					t.Fatalf("copy: %d", r.Status)
				}
				page := strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(r.Body, " "))), " ")
				// Every line of the holder's data and of the household, the code, and the
				// closing words of the PDF are on the page.
				for _, want := range []string{cert.ID, giulia.FiscalCode, luca.FiscalCode, "ESPOSITO LUCA", "BIANCHI GIULIA",
					"Timbro digitale", "Comune di Valdoria"} {
					if !strings.Contains(page, want) || !strings.Contains(text, want) {
						t.Fatalf("%q: in the copy %v, in the PDF %v", want, strings.Contains(page, want), strings.Contains(text, want))
					}
				}
			}
			if r := citizen(t, s, giulia).Get("/servizi/certificati/miei"); !strings.Contains(r.Body, "/servizi/certificati/miei/"+cert.ID+"/copia") {
				t.Fatal("the list does not link the accessible copy")
			}
		})
	}
}

var tagRE = regexp.MustCompile(`<[^>]+>`)

// The request names the household by their relation to the person asking, with the
// agreement of the register's sex; lists say how often a certificate was checked in
// words.
func TestRequestWords(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, m := portal(t, d, "")
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			luca := person(t, s.DB, "ESPOSITO", "LUCA")
			for _, c := range []struct {
				who  anagrafe.Person
				want []string
			}{
				{giulia, []string{"BIANCHI GIULIA - nata il 12/03/1985 (tu)", "ESPOSITO MARCO - nato il 04/07/1982 (tuo marito)",
					"ESPOSITO LUCA - nato il 20/09/2014 (tuo figlio)", "ESPOSITO SOFIA - nata il 11/02/2017 (tua figlia)"}},
				{luca, []string{"ESPOSITO MARCO - nato il 04/07/1982 (tuo padre)", "BIANCHI GIULIA - nata il 12/03/1985 (tua madre)",
					"ESPOSITO SOFIA - nata il 11/02/2017 (tua sorella)"}},
			} {
				r := citizen(t, s, c.who).Get("/servizi/certificati/nuovo")
				page := strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(r.Body, " "))), " ")
				for _, w := range c.want {
					if !strings.Contains(page, w) {
						t.Errorf("%s's request page lacks %q", c.who.Name, w)
					}
				}
				if strings.Contains(page, "intestatari") || strings.Contains(page, "nato/a") {
					t.Errorf("%s's request page speaks of the register's head or of nato/a", c.who.Name)
				}
			}
			// The exemptions: everyday words first, the law after them.
			tp := citizen(t, s, giulia).Get("/servizi/certificati/nuovo/tipo?persona=" + itoa(giulia.ID))
			if !strings.Contains(html.UnescapeString(tp.Body), "Per una pratica di pensione, di previdenza o di assicurazione sociale obbligatoria (art. 9 della Tabella B allegata al DPR 642/1972)") {
				t.Error("type page: the exemptions are not in everyday words followed by the law")
			}
			cert := issue(t, m, giulia, giulia, certificates.TypeResidence)
			g := citizen(t, s, giulia)
			if r := g.Get("/servizi/certificati/miei"); !strings.Contains(r.Body, "mai verificato") {
				t.Fatal("list: no \"mai verificato\"")
			}
			s.Client().Get("/verifica/" + url.PathEscape(cert.ID))
			if err := m.FlushVerifications(ctx); err != nil {
				t.Fatal(err)
			}
			if r := g.Get("/servizi/certificati/miei"); !strings.Contains(r.Body, "verificato 1 volta") {
				t.Fatal("list: no \"verificato 1 volta\"")
			}
		})
	}
}
