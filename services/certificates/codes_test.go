package certificates_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// codeEndingIn returns a new verification code whose check character is sym.
func codeEndingIn(t testing.TB, sym byte) string {
	t.Helper()
	for {
		c, err := stamp.NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if c[len(c)-1] == sym {
			return c
		}
	}
}

// A verification code's check character may be one of * ~ $ = U (one code in seven
// ends in one of them): every address the portal writes for the certificate (the
// issued page, the list's links, the PDF, the accessible copy, the QR code) leads
// back to it, raw or percent-escaped, and the public pages verify it.
func TestCheckSymbolsInAddresses(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var queue []string
			next := func() (string, error) {
				mu.Lock()
				defer mu.Unlock()
				c := queue[0]
				queue = queue[1:]
				return c, nil
			}
			s, _ := portal(t, d, "", certificates.WithCodes(next))
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			c := citizen(t, s, giulia)
			for _, sym := range []byte("*~$=U7") {
				want := codeEndingIn(t, sym)
				mu.Lock()
				queue = append(queue, want)
				mu.Unlock()
				code := request(t, c, giulia, certificates.TypeResidence, "esente", "assegni_familiari")
				if got, _ := url.PathUnescape(code); got != want {
					t.Fatalf("%c: issued %q, want %q", sym, got, want)
				}
				if r := c.Get("/servizi/certificati/emesso/" + code); r.Status != http.StatusOK || !strings.Contains(html.UnescapeString(r.Body), want) {
					t.Fatalf("%s: the issued page: %d", want, r.Status)
				}
				// Every link of the list that names the certificate answers.
				list := c.Get("/servizi/certificati/miei")
				links := linksTo(list.Body, want)
				if len(links) < 3 {
					t.Fatalf("%s: the list links it %d times: %q", want, len(links), links)
				}
				var pdf []byte
				for _, l := range links {
					r := c.Get(l)
					if r.Status != http.StatusOK {
						t.Fatalf("%s: link %s: %d", want, l, r.Status)
					}
					if strings.HasSuffix(l, "/certificato.pdf") {
						pdf = []byte(r.Body)
					}
				}
				if pdf == nil {
					t.Fatalf("%s: no PDF link among %q", want, links)
				}
				qr, err := certificates.QRFromPDF(context.Background(), pdf)
				if err != nil {
					t.Fatal(err)
				}
				id, _, err := stamp.ParseVerificationURL(qr)
				if err == nil {
					id, err = stamp.NormalizeCode(id)
				}
				if err != nil || id != want {
					t.Fatalf("%s: the QR code %q names %q (%v)", want, qr, id, err)
				}
				u, _ := url.Parse(qr)
				anon := s.Client()
				if r := anon.Get(u.EscapedPath()); r.Status != http.StatusOK {
					t.Fatalf("%s: the QR code's page %s: %d", want, u.EscapedPath(), r.Status)
				}
				for _, p := range []string{"/verifica/" + want, "/verifica/" + url.PathEscape(want)} {
					if r := anon.Get(p); r.Status != http.StatusOK || !strings.Contains(r.Body, "VALIDO") {
						t.Fatalf("%s: %d, want VALIDO", p, r.Status)
					}
				}
				if v := verdictOf(t, s, want); v.Verdict != certificates.Valid {
					t.Fatalf("%s: the API says %s", want, v.Verdict)
				}
			}
		})
	}
}

var hrefRE = regexp.MustCompile(`href="([^"]+)"`)

// linksTo returns the page's links whose unescaped path names the code.
func linksTo(body, code string) []string {
	var out []string
	for _, m := range hrefRE.FindAllStringSubmatch(body, -1) {
		h := html.UnescapeString(m[1])
		if p, err := url.PathUnescape(h); err == nil && strings.Contains(p, "/"+code) {
			out = append(out, h)
		}
	}
	return out
}
