package assegni_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/services/assegni"
)

func valdoria(s *apptest.Server) *gorm.DB { return enti.Scoped(s.DB, "valdoria") }

// counts is what a refused request must leave as it was.
type counts struct{ Apps, Active, Atts, Protocols, Submitted int64 }

func count(t *testing.T, s *apptest.Server) counts {
	t.Helper()
	var c counts
	valdoria(s).Table("assegni_domande").Count(&c.Apps)
	valdoria(s).Table("assegni_domande").Where("active").Count(&c.Active)
	s.All().Table("case_attachments").Count(&c.Atts)
	s.All().Table("case_protocol_counters").Select("COALESCE(SUM(last), 0)").Scan(&c.Protocols)
	s.All().Table("cases").Where("protocol <> ''").Count(&c.Submitted)
	return c
}

func submit(t *testing.T, s *apptest.Server, c *apptest.Client, form string) *apptest.Response {
	t.Helper()
	return postMultipart(c, s.BaseURL, form+"/invia", nil, file{"isee.pdf", pdfDoc}, file{"documento.png", pngDoc})
}

// TestBadInput: a second application for the same child, a forged case id of another
// citizen (404, audited), a double submit: each gets a clear answer and changes
// nothing. On both databases.
func TestBadInput(t *testing.T) {
	t.Parallel()
	portal(t, func(t *testing.T, s *apptest.Server, m *assegni.Module, p people) {
		anna := citizen(s, p.Anna, "Anna Bianchi", "anna.bianchi@example.it")
		first := startDraft(t, anna, p.Luca)
		fill(t, anna, first, p.Luca, "0", "9.000")
		want(t, submit(t, s, anna, first), http.StatusSeeOther)

		// A second application for the same child.
		second := startDraft(t, anna, p.Luca)
		fill(t, anna, second, p.Luca, "0", "9.000")
		before := count(t, s)
		want(t, submit(t, s, anna, second), http.StatusUnprocessableEntity, "già una domanda")
		if after := count(t, s); after != before {
			t.Fatalf("a refused duplicate changed data: %+v -> %+v", before, after)
		}
		// ISEE one cent over the year's threshold, caught at submission.
		sofia := startDraft(t, anna, p.Sofia)
		scheme, _ := m.Catalogue().For("valdoria", "maternita", p.SofiaBorn)
		fill(t, anna, sofia, p.Sofia, "0", strings.TrimSuffix(assegni.FormatEuro(scheme.ISEEThresholdCents+1), " €"))
		want(t, submit(t, s, anna, sofia), http.StatusUnprocessableEntity, "supera la soglia")
		if after := count(t, s); after != before {
			t.Fatalf("a refused ISEE changed data: %+v -> %+v", before, after)
		}
		// An adoption counts from the entry into the family and needs the court's order.
		sara := startDraft(t, anna, p.Sara)
		want(t, anna.Get(sara+"/figlio"), 200, `<option value="adozione" selected>`)
		want(t, anna.PostForm(sara+"/figlio", url.Values{"figlio_cf": {p.Sara}, "evento": {"adozione"}, "prestazione": {"0"}}), http.StatusSeeOther)
		want(t, anna.PostForm(sara+"/isee", url.Values{"dsu": {goodDSU}, "isee": {"9.000"}}), http.StatusSeeOther)
		want(t, anna.PostForm(sara+"/pagamento", url.Values{"iban": {goodIBAN}, "intestatario": {"Anna Bianchi"}}), http.StatusSeeOther)
		want(t, anna.Get(sara+"/riepilogo"), 200, "Provvedimento di adozione o affidamento")
		want(t, submit(t, s, anna, sara), http.StatusUnprocessableEntity, "Allega i documenti richiesti")
		if after := count(t, s); after != before {
			t.Fatalf("a refused adoption changed data: %+v -> %+v", before, after)
		}
		want(t, postMultipart(anna, s.BaseURL, sara+"/invia", nil, file{"isee.pdf", pdfDoc}, file{"documento.png", pngDoc},
			file{"decreto.pdf", pdfDoc}), http.StatusSeeOther)
		var adopted assegni.Application
		valdoria(s).Where("child_cf = ?", p.Sara).Take(&adopted)
		if adopted.Event != "adozione" || !adopted.EventDate.Equal(p.SaraEntered) {
			t.Fatalf("adoption recorded as %s on %s, want the entry %s", adopted.Event, adopted.EventDate, p.SaraEntered)
		}
		before = count(t, s)

		// A forged case id of another citizen: 404 as for a missing case, audited.
		giulia := citizen(s, p.Giulia, "Giulia Verdi", "")
		id := strings.TrimPrefix(first, "/servizi/assegni/domanda/")
		denied := func() int64 {
			var n int64
			s.All().Table("audit_events").Where("action = ? AND outcome = ?", "security.case_access_denied", "denied").Count(&n)
			return n
		}
		d0 := denied()
		want(t, giulia.Get("/area-personale/pratiche/"+id), http.StatusNotFound)
		want(t, giulia.Get(first+"/figlio"), http.StatusNotFound)
		want(t, giulia.Get(second+"/riepilogo"), http.StatusNotFound)
		want(t, submit(t, s, giulia, second), http.StatusNotFound)
		want(t, giulia.PostForm(second+"/pagamento", map[string][]string{"iban": {goodIBAN}, "intestatario": {"Giulia"}}), http.StatusNotFound)
		if n := denied() - d0; n != 5 {
			t.Fatalf("%d denials audited, want 5", n)
		}
		if after := count(t, s); after != before {
			t.Fatalf("forged requests changed data: %+v -> %+v", before, after)
		}
		if l := giulia.Get("/area-personale/pratiche"); strings.Contains(l.Body, p.Luca) || strings.Contains(l.Body, "Anna") {
			t.Fatal("another citizen's list shows Anna's application")
		}

		// A double submit of a case already sent: back to the case, nothing new.
		want(t, submit(t, s, anna, first), http.StatusSeeOther)
		if after := count(t, s); after != before {
			t.Fatalf("a double submit changed data: %+v -> %+v", before, after)
		}
	})
}

// TestConcurrentSubmits: 20 simultaneous submissions of one draft give one protocol
// number, one application and its documents once; 12 drafts for one child submitted
// at once give exactly one application, and no protocol number is lost.
func TestConcurrentSubmits(t *testing.T) {
	t.Parallel()
	portal(t, func(t *testing.T, s *apptest.Server, m *assegni.Module, p people) {
		anna := citizen(s, p.Anna, "Anna Bianchi", "anna.bianchi@example.it")
		form := startDraft(t, anna, p.Luca)
		fill(t, anna, form, p.Luca, "0", "9.000")
		before := count(t, s)
		var wg sync.WaitGroup
		status := make(chan int, 20)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status <- submit(t, s, anna, form).Status
			}()
		}
		wg.Wait()
		close(status)
		got := map[int]int{}
		for st := range status {
			got[st]++
		}
		after := count(t, s)
		if after.Apps-before.Apps != 1 || after.Submitted-before.Submitted != 1 || after.Protocols-before.Protocols != 1 || after.Atts-before.Atts != 2 {
			t.Fatalf("20 submits of one draft: %+v -> %+v (statuses %v)", before, after, got)
		}
		if got[http.StatusSeeOther]+got[http.StatusConflict] != 20 {
			t.Fatalf("statuses %v", got)
		}

		// Twelve drafts for one child, sent at once.
		giulia := citizen(s, p.Giulia, "Giulia Verdi", "")
		var forms []string
		for range 12 {
			f := startDraft(t, giulia, p.Marco)
			fill(t, giulia, f, p.Marco, "0", "9.000")
			forms = append(forms, f)
		}
		before = count(t, s)
		results := make(chan *apptest.Response, len(forms))
		for _, f := range forms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- submit(t, s, giulia, f)
			}()
		}
		wg.Wait()
		close(results)
		ok, dup := 0, 0
		for r := range results {
			switch {
			case r.Status == http.StatusSeeOther && strings.HasSuffix(r.Header.Get("Location"), "/conferma"):
				ok++
			case r.Status == http.StatusUnprocessableEntity && strings.Contains(r.Body, "già una domanda"):
				dup++
			default:
				t.Errorf("unexpected answer %d %s", r.Status, r.Header.Get("Location"))
			}
		}
		after = count(t, s)
		if ok != 1 || dup != 11 || after.Apps-before.Apps != 1 || after.Protocols-before.Protocols != 1 ||
			after.Submitted-before.Submitted != 1 || after.Atts-before.Atts != 2 {
			t.Fatalf("12 drafts for one child: %d sent, %d refused; %+v -> %+v", ok, dup, before, after)
		}
		var left int64
		s.All().Table("cases").Where("applicant_cf = ? AND state = ?", p.Giulia, cases.Draft).Count(&left)
		if left != 11 {
			t.Fatalf("%d drafts left, want 11", left)
		}
	})
}
