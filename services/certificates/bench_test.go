package certificates_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// BenchmarkIssueCertificate measures Issue end to end: register lookup (person,
// household, residence, events), rules, snapshot, stamp signature, PDF layout with
// the QR code, and the insert with its audit entry in one transaction.
func BenchmarkIssueCertificate(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			s, m := portal(b, d, "")
			giulia := person(b, s.DB, "BIANCHI", "GIULIA")
			req := certificates.Request{RequesterCF: giulia.FiscalCode, HolderCF: giulia.FiscalCode,
				Type: certificates.TypeFamilyRelations, Bollo: certificates.BolloDue}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Issue(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures a verification over HTTP through the whole portal: the
// page the QR code opens, and the JSON API. Each request also logs the check.
func BenchmarkVerify(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			s, m := portal(b, d, "")
			giulia := person(b, s.DB, "BIANCHI", "GIULIA")
			c := issue(b, m, giulia, giulia, certificates.TypeFamilyRelations)
			client := &http.Client{}
			for _, p := range []struct{ name, path string }{
				{"page", "/verifica/" + c.ID},
				{"api", "/api/verifica/" + c.ID},
			} {
				b.Run(p.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						res, err := client.Get(s.URL + p.path)
						if err != nil {
							b.Fatal(err)
						}
						io.Copy(io.Discard, res.Body)
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
