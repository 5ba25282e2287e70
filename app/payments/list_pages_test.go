package payments_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/services"
)

// seedPositions stores n positions of the portal's ente, position i created i minutes
// after the first (so n-1 is the newest): every third paid, the others published;
// the even ones owed by Mario, the odd ones by Luigi. Position i has IUPD
// "iupd-<i>" and notice number 3 followed by i on 17 digits.
func seedPositions(t *testing.T, s *apptest.Server, n int) {
	t.Helper()
	ctx := portalCtx(t, s)
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	list := make([]payments.Position, n)
	for i := range n {
		state, payer, name := payments.Published, mario.FiscalCode, "Mario Rossi"
		if i%3 == 0 {
			state = payments.Paid
		}
		if i%2 == 1 {
			payer, name = luigi.FiscalCode, "Luigi Verdi"
		}
		at := base.Add(time.Duration(i) * time.Minute)
		list[i] = payments.Position{ID: fmt.Sprintf("iupd-%d", i), Purpose: "test/fee", Ref: strconv.Itoa(i), PayerCF: payer,
			PayerName: name, AmountCents: 1600, Causale: "Diritti di segreteria " + strconv.Itoa(i), DueDate: at.Add(30 * 24 * time.Hour),
			IBAN: "IT60X0542811101000000123456", CreditorCF: "00000000000", NoticeNumber: fmt.Sprintf("3%017d", i),
			IUV: fmt.Sprintf("%017d", i), State: state, CreatedAt: at, UpdatedAt: at}
	}
	// 50 rows a statement: the SQLite driver binds parameters in quadratic time.
	if err := enti.For(ctx, s.DB).CreateInBatches(&list, 50).Error; err != nil {
		t.Fatal(err)
	}
}

var noticeInStaffList = regexp.MustCompile(`/backoffice/pagamenti/iupd-(\d+)" class="code-mono">3\d{17}</a>`)

// staffPage fetches u and returns the positions it lists (their i, in order).
func listed(t *testing.T, r *apptest.Response, re *regexp.Regexp) []int {
	t.Helper()
	var out []int
	for _, m := range re.FindAllStringSubmatch(r.Body, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

// The back-office list of payments: 50 a page, newest first, every position on
// exactly one page (older ones reachable: the list used to stop at 100), the total
// shown, the filters kept in the page links, and bad page numbers refused with 400
// and a message in the staff member's language, on both databases.
func TestStaffListPages(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{Modules: []services.Module{}}, func(t *testing.T, s *apptest.Server) {
		c := s.Client()
		s.LoginAs(c, ragio)
		// An empty list: no page links; page 2 does not exist.
		if r := c.Get(payments.StaffBase); r.Status != http.StatusOK || strings.Contains(r.Body, `class="pagination`) {
			t.Fatalf("empty list: %d", r.Status)
		}
		if r := c.Get(payments.StaffBase + "?pagina=2"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "La pagina 2 non esiste") {
			t.Fatalf("page 2 of an empty list: %d", r.Status)
		}

		const n = 230
		seedPositions(t, s, n)
		seen := map[int]int{}
		for page := 1; page <= 5; page++ {
			r := c.Get(payments.StaffBase + "?pagina=" + strconv.Itoa(page))
			got := listed(t, r, noticeInStaffList)
			want := 50
			if page == 5 {
				want = 30
			}
			if r.Status != http.StatusOK || len(got) != want {
				t.Fatalf("page %d: %d, %d positions, want %d", page, r.Status, len(got), want)
			}
			// Newest first, without gaps: page p starts at n-1-50(p-1).
			for k, i := range got {
				if i != n-1-50*(page-1)-k {
					t.Fatalf("page %d, row %d: position %d, want %d", page, k, i, n-1-50*(page-1)-k)
				}
				seen[i]++
			}
			if !strings.Contains(r.Body, "230 posizioni · pagina "+strconv.Itoa(page)+" di 5") {
				t.Errorf("page %d does not show the total and the page", page)
			}
			if !strings.Contains(r.Body, `<nav class="pagination-wrapper" aria-label="Pagine dell&#39;elenco delle posizioni">`) ||
				!strings.Contains(r.Body, `aria-current="page" aria-label="Pagina `+strconv.Itoa(page)+` di 5, pagina corrente">`) {
				t.Errorf("page %d: pagination landmark or current page missing", page)
			}
		}
		apptest.EachOnOnePage(t, seen, n, "positions")
		// Page 1 has no "pagina" in its address; the last page links back to it.
		if r := c.Get(payments.StaffBase + "?pagina=5"); !strings.Contains(r.Body, `href="/backoffice/pagamenti" aria-label="Pagina 1"`) {
			t.Error("page 5 lacks the link to page 1")
		}

		// Filters kept across pages: Mario's published positions (the even i not a
		// multiple of 3: 76 of them), two pages.
		q := "cf=" + strings.ToLower(mario.FiscalCode) + "&stato=published"
		r := c.Get(payments.StaffBase + "?" + q)
		next := `href="/backoffice/pagamenti?cf=` + mario.FiscalCode + `&amp;pagina=2&amp;stato=published" rel="next"`
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "76 posizioni · pagina 1 di 2") || !strings.Contains(r.Body, next) {
			t.Fatalf("filtered list, page 1: %d", r.Status)
		}
		filtered := map[int]bool{}
		for page := 1; page <= 2; page++ {
			r := c.Get(payments.StaffBase + "?" + q + "&pagina=" + strconv.Itoa(page))
			got := listed(t, r, noticeInStaffList)
			if r.Status != http.StatusOK || len(got) != map[int]int{1: 50, 2: 26}[page] {
				t.Fatalf("filtered page %d: %d, %d positions", page, r.Status, len(got))
			}
			for _, i := range got {
				if i%2 != 0 || i%3 == 0 || filtered[i] {
					t.Fatalf("filtered page %d lists position %d", page, i)
				}
				filtered[i] = true
			}
		}
		if r := c.Get(payments.StaffBase + "?" + q + "&pagina=2"); !strings.Contains(r.Body, `href="/backoffice/pagamenti?cf=`+mario.FiscalCode+`&amp;stato=published" rel="prev"`) {
			t.Error("filtered page 2: the link back to page 1 loses the filters")
		}

		// Bad page numbers: 400 with a message, in Italian and in English.
		for _, bad := range []string{"0", "-1", "abc", "2.5", "1e3", "99999999999"} {
			r := c.Get(payments.StaffBase + "?pagina=" + url.QueryEscape(bad))
			if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "Il numero di pagina nel parametro «pagina»") {
				t.Errorf("?pagina=%s: %d", bad, r.Status)
			}
		}
		if r := c.Get(payments.StaffBase + "?pagina=6"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "l&#39;ultima pagina dell&#39;elenco è la 5") {
			t.Errorf("page 6 of 5: %d", r.Status)
		}
		if r := c.Get(payments.StaffBase + "?" + q + "&pagina=3"); r.Status != http.StatusBadRequest {
			t.Errorf("filtered page 3 of 2: %d", r.Status)
		}
		if r := c.GetLang(payments.StaffBase+"?pagina=x", "en"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "The page number in the address parameter") {
			t.Errorf("bad page in English: %d", r.Status)
		}
	})
}

var inMine = regexp.MustCompile(`<a href="/area-personale/pagamenti/iupd-(\d+)">`)

// The citizen's own payments page: 50 a page, newest first, only their positions,
// every one on exactly one page (it used to stop at 200), bad pages 400.
func TestCitizenListPages(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{Modules: []services.Module{}}, func(t *testing.T, s *apptest.Server) {
		seedPositions(t, s, 130) // Mario owes the 65 even ones
		c := s.Client()
		s.LoginAs(c, mario)
		seen := map[int]bool{}
		for page, want := range map[int]int{1: 50, 2: 15} {
			u := payments.CitizenBase
			if page > 1 {
				u += "?pagina=2"
			}
			r := c.Get(u)
			got := listed(t, r, inMine)
			if r.Status != http.StatusOK || len(got) != want {
				t.Fatalf("page %d: %d, %d positions, want %d", page, r.Status, len(got), want)
			}
			for k, i := range got {
				if i%2 != 0 || seen[i] || (k > 0 && i > got[k-1]) {
					t.Fatalf("page %d lists position %d at row %d", page, i, k)
				}
				seen[i] = true
			}
			if !strings.Contains(r.Body, `<nav class="pagination-wrapper" aria-label="Pagine dei tuoi pagamenti">`) {
				t.Errorf("page %d: no pagination landmark", page)
			}
		}
		if len(seen) != 65 {
			t.Fatalf("%d of Mario's 65 positions over the pages", len(seen))
		}
		if r := c.Get(payments.CitizenBase + "?pagina=3"); r.Status != http.StatusBadRequest {
			t.Errorf("page 3 of 2: %d", r.Status)
		}
		if r := c.Get(payments.CitizenBase + "?pagina=zero"); r.Status != http.StatusBadRequest {
			t.Errorf("?pagina=zero: %d", r.Status)
		}
	})
}
