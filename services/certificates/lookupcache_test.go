package certificates_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// The verification keeps looked-up certificates in memory for LookupTTL, but a
// revocation in this process is exact: while 24 readers verify the certificate over
// and over, it is revoked, and every check that starts after the revocation returned
// (page and API) says "revocato".
func TestRevocationIsSeenAtOnceUnderLoad(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, m := portal(t, d, "")
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			c := issue(t, m, giulia, giulia, certificates.TypeResidence)
			if v := verdictOf(t, s, c.ID); v.Verdict != certificates.Valid {
				t.Fatalf("before: %+v", v)
			}
			var revoked atomic.Bool
			var wg sync.WaitGroup
			stop := make(chan struct{})
			var checks, late atomic.Int64
			for i := range 24 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cl := s.Client()
					for {
						select {
						case <-stop:
							return
						default:
						}
						after := revoked.Load() // read before the check starts
						var got certificates.Verdict
						if i%2 == 0 {
							r := cl.Get("/api/verifica/" + url.PathEscape(c.ID))
							switch {
							case strings.Contains(r.Body, `"verdict":"revocato"`):
								got = certificates.Revoked
							case strings.Contains(r.Body, `"verdict":"valido"`):
								got = certificates.Valid
							default:
								t.Errorf("API: %d %s", r.Status, r.Body)
								return
							}
						} else {
							r := cl.Get("/verifica/" + url.PathEscape(c.ID))
							switch {
							case r.Status != http.StatusOK:
								t.Errorf("page: %d", r.Status)
								return
							case strings.Contains(r.Body, "REVOCATO"):
								got = certificates.Revoked
							case strings.Contains(r.Body, "VALIDO"):
								got = certificates.Valid
							default:
								t.Errorf("page without a verdict: %s", r.Body)
								return
							}
						}
						checks.Add(1)
						if after && got != certificates.Revoked {
							late.Add(1)
						}
					}
				}()
			}
			staff := officer(t, s)
			if r := staff.PostForm("/backoffice/certificati/"+c.ID+"/revoca", url.Values{"motivo": {"Emesso per errore"}, "conferma": {"1"}}); r.Status != http.StatusSeeOther {
				t.Fatalf("revoke: %d %s", r.Status, r.Body)
			}
			revoked.Store(true)
			before := checks.Load()
			for checks.Load() < before+48 && !t.Failed() {
				if v := verdictOf(t, s, c.ID); v.Verdict != certificates.Revoked {
					t.Errorf("after the revocation: %+v", v)
					break
				}
			}
			close(stop)
			wg.Wait()
			if n := late.Load(); n != 0 {
				t.Fatalf("%d of %d checks started after the revocation still said valid", n, checks.Load())
			}
		})
	}
}
