package backoffice_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

var (
	auditRow = regexp.MustCompile(`<td>prova (m-\d+)</td>`)
	mailRow  = regexp.MustCompile(`<a href="/backoffice/posta/\d+">Avviso di prova (\d+)</a>`)
)

// The audit log viewer and the mailbox on the shared pager: 50 a page, newest first,
// every event (message) on exactly one page, the filters kept in the page links and
// only them, bad page numbers refused with 400 and a message, on both databases.
func TestAuditAndMailboxPages(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{Modules: []services.Module{}}, func(t *testing.T, s *apptest.Server) {
		ctx := s.Ctx(t.Context())
		const n = 120
		for i := range n {
			actor := "op.pari"
			if i%2 == 1 {
				actor = "op.dispari"
			}
			if err := audit.Record(ctx, s.DB, audit.Entry{ActorKind: audit.ActorStaff, ActorID: actor, Action: "test.mark",
				ObjectType: "prova", ObjectID: fmt.Sprintf("m-%d", i), Outcome: audit.OK}); err != nil {
				t.Fatal(err)
			}
		}
		admin := s.Client()
		s.LoginAs(admin, web.Viewer{Kind: "staff", ID: "admin1", Roles: []string{roles.Admin}})

		seen := map[string]int{}
		for page, want := range map[int]int{1: 50, 2: 50, 3: 20} {
			r := admin.Get("/backoffice/audit?action=test.mark&pagina=" + strconv.Itoa(page))
			got := auditRow.FindAllStringSubmatch(r.Body, -1)
			if r.Status != http.StatusOK || len(got) != want {
				t.Fatalf("audit page %d: %d, %d events, want %d", page, r.Status, len(got), want)
			}
			// Newest first: page p starts with event n-1-50(p-1).
			if got[0][1] != fmt.Sprintf("m-%d", n-1-50*(page-1)) {
				t.Errorf("audit page %d starts with %s", page, got[0][1])
			}
			for _, m := range got {
				seen[m[1]]++
			}
			if !strings.Contains(r.Body, "120 eventi trovati. Pagina "+strconv.Itoa(page)+" di 3.") ||
				!strings.Contains(r.Body, `<nav class="pagination-wrapper" aria-label="Pagine dei risultati">`) ||
				!strings.Contains(r.Body, `aria-current="page" aria-label="Pagina `+strconv.Itoa(page)+` di 3, pagina corrente">`) {
				t.Errorf("audit page %d: total, landmark or current page missing", page)
			}
		}
		apptest.EachOnOnePage(t, seen, n, "events")
		// The filters travel with the page links; a parameter the viewer does not
		// know does not.
		r := admin.Get("/backoffice/audit?action=test.mark&actor=op.pari&x=1")
		next := `href="/backoffice/audit?action=test.mark&amp;actor=op.pari&amp;pagina=2" rel="next"`
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "60 eventi trovati. Pagina 1 di 2.") || !strings.Contains(r.Body, next) {
			t.Fatalf("filtered audit log: %d", r.Status)
		}
		r = admin.Get("/backoffice/audit?action=test.mark&actor=op.pari&pagina=2")
		got := auditRow.FindAllStringSubmatch(r.Body, -1)
		if r.Status != http.StatusOK || len(got) != 10 || !strings.Contains(r.Body, `href="/backoffice/audit?action=test.mark&amp;actor=op.pari" rel="prev"`) {
			t.Fatalf("filtered audit log, page 2: %d, %d events", r.Status, len(got))
		}
		for _, m := range got {
			if i, _ := strconv.Atoi(strings.TrimPrefix(m[1], "m-")); i%2 != 0 {
				t.Fatalf("the filter by actor lets %s through", m[1])
			}
		}
		for _, bad := range []string{"0", "-1", "tre", "2.0"} {
			r := admin.Get("/backoffice/audit?pagina=" + url.QueryEscape(bad))
			if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "Il numero di pagina nel parametro «pagina»") {
				t.Errorf("audit ?pagina=%s: %d", bad, r.Status)
			}
		}
		if r := admin.Get("/backoffice/audit?action=test.mark&pagina=4"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "l&#39;ultima pagina dell&#39;elenco è la 3") {
			t.Errorf("audit page 4 of 3: %d", r.Status)
		}
		if r := admin.GetLang("/backoffice/audit?pagina=x", "en"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "The page number in the address parameter") {
			t.Errorf("audit bad page in English: %d", r.Status)
		}

		// The development mailbox (no SMTP server: every message is held): 70
		// messages, two pages, newest first.
		for i := range 70 {
			if _, err := s.App.Outbox().Enqueue(ctx, s.DB, notify.Message{To: "mario.rossi@example.it", Subject: fmt.Sprintf("Avviso di prova %d", i),
				Text: "Testo di prova", Kind: "test.mark"}); err != nil {
				t.Fatal(err)
			}
		}
		mails := map[string]bool{}
		for page, want := range map[int]int{1: 50, 2: 20} {
			r := admin.Get("/backoffice/posta?pagina=" + strconv.Itoa(page))
			got := mailRow.FindAllStringSubmatch(r.Body, -1)
			if r.Status != http.StatusOK || len(got) < want {
				t.Fatalf("mailbox page %d: %d, %d test messages, want %d", page, r.Status, len(got), want)
			}
			if page == 1 && got[0][1] != "69" {
				t.Errorf("mailbox page 1 starts with message %s, want the newest (69)", got[0][1])
			}
			for _, m := range got {
				if mails[m[1]] {
					t.Fatalf("message %s on two pages", m[1])
				}
				mails[m[1]] = true
			}
		}
		if len(mails) != 70 {
			t.Fatalf("%d of the 70 messages over the mailbox's pages", len(mails))
		}
		if r := admin.Get("/backoffice/posta?pagina=3"); r.Status != http.StatusBadRequest {
			t.Errorf("mailbox page 3 of 2: %d", r.Status)
		}
		// The status filter is kept. The outbox gives a message its status when it is
		// enqueued (held without a mail server), so the test messages share one.
		recs, _, err := notify.List(ctx, s.DB, notify.ListFilter{Kind: "test.mark", Limit: 1})
		if err != nil || len(recs) != 1 {
			t.Fatalf("test messages: %v", err)
		}
		st := string(recs[0].Status)
		if r := admin.Get("/backoffice/posta?status=" + st); r.Status != http.StatusOK || !strings.Contains(r.Body, `href="/backoffice/posta?pagina=2&amp;status=`+st+`" rel="next"`) {
			t.Errorf("mailbox filtered by status %s: %d", st, r.Status)
		}
	})
}
