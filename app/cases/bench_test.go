package cases_test

import (
	"sync/atomic"
	"testing"

	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// BenchmarkSubmit measures submissions per second, each one transaction with its
// protocol number, history, audit entry and two mails queued, from 4 × GOMAXPROCS
// goroutines at once on each database. Run: go test -run '^$' -bench Submit ./app/cases
func BenchmarkSubmit(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, migrations())
			s := newService(b, db, nil)
			ids := make([]int64, b.N)
			for i := range ids {
				c, err := s.Create(ctx(), applicant, probeModule, probeType, map[string]any{"n": i})
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = c.ID
			}
			var next atomic.Int64
			b.SetParallelism(4) // 4 × GOMAXPROCS goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := ids[next.Add(1)-1]
					if _, err := s.Apply(ctx(), applicant, id, "submit", cases.Input{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submissions/s")
		})
	}
}
