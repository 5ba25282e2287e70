package assegni_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/services/assegni"
)

// TestJourney: eligibility from the register -> the stepper with its checks ->
// submission with documents -> the officer asks for an integration -> the citizen
// answers -> approved with the computed amount -> the citizen sees it and gets the
// mail; the export contains exactly that case. On both databases.
func TestJourney(t *testing.T) {
	t.Parallel()
	portal(t, func(t *testing.T, s *apptest.Server, m *assegni.Module, p people) {
		anna := citizen(s, p.Anna, "Anna Bianchi", "anna.bianchi@example.it")

		// The service pages: the schemes with their figures, the repealed allowance.
		want(t, s.Client().Get("/servizi/assegni"), 200, "Assegni di maternità e per la famiglia", "assegno unico")
		ms := s.Client().Get("/servizi/assegni/misure")
		want(t, ms, 200, "Assegno di maternità dei comuni 2026", "2.065,50 €", "20.668,26 €",
			"Assegno per il nucleo familiare dei comuni (abrogato)", "Non si possono più presentare nuove domande.",
			"https://www.inps.it/", "Bonus bebè del Comune di Valdoria 2026")
		want(t, s.Client().GetLang("/servizi/assegni/misure", "en"), 200, "New applications are no longer accepted.")
		want(t, anna.Get("/servizi/assegni/verifica?misura=nucleo"), 200, "assegno unico e universale")
		// Forging the form of the closed allowance gets the same answer, and no draft.
		want(t, anna.PostForm("/servizi/assegni/domanda", url.Values{"misura": {"nucleo"}, "figlio": {p.Luca}}),
			http.StatusUnprocessableEntity, "non accetta più nuove domande")

		// Eligibility: the children of the household, the countdown, the adoption.
		el := anna.Get("/servizi/assegni/verifica?misura=maternita")
		scheme, err := m.Catalogue().For("valdoria", "maternita", p.LucaBorn)
		if err != nil {
			t.Fatal(err)
		}
		last := assegni.LastDay(p.LucaBorn, 6)
		days := assegni.DaysLeft(assegni.Day(time.Now()), last)
		want(t, el, 200, "LUCA BIANCHI", p.Luca, fmt.Sprintf("Mancano %d giorni alla scadenza", days),
			"SARA BIANCHI", "Entrato in famiglia il", "SOFIA BIANCHI")
		if strings.Contains(el.Body, p.Marco) {
			t.Fatal("another family's child on the eligibility page")
		}
		if strings.Contains(el.Body, p.Elisa) {
			t.Fatal("the applicant's younger sister offered as her child")
		}
		want(t, anna.PostForm("/servizi/assegni/domanda", url.Values{"misura": {"maternita"}, "figlio": {p.Elisa}}),
			http.StatusUnprocessableEntity, "non risulta nella tua famiglia")
		// A father may not apply for the maternity allowance; he is told why.
		paolo := citizen(s, p.Paolo, "Paolo Rossi", "")
		want(t, paolo.Get("/servizi/assegni/verifica?misura=maternita"), 200, "solo dalla madre")
		want(t, paolo.GetLang("/servizi/assegni/verifica?misura=maternita", "en"), 200, "Only the mother may apply")
		if !slices.Contains(s.App.JobRunner().Names(), "assegni/promemoria") {
			t.Fatalf("the reminder job is not in the portal's runner: %v", s.App.JobRunner().Names())
		}
		// Someone outside the register is told to go to the registry office.
		nobody := citizen(s, "RSSMRA80A01H501U", "Mario Rossi", "")
		want(t, nobody.Get("/servizi/assegni/verifica?misura=maternita"), 200, "Non risulti nell")
		// A child of another family cannot be chosen by forging the form.
		want(t, anna.PostForm("/servizi/assegni/domanda", url.Values{"misura": {"maternita"}, "figlio": {p.Marco}}),
			http.StatusUnprocessableEntity, "non risulta nella tua famiglia")

		// The stepper, prefilled from the register.
		form := startDraft(t, anna, p.Luca)
		want(t, anna.Get(form+"/figlio"), 200, `value="`+p.Luca+`"`)
		want(t, anna.PostForm(form+"/figlio", url.Values{"figlio_cf": {p.Luca}, "evento": {"nascita"}, "prestazione": {"mille"}}),
			http.StatusUnprocessableEntity, "Scrivi un importo in euro")
		want(t, anna.PostForm(form+"/figlio", url.Values{"figlio_cf": {p.Luca}, "evento": {"nascita"}, "prestazione": {"1.000,00"}}), http.StatusSeeOther)
		want(t, anna.PostForm(form+"/isee", url.Values{"dsu": {"ISEE-2026-123"}, "isee": {"15.000,00"}}),
			http.StatusUnprocessableEntity, "formato dell")
		want(t, anna.PostForm(form+"/isee", url.Values{"dsu": {goodDSU}, "isee": {"15.000,00"}}), http.StatusSeeOther)
		want(t, anna.PostForm(form+"/pagamento", url.Values{"iban": {"IT61X0542811101000000123456"}, "intestatario": {"Anna Bianchi"}}),
			http.StatusUnprocessableEntity, "IBAN non è valido")
		want(t, anna.PostForm(form+"/pagamento", url.Values{"iban": {goodIBAN}, "intestatario": {"Anna Bianchi"}}), http.StatusSeeOther)
		amount := scheme.Full() - 100000
		sum := anna.Get(form + "/riepilogo")
		want(t, sum, 200, "Importo calcolato", assegni.FormatEuro(amount), "Attestazione ISEE", "15.000,00")

		// Without the documents the scheme asks for: refused, nothing changes.
		var apps0 int64
		enti.Scoped(s.DB, "valdoria").Table("assegni_domande").Count(&apps0)
		r := postMultipart(anna, s.BaseURL, form+"/invia", nil, file{"isee.pdf", pdfDoc})
		want(t, r, http.StatusUnprocessableEntity, "Allega i documenti richiesti")
		var apps1, atts int64
		enti.Scoped(s.DB, "valdoria").Table("assegni_domande").Count(&apps1)
		s.All().Table("case_attachments").Count(&atts)
		if apps1 != apps0 || atts != 0 {
			t.Fatalf("a refused submission left %d applications, %d documents", apps1-apps0, atts)
		}
		r = postMultipart(anna, s.BaseURL, form+"/invia", nil, file{"isee.pdf", pdfDoc}, file{"carta-identita.png", pngDoc})
		want(t, r, http.StatusSeeOther)
		done := anna.Follow(r)
		want(t, done, 200, "Domanda inviata", "Ufficio Servizi sociali verifica la domanda")
		id := strings.TrimPrefix(form, "/servizi/assegni/domanda/")
		var c cases.Case
		s.All().Where("id = ?", id).Take(&c)
		if c.Protocol == "" || c.State != cases.Submitted {
			t.Fatalf("case after submission: %+v", c)
		}
		var app assegni.Application
		if err := enti.Scoped(s.DB, "valdoria").Table("assegni_domande").Where("case_id = ?", c.ID).Take(&app).Error; err != nil {
			t.Fatal(err)
		}
		if app.AmountCents != amount || app.BenefitCents != 100000 || app.ISEECents != 1500000 || app.ChildCF != p.Luca ||
			app.IBAN != "IT60X0542811101000000123456" || app.EnteID != "valdoria" || !app.Active {
			t.Fatalf("application: %+v", app)
		}

		// The office: the queue, the computed amount, the documents, the integration.
		off := officer(s)
		want(t, off.Get("/backoffice/assegni/pratiche"), 200, c.Protocol, "Anna Bianchi")
		staffCase := "/backoffice/assegni/pratiche/" + id
		want(t, off.Get(staffCase), 200, "Importo calcolato", assegni.FormatEuro(amount), "isee.pdf", "carta-identita.png", goodDSU)
		want(t, postMultipart(off, s.BaseURL, staffCase+"/azione/take", nil), http.StatusSeeOther)
		want(t, postMultipart(off, s.BaseURL, staffCase+"/azione/request_integration",
			url.Values{"message": {"Allegare la busta paga con l'indennità di maternità."}}), http.StatusSeeOther)
		citCase := "/area-personale/pratiche/" + id
		want(t, anna.Get(citCase), 200, "busta paga", "In attesa di integrazione", assegni.FormatEuro(amount))
		want(t, postMultipart(anna, s.BaseURL, citCase+"/azione/reply", url.Values{"message": {"Ecco la busta paga."}},
			file{"busta-paga.pdf", pdfDoc}), http.StatusSeeOther)
		want(t, off.Get(staffCase), 200, "busta-paga.pdf", "Ecco la busta paga.")
		want(t, postMultipart(off, s.BaseURL, staffCase+"/azione/approve", nil), http.StatusSeeOther)
		want(t, anna.Get(citCase), 200, "Accolta")
		want(t, anna.Get("/area-personale/pratiche"), 200, c.Protocol, "Accolta")
		want(t, off.Get("/backoffice"), 200, "Assegni accolti quest&#39;anno")
		ente, err := enti.NewStore(s.DB).Get(t.Context(), "valdoria")
		if err != nil {
			t.Fatal(err)
		}
		if st, err := m.Stats(enti.WithEnte(t.Context(), ente)); err != nil || len(st) != 1 || st[0].Value != 1 {
			t.Fatalf("stats: %+v %v", st, err)
		}

		// Every officer's step mailed the citizen, through the outbox.
		var mails []notify.Record
		s.All().Where("to_addr = ? AND kind = ?", "anna.bianchi@example.it", "cases.citizen").Order("id").Find(&mails)
		if len(mails) < 4 { // receipt, taken, integration request, approval
			t.Fatalf("%d mails to the citizen", len(mails))
		}
		if last := mails[len(mails)-1]; !strings.Contains(last.Text, c.Protocol) || !strings.Contains(last.Text, "Accolta") {
			t.Fatalf("approval mail: %s", last.Text)
		}

		// The export for INPS: exactly that case.
		today := assegni.Day(time.Now()).Format(time.DateOnly)
		want(t, off.Get("/backoffice/assegni/esportazione"), 200, "Scarica il CSV")
		ex := off.Get("/backoffice/assegni/esportazione.csv?dal=" + today + "&al=" + today)
		want(t, ex, 200)
		if !strings.HasPrefix(ex.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("export content type %q", ex.Header.Get("Content-Type"))
		}
		cr := csv.NewReader(strings.NewReader(ex.Body))
		cr.Comma = ';'
		recs, err := cr.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || strings.Join(recs[0], ";") != strings.Join(assegni.CSVHeader, ";") {
			t.Fatalf("export: %q", recs)
		}
		row := recs[1]
		if row[0] != c.Protocol || row[5] != p.Anna || row[7] != p.Luca || row[14] != fmt.Sprint(amount) ||
			row[15] != "IT60X0542811101000000123456" || row[12] != goodDSU {
			t.Fatalf("export row: %q", row)
		}
		want(t, off.Get("/backoffice/assegni/esportazione.csv?dal="+today+"&al=2000-01-01"), http.StatusUnprocessableEntity, "periodo valido")
		// A citizen cannot export.
		want(t, anna.Get("/backoffice/assegni/esportazione.csv?dal="+today+"&al="+today), http.StatusForbidden)
	})
}
