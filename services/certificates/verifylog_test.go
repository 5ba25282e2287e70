package certificates_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// Every check is recorded: 60 concurrent verifications (page, API, typed code) are all
// in the log after a flush, on both databases; and stopping the module (what the
// portal does at shutdown) writes the checks still queued.
func TestVerificationLogBatches(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, m := portal(t, d, "")
			giulia := person(t, s.DB, "BIANCHI", "GIULIA")
			c := issue(t, m, giulia, giulia, certificates.TypeResidence)
			count := func() int64 {
				var n int64
				if err := s.All().Model(&certificates.Verification{}).Where("certificate_id = ?", c.ID).Count(&n).Error; err != nil {
					t.Fatal(err)
				}
				return n
			}
			paths := []string{"/verifica/" + c.ID, "/api/verifica/" + c.ID, "/verifica/" + c.ID + "?via=codice"}
			var wg sync.WaitGroup
			for i := range 60 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if r := s.Client().Get(paths[i%3]); r.Status != http.StatusOK {
						t.Errorf("%s: %d", paths[i%3], r.Status)
					}
				}()
			}
			wg.Wait()
			if err := m.FlushVerifications(ctx); err != nil {
				t.Fatal(err)
			}
			if n := count(); n != 60 {
				t.Fatalf("after flush: %d checks logged, want 60", n)
			}
			var byChannel []struct {
				Channel string
				N       int64
			}
			s.All().Model(&certificates.Verification{}).Select("channel, count(*) AS n").
				Where("certificate_id = ?", c.ID).Group("channel").Order("channel").Scan(&byChannel)
			if len(byChannel) != 3 || byChannel[0].N != 20 || byChannel[1].N != 20 || byChannel[2].N != 20 {
				t.Errorf("checks by channel: %+v", byChannel)
			}

			// Queued checks are written at shutdown, and checks after it directly.
			for range 5 {
				s.Client().Get("/api/verifica/" + c.ID)
			}
			if err := m.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if n := count(); n != 65 {
				t.Fatalf("after stop: %d checks logged, want 65", n)
			}
			s.Client().Get("/api/verifica/" + c.ID)
			if n := count(); n != 66 {
				t.Fatalf("a check after stop: %d logged, want 66", n)
			}
		})
	}
}
