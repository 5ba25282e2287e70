package certificates_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// Each certificate type, requested through the pages from the demo register: its PDF
// holds the expected text, and the QR code, read from the rendered page like a phone
// does, opens a page the running portal judges VALIDO.
func TestEveryTypeFromDemoData(t *testing.T) {
	t.Parallel()
	type who struct{ surname, name string }
	giulia, rosa, ada, andrea := who{"BIANCHI", "GIULIA"}, who{"GALLO", "ROSA"}, who{"FONTANA", "ADA"}, who{"FERRARI", "ANDREA"}
	cases := []struct {
		typ           string
		login, about  who
		bollo, exempt string
		want          []string
	}{
		{certificates.TypeResidence, giulia, giulia, "bollo", "", []string{"CERTIFICATO DI RESIDENZA", "BIANCHI GIULIA",
			"BNCGLI85C52L219J", "nata a TORINO (TO) il 12/03/1985", "risulta residente in questo Comune, in Via Roma 12, dal 01/05/2012",
			"16,00 €", "Si rilascia per gli usi consentiti dalla legge.", "sei mesi dalla data di rilascio"}},
		{certificates.TypeFamily, giulia, giulia, "esente", "scuola", []string{"CERTIFICATO DI STATO DI FAMIGLIA",
			"la famiglia anagrafica residente in questo Comune, in Via Roma 12", "ESPOSITO MARCO", "ESPOSITO LUCA", "ESPOSITO SOFIA",
			"Esente dall'imposta di bollo ai sensi dell'art. 11 della Tabella B allegata al DPR 642/1972"}},
		{certificates.TypeFamilyRelations, giulia, giulia, "bollo", "", []string{"CON RAPPORTI DI PARENTELA",
			"intestatario della scheda", "coniuge", "figlia", "figlio"}},
		{certificates.TypeCombined, giulia, giulia, "esente", "pensioni", []string{"CERTIFICATO CONTESTUALE", "Residenza",
			"Cittadinanza", "è cittadina italiana.", "Stato di famiglia", "ESPOSITO SOFIA", "art. 9 della Tabella B"}},
		{certificates.TypeCitizenship, giulia, who{"ESPOSITO", "LUCA"}, "bollo", "", []string{"CERTIFICATO DI CITTADINANZA",
			"ESPOSITO LUCA", "è cittadino italiano."}},
		{certificates.TypeAlive, rosa, rosa, "esente", "pensioni", []string{"CERTIFICATO DI ESISTENZA IN VITA", "GALLO ROSA",
			"è vivente alla data del presente certificato."}},
		{certificates.TypeCivilStatus, giulia, giulia, "bollo", "", []string{"CERTIFICATO DI STATO CIVILE",
			"ha il seguente stato civile: coniugata."}},
		{certificates.TypeFree, rosa, rosa, "bollo", "", []string{"CERTIFICATO DI STATO LIBERO", "è di stato libero, risultando: vedova."}},
		{certificates.TypeMarriage, giulia, giulia, "", "", []string{"CERTIFICATO DI MATRIMONIO", "Ufficio di Stato Civile",
			"L'Ufficiale dello Stato Civile", "ha contratto matrimonio con ESPOSITO MARCO in VALDORIA il 16/06/2012.",
			"Anno 2012, Parte I, Numero 14", "art. 7, comma 5, della L. 29 dicembre 1990, n. 405"}},
		{certificates.TypeUnion, andrea, andrea, "", "", []string{"CERTIFICATO DI UNIONE CIVILE",
			"ha costituito un'unione civile con COLOMBO DAVIDE in VALDORIA il 08/09/2018.", "Anno 2018, Numero 2"}},
		{certificates.TypeCohabitation, ada, ada, "bollo", "", []string{"CERTIFICATO DI RESIDENZA IN CONVIVENZA", "FONTANA ADA",
			"nella convivenza anagrafica «RSA Villa dei Tigli (residenza per anziani)»", "Via dei Tigli 30"}},
		{certificates.TypeBirth, giulia, who{"ESPOSITO", "SOFIA"}, "", "", []string{"CERTIFICATO DI NASCITA", "ESPOSITO SOFIA",
			"è nata a TORINO (TO) il 11/02/2017.", "Anno 2017, Parte I, Serie B, Numero 19", "validità illimitata",
			"art. 7, comma 5, della L. 29 dicembre 1990, n. 405"}},
	}
	if len(cases) != len(certificates.Types) {
		t.Fatalf("%d cases for %d types", len(cases), len(certificates.Types))
	}
	common := []string{"Comune di Valdoria", "Il presente certificato non può essere prodotto agli organi della pubblica amministrazione o ai privati gestori di pubblici servizi.",
		"Timbro digitale", "Codice di verifica", "/v/"}
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, _ := portal(t, d, "")
			for _, tc := range cases {
				t.Run(tc.typ, func(t *testing.T) {
					c := citizen(t, s, person(t, s.DB, tc.login.surname, tc.login.name))
					id := request(t, c, person(t, s.DB, tc.about.surname, tc.about.name), tc.typ, tc.bollo, tc.exempt)
					r := c.Get("/servizi/certificati/emesso/" + id)
					if r.Status != http.StatusOK || !strings.Contains(r.Body, id) {
						t.Fatalf("confirmation page: %d", r.Status)
					}
					pdf := c.Get("/servizi/certificati/miei/" + id + "/certificato.pdf")
					if pdf.Status != http.StatusOK || pdf.Header.Get("Content-Type") != "application/pdf" {
						t.Fatalf("download: %d %s", pdf.Status, pdf.Header.Get("Content-Type"))
					}
					text := pdfText(t, []byte(pdf.Body))
					for _, w := range append(append([]string{}, tc.want...), append(common, id)...) {
						if !strings.Contains(text, w) {
							t.Errorf("PDF lacks %q\n%s", w, text)
						}
					}
					u, err := certificates.QRFromPDF(ctx, []byte(pdf.Body))
					if err != nil {
						t.Fatal(err)
					}
					if !strings.HasPrefix(u, s.URL+"/v/"+url.PathEscape(stamp.CompactCode(id))+"#") {
						t.Fatalf("QR holds %q", u)
					}
					path, fragment, _ := strings.Cut(strings.TrimPrefix(u, s.URL), "#")
					page := s.Client().Get(path)
					if page.Status != http.StatusOK || !strings.Contains(page.Body, ">VALIDO<") {
						t.Fatalf("verification page: %d\n%s", page.Status, page.Body)
					}
					var res certificates.APIResult
					post := postJSON(t, s, "/api/verifica", map[string]any{"payload": fragment}, &res)
					if post != http.StatusOK || res.Verdict != certificates.Valid || res.Signature != "valida" || res.CertificateID != id {
						t.Fatalf("POST /api/verifica: %d %+v", post, res)
					}
					// The file downloaded again is the very file issued.
					again := c.Get("/servizi/certificati/miei/" + id + "/certificato.pdf")
					if again.Body != pdf.Body {
						t.Fatal("the PDF rebuilt on a second download differs")
					}
					var stored certificates.Certificate
					s.All().Where("id = ?", id).Take(&stored)
					if sum := sha256.Sum256([]byte(pdf.Body)); hex.EncodeToString(sum[:]) != stored.PDFHash {
						t.Fatal("the downloaded PDF is not the one issued")
					}
				})
			}
		})
	}
}

// postJSON posts a JSON body with the client's CSRF token (until the API is exempted
// from CSRF by the platform, a token does no harm) and decodes the answer.
func postJSON(t testing.TB, s *apptest.Server, path string, body any, out any) int {
	t.Helper()
	c := s.Client()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-CSRF-Token", c.CSRF())
	r := c.Do(req)
	if out != nil {
		if err := json.Unmarshal([]byte(r.Body), out); err != nil {
			t.Fatalf("%s: %d %q: %v", path, r.Status, r.Body, err)
		}
	}
	return r.Status
}
