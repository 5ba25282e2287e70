package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/jobs"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// BenchmarkOccurrence measures the runner's overhead per occurrence of a job that does
// nothing: find it due, claim it (conditional UPDATE), read the claim, record the
// outcome; PostgreSQL is skipped when it cannot be reached.
func BenchmarkOccurrence(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, jobs.Migrations())
			c := newClock()
			r, err := jobs.NewRunner(db, []jobs.Job{{Name: "platform/bench", Schedule: jobs.Every(time.Second),
				Run: func(context.Context, time.Time) error { return nil }}}, jobs.Options{Now: c.Now})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.RunOnce(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.Add(time.Second)
				if n, err := r.RunOnce(ctx); err != nil || n != 1 {
					b.Fatalf("ran %d: %v", n, err)
				}
			}
		})
	}
}
