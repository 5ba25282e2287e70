package e2e

import (
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestJourneyUnione: the demo union of `make run` (config/demo.yaml). The union's
// administrator, granted the administrator role in both member comuni by the demo,
// logs in on the union's host and finds in the audit log and the payments list a
// "Comune" column and a filter by comune over the union and its two comuni, the log
// over more than one page (page 2 followed from the page links); a comune outside the
// union's grants is a 404. Every page gets the accessibility and 320 px reflow checks;
// the audit log is also captured 390 px wide.
func TestJourneyUnione(t *testing.T) {
	Require(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := StartPortal(t, PortalOptions{Env: []string{"SPORTELLO_CONFIG=" + filepath.Join(root, "config", "demo.yaml")}})
	admin := p.DemoAccount(t, "demo.admin.unione-valdoria")
	_, port, _ := net.SplitHostPort(p.Addr)
	b := NewBrowser(t)
	b.BaseURL = "http://unione.localhost:" + port

	b.VisitAndCheck(LoginPath)
	if code := b.LoginComune(p, admin); code != 200 {
		t.Fatalf("login of the union's administrator: %d at %s", code, b.Location())
	}
	if u, _ := url.Parse(b.Location()); u.Hostname() != "unione.localhost" || u.Path != "/backoffice" {
		t.Fatalf("the login ended at %s, want the union's back office", b.Location())
	}
	b.CheckA11y(t)

	if code := b.VisitAndCheck("/backoffice/audit"); code != 200 {
		t.Fatalf("union audit log: %d", code)
	}
	options := b.Texts("#f-comune option")
	for _, want := range []string{"Tutti i comuni", "Unione dei Comuni di Valdoria", "Comune di Valdoria", "Comune di Borgomonte"} {
		if !slices.Contains(options, want) {
			t.Fatalf("the comune filter offers %q, missing %q", options, want)
		}
	}
	if !slices.Contains(b.Texts("thead th"), "Comune") {
		t.Fatalf("no Comune column: %q", b.Texts("thead th"))
	}
	// The demo's grants are in the comuni's own logs: the union's view shows them.
	if !slices.Contains(b.Texts("tbody td"), "Comune di Borgomonte") {
		t.Fatalf("no event of Borgomonte in the union's log: %q", b.Texts("tbody td"))
	}
	run(b, "phone viewport", chromedp.EmulateViewport(390, 844))
	t.Logf("390 px: %s", b.Screenshot("unione-audit-390"))
	run(b, "wide viewport", chromedp.EmulateViewport(1280, 900))

	// The union's log is longer than a page (the demo's events in the three enti and
	// this login): the numbered page links, followed to page 2, keep the union's view.
	total := b.Text("#audit-total")
	if !regexp.MustCompile(`^\d+ eventi trovati\. Pagina 1 di \d+\.$`).MatchString(total) {
		t.Fatalf("the union's audit log is not paginated: %q (the demo data should give more than 50 events)", total)
	}
	if got := b.Text(`nav.pagination-wrapper a[aria-current="page"]`); got != "1" {
		t.Fatalf("page 1: the current page link reads %q", got)
	}
	if code := b.Follow(`nav.pagination-wrapper a[rel="next"]`); code != 200 {
		t.Fatalf("page 2 of the union's audit log: %d", code)
	}
	b.CheckA11y(t)
	if u, _ := url.Parse(b.Location()); u.Hostname() != "unione.localhost" || u.Path != "/backoffice/audit" || u.Query().Get("pagina") != "2" {
		t.Fatalf("the next-page link led to %s", b.Location())
	}
	if got := b.Text("#audit-total"); !strings.Contains(got, "Pagina 2 di") {
		t.Fatalf("page 2 says %q", got)
	}
	if b.Count("tbody tr") == 0 || !slices.Contains(b.Texts("thead th"), "Comune") ||
		b.Text(`nav.pagination-wrapper a[aria-current="page"]`) != "2" || b.Count(`nav.pagination-wrapper a[rel="prev"]`) != 1 {
		t.Fatalf("page 2 of the union's audit log: %d rows, headings %q", b.Count("tbody tr"), b.Texts("thead th"))
	}

	b.VisitAndCheck("/backoffice/audit?comune=borgomonte")
	for _, c := range b.Texts("tbody tr td:nth-child(2)") {
		if c != "Comune di Borgomonte" {
			t.Fatalf("the log filtered by Borgomonte shows %q", c)
		}
	}
	if code := b.VisitAndCheck("/backoffice/pagamenti"); code != 200 || !slices.Contains(b.Texts("#comune option"), "Comune di Borgomonte") {
		t.Fatalf("union payments list: %d, filter %q", code, b.Texts("#comune option"))
	}
	if code := b.VisitAndCheck("/backoffice/audit?comune=roccabruna"); code != 404 {
		t.Fatalf("a comune outside the union: %d", code)
	}
	if !strings.Contains(b.Location(), "unione.localhost") {
		t.Fatalf("left the union's host: %s", b.Location())
	}
}
