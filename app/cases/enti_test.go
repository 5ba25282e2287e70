package cases_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// TestProtocolPerEnteConcurrent: 40 submissions at once, 20 in each of two comuni, in
// one process on one connection pool, with the store's ente guard installed as in the
// portal: each comune gets the consecutive numbers 1..20 of its own register of
// protocol, no gap and no number shared within a comune; nothing is written to the
// other comune's rows.
func TestProtocolPerEnteConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		if err := enti.NewGuard(append(slices.Clone(cases.Tables), "audit_events", "outbox_messages")...).Install(db); err != nil {
			t.Fatal(err)
		}
		clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
		s := newService(t, db, clk)
		comuni := []string{"valdoria", "borgomonte"}
		const each = 20
		type job struct {
			ctx context.Context
			id  int64
		}
		var jobs []job
		for i := 0; i < each; i++ {
			for _, e := range comuni {
				c := enti.WithEnte(context.Background(), &enti.Ente{ID: e, Name: "Comune di " + e})
				d, err := s.Create(c, applicant, probeModule, probeType, map[string]any{"n": i})
				if err != nil {
					t.Fatal(err)
				}
				jobs = append(jobs, job{c, d.ID})
			}
		}
		// Unscoped, the store refuses: no ente, no case.
		if _, err := s.Create(context.Background(), applicant, probeModule, probeType, nil); err == nil {
			t.Fatal("a case created without an ente")
		}
		errs := make([]error, len(jobs))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = s.Apply(j.ctx, applicant, j.id, "submit", cases.Input{})
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("submission %d: %v", i, err)
			}
		}
		all := enti.AllEnti(db, "test inspection")
		for _, e := range comuni {
			var got []string
			if err := all.Model(&cases.Case{}).Where("ente_id = ? AND protocol <> ''", e).Order("protocol").
				Pluck("protocol", &got).Error; err != nil {
				t.Fatal(err)
			}
			if len(got) != each {
				t.Fatalf("%s: %d protocol numbers, want %d", e, len(got), each)
			}
			for i, p := range got {
				if want := cases.FormatProtocol(2026, int64(i+1)); p != want {
					t.Fatalf("%s: protocol %d is %q, want %q (all: %v)", e, i, p, want, got)
				}
			}
			var last int64
			if err := all.Table("case_protocol_counters").Where("ente_id = ? AND year = ?", e, 2026).
				Pluck("last", &last).Error; err != nil || last != each {
				t.Fatalf("%s: counter at %d (%v)", e, last, err)
			}
		}
		// Each comune's handle sees its own 20 and none of the other's.
		for _, e := range comuni {
			var n int64
			c := enti.WithEnte(context.Background(), &enti.Ente{ID: e})
			if err := enti.For(c, db).Model(&cases.Case{}).Count(&n).Error; err != nil || n != each {
				t.Fatalf("%s sees %d cases (%v)", e, n, err)
			}
		}
		var rows int64
		if err := all.Model(&cases.Case{}).Where("ente_id NOT IN ?", comuni).Count(&rows).Error; err != nil || rows != 0 {
			t.Fatalf("%d cases of no comune (%v)", rows, err)
		}
	})
}
