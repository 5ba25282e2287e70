package notify_test

import (
	"testing"

	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// BenchmarkEnqueue measures one Enqueue (validation and one INSERT, autocommit) on each
// dialect; PostgreSQL is skipped when it cannot be reached.
func BenchmarkEnqueue(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, notify.Migrations())
			out := new(notify.Outbox)
			m := protocolMail("mario.rossi@example.it")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := out.Enqueue(ctx, db, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
