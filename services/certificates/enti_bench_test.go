package certificates_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// BenchmarkEnti measures the catalogue and a certificate's verification page with one
// ente in the database and with a thousand (each with a host name and a certificate of
// its own): resolving the host is a map lookup and every query is confined by an
// indexed ente_id, so the two should cost the same within noise.
func BenchmarkEnti(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		for _, n := range []int{1, 1000} {
			b.Run(fmt.Sprintf("%s/enti=%d", d, n), func(b *testing.B) {
				s, m := portal(b, d, "")
				giulia := person(b, s.DB, "BIANCHI", "GIULIA")
				c := issue(b, m, giulia, giulia, certificates.TypeFamilyRelations)
				if n > 1 {
					st := enti.NewStore(s.DB)
					val, err := st.Get(ctx, "valdoria")
					if err != nil {
						b.Fatal(err)
					}
					val.Hosts = []string{"127.0.0.1"}
					if err := st.Put(ctx, val); err != nil {
						b.Fatal(err)
					}
					all := enti.AllEnti(s.DB, "benchmark fixture")
					for i := 1; i < n; i++ {
						id := fmt.Sprintf("comune-%04d", i)
						if err := st.Put(ctx, &enti.Ente{ID: id, Kind: enti.KindComune, Name: "Comune " + id,
							Hosts: []string{id + ".localhost"}}); err != nil {
							b.Fatal(err)
						}
						other := *c
						other.ID, other.EnteID = fmt.Sprintf("B%03d-0000-0000-%d", i%1000, i%10), id
						if err := all.Create(&other).Error; err != nil {
							b.Fatal(err)
						}
					}
					if err := s.App.Enti().Load(ctx); err != nil {
						b.Fatal(err)
					}
				}
				client := &http.Client{}
				for _, p := range []struct{ name, path string }{
					{"catalogue", "/servizi"},
					{"verification", "/verifica/" + c.ID},
				} {
					b.Run(p.name, func(b *testing.B) {
						b.ReportAllocs()
						for b.Loop() {
							res, err := client.Get(s.URL + p.path)
							if err != nil {
								b.Fatal(err)
							}
							_, _ = io.Copy(io.Discard, res.Body)
							res.Body.Close()
							if res.StatusCode != http.StatusOK {
								b.Fatalf("%s: %d", p.path, res.StatusCode)
							}
						}
					})
				}
			})
		}
	}
}
