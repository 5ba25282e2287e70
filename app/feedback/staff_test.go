package feedback_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/feedback"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// The staff view counts the answers per page and per score for the period, lists the
// comments, exports both as CSV, refuses a malformed period with 422, and shows only
// the ente's own ratings.
func TestRatingsView(t *testing.T) {
	apptest.Each(t, apptest.Options{Modules: []services.Module{}}, func(t *testing.T, s *apptest.Server) {
		cit := s.Client()
		for _, v := range []url.Values{
			{"pagina": {"/privacy"}, "voto": {"4"}, "commento": {"Chiara, ma manca il responsabile"}},
			{"pagina": {"/privacy"}, "voto": {"4"}},
			{"pagina": {"/privacy"}, "voto": {"2"}, "commento": {"=HYPERLINK(\"http://x\")"}},
			{"pagina": {"/servizi"}, "voto": {"5"}},
		} {
			if r := cit.PostForm("/valutazione-pagina", v); r.Status != http.StatusSeeOther {
				t.Fatalf("rating %v: %d", v, r.Status)
			}
		}
		ctx := s.Ctx(context.Background())
		old := feedback.PageRating{ID: 7, CreatedAt: time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC), Path: "/privacy", Score: 1, Comment: "Vecchio commento"}
		if err := enti.For(ctx, s.DB).Create(&old).Error; err != nil {
			t.Fatal(err)
		}
		other := feedback.PageRating{ID: 8, CreatedAt: time.Now().UTC(), Path: "/privacy", Score: 1, Comment: "Commento di un altro comune"}
		if err := enti.Scoped(s.DB, "altro-comune").Create(&other).Error; err != nil {
			t.Fatal(err)
		}

		if r := cit.Get(feedback.RatingsPath); r.Status != http.StatusSeeOther {
			t.Fatalf("anonymous on the ratings view: %d", r.Status)
		}
		op := s.Client()
		s.LoginAs(op, web.Viewer{Kind: "staff", ID: "urp1", Roles: []string{roles.URP}})
		r := op.Get(feedback.RatingsPath)
		if r.Status != http.StatusOK {
			t.Fatalf("ratings view: %d", r.Status)
		}
		for _, want := range []string{"5 risposte su 2 pagine.", "Chiara, ma manca il responsabile", "Vecchio commento",
			`<a href="/privacy" class="text-break">/privacy</a></th>
    <td class="text-end">4</td>
    <td class="text-end">1</td><td class="text-end">1</td><td class="text-end">0</td><td class="text-end">2</td><td class="text-end">0</td>
    <td class="text-end">2,8</td>`} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("ratings view lacks %q", want)
			}
		}
		if strings.Contains(r.Body, "altro comune") {
			t.Error("the view shows another comune's comment")
		}
		if r := op.GetLang(feedback.RatingsPath, "en"); !strings.Contains(r.Body, "Page ratings") || strings.Contains(r.Body, "[feedback.") {
			t.Error("ratings view in English")
		}
		today := time.Now().In(web.Rome).Format("2006-01-02")
		r = op.Get(feedback.RatingsPath + "?dal=" + today + "&al=" + today)
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "4 risposte su 2 pagine.") || strings.Contains(r.Body, "Vecchio commento") {
			t.Errorf("period filter: %d", r.Status)
		}
		for _, bad := range []string{"?dal=31/12/2025", "?dal=2026-02-01&al=2026-01-01", "?al=domani"} {
			r := op.Get(feedback.RatingsPath + bad)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="error-summary"`) || strings.Contains(r.Body, "[feedback.") {
				t.Errorf("bad period %s: %d", bad, r.Status)
			}
		}
		r = op.Get(feedback.RatingsPath + "?dal=" + today + "&formato=csv")
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(r.Header.Get("Content-Disposition"), "valutazioni-pagine-dal-"+today+".csv") {
			t.Fatalf("counts CSV: %d %q %q", r.Status, r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"))
		}
		if !strings.Contains(r.Body, "pagina;risposte;per_niente_chiare;poco_chiare;abbastanza_chiare;chiare;molto_chiare;media\n") ||
			!strings.Contains(r.Body, "/privacy;3;0;1;0;2;0;3,3\n") || !strings.Contains(r.Body, "/servizi;1;0;0;0;0;1;5,0\n") {
			t.Errorf("counts CSV:\n%s", r.Body)
		}
		r = op.Get(feedback.RatingsPath + "?formato=csv&dati=commenti")
		if r.Status != http.StatusOK || !strings.Contains(r.Body, `'=HYPERLINK(""http://x"")`) || !strings.Contains(r.Body, "Vecchio commento") ||
			strings.Contains(r.Body, "altro comune") {
			t.Errorf("comments CSV: %d\n%s", r.Status, r.Body)
		}
		// Citizens and other staff roles are kept out.
		clerk := s.Client()
		s.LoginAs(clerk, web.Viewer{Kind: "staff", ID: "x1", Roles: []string{"anagrafe_officer"}})
		if r := clerk.Get(feedback.RatingsPath); r.Status != http.StatusForbidden {
			t.Errorf("another role on the ratings view: %d", r.Status)
		}
	})
}
