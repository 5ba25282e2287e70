package cases_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/web"
)

var queueRow = regexp.MustCompile(`<a href="/backoffice/probe/pratiche/(\d+)" class="code-mono">`)

// The staff queue on the shared pager: 25 a page, every case on exactly one page in
// the queue's order, numbered accessible page links, the filters the queue applied
// kept in the page links (and nothing else), bad page numbers refused with 400 and a
// message, on both databases.
func TestQueuePages(t *testing.T) {
	t.Parallel()
	probeServer(t, func(t *testing.T, s *apptest.Server) {
		svc := s.App.Cases()
		ctx := s.Ctx(t.Context())
		const n = 60
		assigned := map[string]bool{}
		for i := range n {
			c, err := svc.Create(ctx, applicant, probeModule, probeType, map[string]string{"targa": "AB123CD"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Apply(ctx, applicant, c.ID, "submit", cases.Input{}); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				if err := svc.Assign(ctx, officer, probeModule, c.ID, "operatore2"); err != nil {
					t.Fatal(err)
				}
				assigned[strconv.FormatInt(c.ID, 10)] = true
			}
		}
		off := s.Client()
		s.LoginAs(off, web.Viewer{Kind: "staff", ID: "operatore1", Roles: []string{probeRole}})
		path := cases.QueuePath(probeModule)

		// The whole queue: 25, 25, 10, each case once, in the order of the queue
		// (the first page's last case comes before the second page's first).
		seen := map[string]int{}
		var all []string
		for page := 1; page <= 3; page++ {
			r := off.Get(path + "?pagina=" + strconv.Itoa(page))
			want := map[int]int{1: 25, 2: 25, 3: 10}[page]
			got := queueRow.FindAllStringSubmatch(r.Body, -1)
			if r.Status != http.StatusOK || len(got) != want {
				t.Fatalf("page %d: %d, %d cases, want %d", page, r.Status, len(got), want)
			}
			for _, m := range got {
				seen[m[1]]++
				all = append(all, m[1])
			}
			if !strings.Contains(r.Body, "60 pratiche trovate. Pagina "+strconv.Itoa(page)+" di 3.") ||
				!strings.Contains(r.Body, `<nav class="pagination-wrapper" aria-label="Pagine dei risultati">`) ||
				!strings.Contains(r.Body, `aria-current="page" aria-label="Pagina `+strconv.Itoa(page)+` di 3, pagina corrente">`) {
				t.Errorf("page %d: total, landmark or current page missing", page)
			}
		}
		apptest.EachOnOnePage(t, seen, n, "cases")
		// The queue as one list (the order the service gives) is the pages end to end.
		rows, _, err := svc.Queue(ctx, cases.Filter{Module: probeModule, Types: []string{probeType}, Limit: 200})
		if err != nil || len(rows) != n {
			t.Fatalf("queue: %d rows, %v", len(rows), err)
		}
		for i, c := range rows {
			if strconv.FormatInt(c.ID, 10) != all[i] {
				t.Fatalf("row %d of the pages is case %s, the queue has %d there", i, all[i], c.ID)
			}
		}

		// Filters kept in the links; a parameter the queue ignores is not carried.
		r := off.Get(path + "?assegnatario=operatore2&stato=inventato&x=1")
		next := `href="/backoffice/probe/pratiche?assegnatario=operatore2&amp;pagina=2" rel="next"`
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "30 pratiche trovate. Pagina 1 di 2.") || !strings.Contains(r.Body, next) {
			t.Fatalf("filtered queue: %d", r.Status)
		}
		for page, want := range map[int]int{1: 25, 2: 5} {
			r := off.Get(path + "?assegnatario=operatore2&pagina=" + strconv.Itoa(page))
			got := queueRow.FindAllStringSubmatch(r.Body, -1)
			if r.Status != http.StatusOK || len(got) != want {
				t.Fatalf("filtered page %d: %d, %d cases, want %d", page, r.Status, len(got), want)
			}
			for _, m := range got {
				if !assigned[m[1]] {
					t.Fatalf("filtered page %d lists case %s, not assigned to operatore2", page, m[1])
				}
			}
		}
		if r := off.Get(path + "?assegnatario=operatore2&pagina=2"); !strings.Contains(r.Body, `href="/backoffice/probe/pratiche?assegnatario=operatore2" rel="prev"`) {
			t.Error("filtered page 2: the link back to page 1 loses the filter")
		}

		// Bad page numbers: 400 with a message (the queue used to show page 1).
		for _, bad := range []string{"0", "-3", "due", "1.5"} {
			r := off.Get(path + "?pagina=" + url.QueryEscape(bad))
			if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "Il numero di pagina nel parametro «pagina»") {
				t.Errorf("?pagina=%s: %d", bad, r.Status)
			}
		}
		if r := off.Get(path + "?pagina=4"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "l&#39;ultima pagina dell&#39;elenco è la 3") {
			t.Errorf("page 4 of 3: %d", r.Status)
		}
		if r := off.GetLang(path+"?assegnatario=operatore2&pagina=3", "en"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "the last page of the list is page 2") {
			t.Errorf("filtered page 3 of 2 in English: %d", r.Status)
		}
	})
}
