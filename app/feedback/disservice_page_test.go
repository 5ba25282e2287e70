package feedback_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/feedback"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
)

// seedReports stores n reports of the portal's ente, report i created i minutes after
// the first (so report n-1 is the newest), and returns their references by i.
func seedReports(t *testing.T, s *apptest.Server, n int) []string {
	t.Helper()
	const alphabet = "ACDEFGHJKLMNPQRTUVWXY3479"
	ctx := s.Ctx(context.Background())
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	refs := make([]string, n)
	list := make([]feedback.Report, n)
	for i := range n {
		ref := []byte("DS-2026-AAAAAA")
		for k, x := 13, i; k >= 8; k, x = k-1, x/len(alphabet) {
			ref[k] = alphabet[x%len(alphabet)]
		}
		refs[i] = string(ref)
		at := base.Add(time.Duration(i) * time.Minute)
		status := feedback.StatusNew
		if i%3 != 0 {
			status = feedback.StatusProgress
		}
		list[i] = feedback.Report{ID: int64(1000 + i), Reference: refs[i], CreatedAt: at, UpdatedAt: at, Category: "altro",
			Description: "Segnalazione di prova numero " + strconv.Itoa(i), Status: status}
	}
	if err := enti.For(ctx, s.DB).CreateInBatches(&list, 50).Error; err != nil {
		t.Fatal(err)
	}
	return refs
}

var refInList = regexp.MustCompile(`<h2 class="h5 card-title">(DS-\d{4}-[A-Z0-9]{6}) ·`)

// The back-office list of disservice reports: 50 a page, newest first, every report
// on exactly one page, the total shown, accessible page links in both languages, the
// filter kept across pages, and page numbers that are not numbers or past the last
// page refused with 400 and a message.
func TestDisserviceListPages(t *testing.T) {
	apptest.Each(t, noModules, func(t *testing.T, s *apptest.Server) {
		op := s.Client()
		s.LoginAs(op, web.Viewer{Kind: "staff", ID: "urp1", Roles: []string{roles.URP}})
		path := feedback.DisserviceStaffPath

		// An empty list: one page, no page links; page 2 does not exist.
		r := op.Get(path)
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "Segnalazioni nell&#39;elenco: 0") || strings.Contains(r.Body, `class="pagination`) {
			t.Fatalf("empty list: %d", r.Status)
		}
		if r := op.Get(path + "?pagina=2"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "La pagina 2 non esiste") {
			t.Fatalf("page 2 of an empty list: %d", r.Status)
		}

		const n = 120
		refs := seedReports(t, s, n)
		seen := map[string]int{}
		var order []string
		for page, want := range map[int]int{1: 50, 2: 50, 3: 20} {
			u := path
			if page > 1 {
				u += "?pagina=" + strconv.Itoa(page)
			}
			r := op.Get(u)
			got := refInList.FindAllStringSubmatch(r.Body, -1)
			if r.Status != http.StatusOK || len(got) != want {
				t.Fatalf("page %d: %d, %d reports, want %d", page, r.Status, len(got), want)
			}
			if !strings.Contains(r.Body, "Segnalazioni nell&#39;elenco: 120 · pagina "+strconv.Itoa(page)+" di 3") {
				t.Errorf("page %d does not show the total and the page", page)
			}
			// The navigation: a named landmark, the current page marked, the others linked.
			if !strings.Contains(r.Body, `<nav class="pagination-wrapper" aria-label="Pagine dell&#39;elenco delle segnalazioni">`) ||
				!strings.Contains(r.Body, `aria-current="page" aria-label="Pagina `+strconv.Itoa(page)+` di 3, pagina corrente">`+strconv.Itoa(page)+`</a>`) {
				t.Errorf("page %d: pagination landmark or current page missing", page)
			}
			for other := 1; other <= 3; other++ {
				link := `href="/backoffice/disservizi?pagina=` + strconv.Itoa(other) + `" aria-label="Pagina ` + strconv.Itoa(other) + `"`
				if other == 1 {
					link = `href="/backoffice/disservizi" aria-label="Pagina 1"`
				}
				if other != page && !strings.Contains(r.Body, link) {
					t.Errorf("page %d lacks the link to page %d", page, other)
				}
			}
			if (page < 3) != strings.Contains(r.Body, `rel="next">Pagina successiva<`) || (page > 1) != strings.Contains(r.Body, `rel="prev">Pagina precedente<`) {
				t.Errorf("page %d: previous/next links wrong", page)
			}
			pageRefs := make([]string, len(got))
			for i, m := range got {
				seen[m[1]]++
				pageRefs[i] = m[1]
			}
			// Newest first: the first report of page p is report n-1-50(p-1).
			if pageRefs[0] != refs[n-1-50*(page-1)] || pageRefs[len(pageRefs)-1] != refs[n-50*(page-1)-len(pageRefs)] {
				t.Errorf("page %d starts with %s and ends with %s", page, pageRefs[0], pageRefs[len(pageRefs)-1])
			}
			if page == 1 {
				order = pageRefs
			}
		}
		for i, ref := range order {
			if ref != refs[n-1-i] {
				t.Fatalf("page 1, position %d: %s, want %s (newest first)", i, ref, refs[n-1-i])
			}
		}
		apptest.EachOnOnePage(t, seen, n, "reports")

		// Bad page numbers: 400 with a message naming the parameter, or the last page.
		for _, bad := range []string{"abc", "0", "-1", "1.5", "99999999999999999999"} {
			r := op.Get(path + "?pagina=" + url.QueryEscape(bad))
			if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "Il numero di pagina nel parametro «pagina»") {
				t.Errorf("?pagina=%s: %d", bad, r.Status)
			}
		}
		if r := op.Get(path + "?pagina=4"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "l&#39;ultima pagina dell&#39;elenco è la 3") {
			t.Errorf("page past the last: %d", r.Status)
		}
		if r := op.GetLang(path+"?pagina=x", "en"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "The page number in the address parameter") {
			t.Errorf("bad page in English: %d", r.Status)
		}

		// The filter is kept in the page links: 80 reports in progress, 30 on the second page.
		r = op.Get(path + "?stato=in_lavorazione&pagina=2")
		got := refInList.FindAllStringSubmatch(r.Body, -1)
		if r.Status != http.StatusOK || len(got) != 30 || !strings.Contains(r.Body, "Segnalazioni nell&#39;elenco: 80 · pagina 2 di 2") ||
			!strings.Contains(r.Body, `href="/backoffice/disservizi?stato=in_lavorazione" rel="prev"`) {
			t.Fatalf("filtered page 2: %d, %d reports", r.Status, len(got))
		}
		for _, m := range got {
			i := slices.Index(refs, m[1])
			if i < 0 || i%3 == 0 {
				t.Fatalf("filtered page shows %s (report %d), not in progress", m[1], i)
			}
		}
		if r := op.Get(path + "?stato=in_lavorazione"); !strings.Contains(r.Body, `href="/backoffice/disservizi?pagina=2&amp;stato=in_lavorazione" rel="next"`) {
			t.Error("filtered page 1 does not link page 2 with the filter")
		}
		if r := op.Get(path + "?stato=in_lavorazione&pagina=3"); r.Status != http.StatusBadRequest {
			t.Errorf("filtered page past the last: %d", r.Status)
		}

		// English labels.
		r = op.GetLang(path+"?pagina=2", "en")
		for _, want := range []string{`aria-label="Pages of the list of reports"`, `rel="prev">Previous page<`, `rel="next">Next page<`,
			"Reports in the list: 120 · page 2 of 3", `aria-label="Page 2 of 3, current page"`} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("English page 2 lacks %s", want)
			}
		}

		// A status change from page 2 goes back to page 2.
		page2 := op.Get(path + "?pagina=2")
		ref := refInList.FindStringSubmatch(page2.Body)[1]
		r = op.SubmitAction(page2, path+"/"+ref+"/stato", url.Values{"stato": {feedback.StatusClosed}})
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != path+"?pagina=2" {
			t.Errorf("status change from page 2: %d %q", r.Status, r.Header.Get("Location"))
		}
	})
}

// The URP takes a report in charge and resolves it, each time with a note: the list
// shows the status, who changed it and the note; the audit log has both changes with
// their notes; a note too long is refused with 422 and changes nothing; posting the
// same status and note again records nothing.
func TestDisserviceStatusNote(t *testing.T) {
	apptest.Each(t, noModules, func(t *testing.T, s *apptest.Server) {
		ref := seedReports(t, s, 1)[0]
		op := s.Client()
		s.LoginAs(op, web.Viewer{Kind: "staff", ID: "urp1", Roles: []string{roles.URP}})
		path := feedback.DisserviceStaffPath
		action := path + "/" + ref + "/stato"
		list := op.Get(path)
		if !strings.Contains(list.Body, `<label for="nota-`+ref+`">Nota (facoltativa)</label>`) {
			t.Fatal("the list has no note field")
		}
		r := op.SubmitAction(list, action, url.Values{"stato": {feedback.StatusProgress}, "nota": {"  Inoltrata all'ufficio tributi.  "}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("take in charge: %d", r.Status)
		}
		r = op.Get(path + "?stato=" + feedback.StatusProgress)
		if !strings.Contains(r.Body, ref) || !strings.Contains(r.Body, "Inoltrata all&#39;ufficio tributi.</dd>") ||
			!strings.Contains(r.Body, "Stato cambiato da</dt><dd class=\"col-sm-9\">urp1,") {
			t.Fatalf("list after taking in charge: %d", r.Status)
		}
		note := "Risolto: il pagamento ora funziona.\nRisposto alla cittadina il 4 marzo."
		if r := op.SubmitAction(r, action, url.Values{"stato": {feedback.StatusClosed}, "nota": {note}}); r.Status != http.StatusSeeOther {
			t.Fatalf("resolve: %d", r.Status)
		}
		// The same status and note again: nothing new.
		if r := op.PostForm(action, url.Values{"stato": {feedback.StatusClosed}, "nota": {note}}); r.Status != http.StatusSeeOther {
			t.Fatalf("same status again: %d", r.Status)
		}
		// Too long: 422, the report unchanged.
		if r := op.PostForm(action, url.Values{"stato": {feedback.StatusNew}, "nota": {strings.Repeat("à", feedback.MaxStatusNote+1)}}); r.Status != http.StatusUnprocessableEntity ||
			!strings.Contains(r.Body, "La nota è troppo lunga: al massimo 1000 caratteri") {
			t.Fatalf("note too long: %d", r.Status)
		}
		if r := op.PostForm(action, url.Values{"stato": {feedback.StatusNew}, "nota": {strings.Repeat("à", feedback.MaxStatusNote)}}); r.Status != http.StatusSeeOther {
			t.Fatalf("note of the longest length: %d", r.Status)
		}
		if r := op.PostForm(action, url.Values{"stato": {feedback.StatusClosed}, "nota": {note}}); r.Status != http.StatusSeeOther {
			t.Fatalf("resolve again: %d", r.Status)
		}
		var got feedback.Report
		if err := s.All().Where("reference = ?", ref).Take(&got).Error; err != nil || got.Status != feedback.StatusClosed ||
			got.StatusNote != note || got.StatusBy != "urp1" {
			t.Fatalf("stored: %+v %v", got, err)
		}
		ev, _, err := audit.List(s.Ctx(context.Background()), s.DB, audit.Filter{Action: "urp.disservice_status", Limit: 10})
		if err != nil || len(ev) != 4 {
			t.Fatalf("status changes audited: %d %v, want 4", len(ev), err)
		}
		// Newest first: closed again, reopened, resolved, taken in charge.
		wantTo := []string{feedback.StatusClosed, feedback.StatusNew, feedback.StatusClosed, feedback.StatusProgress}
		details := make([]map[string]string, len(ev))
		for i, e := range ev {
			if err := json.Unmarshal([]byte(e.Details), &details[i]); err != nil {
				t.Fatal(err)
			}
			if e.ActorID != "urp1" || e.ObjectID != ref || details[i]["to"] != wantTo[i] {
				t.Errorf("audit %d: %+v", i, e)
			}
		}
		if details[1]["note"] != strings.Repeat("à", feedback.MaxStatusNote) || details[2]["note"] != note ||
			details[3]["note"] != "Inoltrata all'ufficio tributi." {
			t.Errorf("notes in the audit log: %v", details)
		}
		r = op.GetLang(path, "en")
		for _, want := range []string{"Note (optional)", "Closed", "Risolto: il pagamento ora funziona."} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("English list lacks %q", want)
			}
		}
	})
}
