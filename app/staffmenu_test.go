package app_test

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

var (
	staffMenuNav  = regexp.MustCompile(`(?s)<nav aria-label="(?:Menu del back office|Back office menu)"[^>]*>(.*?)</nav>`)
	staffMenuLink = regexp.MustCompile(`<a href="([^"]+)"[^>]*>([^<]+)</a>`)
)

// Every back-office menu, drawn for a staff member with each role of the portal (all
// built-in modules), with all the roles at once, and for an administrator, names
// each entry once and leads to each page once: two entries with the same text (the
// ZTL permits and the ZTL case queue were both "Permessi ZTL") leave the officer
// guessing which is which.
func TestStaffMenuHasNoDuplicates(t *testing.T) {
	t.Parallel()
	s := apptest.New(t, store.SQLite, apptest.Options{})
	var all []string
	check := func(who string, roleIDs []string) {
		t.Helper()
		c := s.Client()
		s.LoginAs(c, web.Viewer{Kind: "staff", ID: "menu.test", DisplayName: "Prova Menu", Roles: roleIDs})
		for _, lang := range []string{"it", "en"} {
			r := c.GetLang("/backoffice", lang)
			nav := staffMenuNav.FindStringSubmatch(r.Body)
			if r.Status != http.StatusOK || nav == nil {
				t.Fatalf("%s (%s): dashboard %d, menu found: %v", who, lang, r.Status, nav != nil)
			}
			texts, hrefs := map[string]string{}, map[string]string{}
			links := staffMenuLink.FindAllStringSubmatch(nav[1], -1)
			if len(links) < 2 {
				t.Fatalf("%s (%s): the menu has %d entries", who, lang, len(links))
			}
			for _, m := range links {
				href, text := m[1], strings.TrimSpace(html.UnescapeString(m[2]))
				if other, dup := texts[text]; dup {
					t.Errorf("%s (%s): %q names both %s and %s", who, lang, text, other, href)
				}
				if other, dup := hrefs[href]; dup {
					t.Errorf("%s (%s): %s is in the menu twice, as %q and %q", who, lang, href, other, text)
				}
				texts[text], hrefs[href] = href, text
			}
		}
	}
	for _, r := range s.App.Accounts().Roles() {
		check("role "+r.ID, []string{r.ID})
		all = append(all, r.ID)
	}
	check("every role", all)
	check("admin", []string{"admin"})
}
