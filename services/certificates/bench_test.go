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

// BenchmarkIssueCertificateParallel issues certificates from 8 goroutines a core at
// once: ns/op is the machine's throughput (one certificate every ns/op), where
// BenchmarkIssueCertificate gives the time one request waits.
func BenchmarkIssueCertificateParallel(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			s, m := portal(b, d, "")
			giulia := person(b, s.DB, "BIANCHI", "GIULIA")
			req := certificates.Request{RequesterCF: giulia.FiscalCode, HolderCF: giulia.FiscalCode,
				Type: certificates.TypeFamilyRelations, Bollo: certificates.BolloDue}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer() // the portal's start is not part of it (b.Loop does this itself)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Issue(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
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
			gzip := &http.Client{}
			// wrk (scripts/bench-http.sh) asks no compression: the -plain variants
			// measure what it measures, without the gzip writer in the profile.
			plain := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			for _, p := range []struct {
				name, path string
				client     *http.Client
			}{
				{"page", "/verifica/" + c.ID, gzip},
				{"api", "/api/verifica/" + c.ID, gzip},
				{"page-plain", "/verifica/" + c.ID, plain},
				{"api-plain", "/api/verifica/" + c.ID, plain},
			} {
				client := p.client
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
