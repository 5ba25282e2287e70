package certificates_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// The shared verification page is sent with its exact length when not compressed,
// and compressed without a length (the gzip middleware drops it) when asked: both
// decode to the same page.
func TestVerifyPageLengthAndCompression(t *testing.T) {
	t.Parallel()
	s, m := portal(t, store.SQLite, "")
	giulia := person(t, s.DB, "BIANCHI", "GIULIA")
	c := issue(t, m, giulia, giulia, certificates.TypeResidence)
	get := func(gz bool) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/verifica/"+c.ID, nil)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r io.Reader = res.Body
		if res.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("gzip %v: %v", gz, err)
		}
		return res, string(b)
	}
	for range 2 { // the first renders, the second is served from the shared cache
		plain, body := get(false)
		if plain.StatusCode != http.StatusOK || plain.Header.Get("Content-Length") != strconv.Itoa(len(body)) ||
			!strings.Contains(body, "VALIDO") {
			t.Fatalf("plain: %d length %q of %d", plain.StatusCode, plain.Header.Get("Content-Length"), len(body))
		}
		zipped, zbody := get(true)
		if zipped.StatusCode != http.StatusOK || zipped.Header.Get("Content-Encoding") != "gzip" ||
			zipped.Header.Get("Content-Length") != "" || !strings.Contains(zbody, "VALIDO") ||
			len(zbody) != len(body) {
			t.Fatalf("gzip: %d %q length %q, %d bytes against %d", zipped.StatusCode, zipped.Header.Get("Content-Encoding"),
				zipped.Header.Get("Content-Length"), len(zbody), len(body))
		}
	}
}
