package app_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// BenchmarkCataloguePage measures full requests for the catalogue page over real HTTP
// (router, every middleware, template rendering, gzip off) on each dialect, with as
// many concurrent clients as GOMAXPROCS. Requests per second = 1e9 / ns/op.
func BenchmarkCataloguePage(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) { benchPage(b, d, "/servizi") })
	}
}

// BenchmarkOfficesPage measures a page that reads the database on every request.
func BenchmarkOfficesPage(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) { benchPage(b, d, "/servizi/urp/") })
	}
}

func benchPage(b *testing.B, d store.Dialect, path string) {
	s := apptest.New(b, d, apptest.Options{})
	if _, err := s.App.SeedDemo(b.Context()); err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(s.URL + path)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
