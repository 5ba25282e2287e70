package appuntamenti

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// BenchmarkFirstFree90Days: the first free slot of an office with 6 desks and a
// 90-day horizon where the first 60 days are fully booked (the search reads the
// schedule, closures and every slot counter of the 90 days).
func BenchmarkFirstFree90Days(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, (&Module{}).Migrations())
			m := storeModule(b, db, testNow)
			ctx := enteCtx("alfa")
			seedOffice(b, ctx, m, 6)
			if err := m.store(ctx).Model(&Office{}).Where("id = ?", "o").Update("horizon_days", 90).Error; err != nil {
				b.Fatal(err)
			}
			s, err := m.schedule(ctx, "o", ServiceCIE)
			if err != nil {
				b.Fatal(err)
			}
			// Fill 60 days: counters at capacity (what 6 bookings per slot leave).
			var full []Slot
			for day := DayOf(testNow); day.Start().Before(testNow.AddDate(0, 0, 60)); day = day.Next() {
				starts, _ := DaySlots(day, s.Hours, s.Length())
				for _, t := range starts {
					full = append(full, Slot{OfficeID: "o", Service: ServiceCIE, StartsAt: t, Capacity: 6, Booked: 6})
				}
			}
			if err := m.store(ctx).CreateInBatches(full, 200).Error; err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				first, err := m.FirstFree(ctx, s, testNow)
				if err != nil || first == nil || first.Before(testNow.AddDate(0, 0, 59)) {
					b.Fatalf("first free %v %v", first, err)
				}
			}
			b.ReportMetric(float64(len(full)), "full-slots")
		})
	}
}

// BenchmarkBookContended: 50 goroutines book at once, many on the same slots
// (capacity 6), across the slots of a week; reports successful bookings per second.
func BenchmarkBookContended(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, (&Module{}).Migrations())
			m := storeModule(b, db, testNow)
			ctx := enteCtx("alfa")
			seedOffice(b, ctx, m, 6)
			s, _ := m.schedule(ctx, "o", ServiceCIE)
			var starts []time.Time
			for day, i := DayOf(testNow).Next(), 0; i < 7; day, i = day.Next(), i+1 {
				st, _ := DaySlots(day, s.Hours, s.Length())
				starts = append(starts, st...)
			}
			var seq, ok, full atomic.Int64
			b.ResetTimer()
			begin := time.Now()
			for range b.N {
				var wg sync.WaitGroup
				for range 50 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						n := seq.Add(1)
						_, err := m.Book(ctx, Request{OfficeID: "o", Service: ServiceCIE, Start: starts[int(n/8)%len(starts)],
							CitizenCF: fmt.Sprintf("BNCCTZ80A01H%04d", n), Email: "p@example.it"})
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, ErrSlotFull):
							full.Add(1)
						default:
							b.Error(err)
						}
					}()
				}
				wg.Wait()
			}
			el := time.Since(begin).Seconds()
			b.ReportMetric(float64(ok.Load())/el, "bookings/s")
			b.ReportMetric(float64(ok.Load()+full.Load())/el, "attempts/s")
		})
	}
}
