package notify_test

import (
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

func TestEnqueueRollsBackWithTransaction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, notify.Migrations(), func(t *testing.T, db *gorm.DB) {
		out := new(notify.Outbox)
		abort := errors.New("state change failed")
		err := store.WithTx(ctx, db, func(tx *gorm.DB) error {
			if _, err := out.Enqueue(ctx, tx, protocolMail("mario.rossi@example.it")); err != nil {
				return err
			}
			return abort
		})
		if !errors.Is(err, abort) {
			t.Fatalf("WithTx: %v", err)
		}
		if _, total, err := notify.List(ctx, db, notify.ListFilter{}); err != nil || total != 0 {
			t.Fatalf("after rollback: %d messages (%v)", total, err)
		}
		// And the committed case is visible.
		err = store.WithTx(ctx, db, func(tx *gorm.DB) error {
			_, err := out.Enqueue(ctx, tx, protocolMail("mario.rossi@example.it"))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, total, _ := notify.List(ctx, db, notify.ListFilter{}); total != 1 {
			t.Fatalf("after commit: %d messages", total)
		}
	})
}

func TestEnqueueRefusesInvalidMessages(t *testing.T) {
	t.Parallel()
	ok := protocolMail("mario.rossi@example.it")
	cases := map[string]func(m *notify.Message){
		"empty address":         func(m *notify.Message) { m.To = "" },
		"no at sign":            func(m *notify.Message) { m.To = "mario.rossi.example.it" },
		"two addresses":         func(m *notify.Message) { m.To = "a@example.it, b@example.it" },
		"name in address":       func(m *notify.Message) { m.To = "Mario <mario.rossi@example.it>" },
		"header injection":      func(m *notify.Message) { m.To = "mario@example.it\r\nBcc: all@example.it" },
		"empty subject":         func(m *notify.Message) { m.Subject = "   " },
		"multi-line subject":    func(m *notify.Message) { m.Subject = "Ciao\r\nBcc: all@example.it" },
		"subject too long":      func(m *notify.Message) { m.Subject = strings.Repeat("a", 256) },
		"empty body":            func(m *notify.Message) { m.Text = " \n " },
		"NUL in body":           func(m *notify.Message) { m.Text = "a\x00b" },
		"invalid UTF-8 in html": func(m *notify.Message) { m.HTML = "\xff" },
		"no kind":               func(m *notify.Message) { m.Kind = "" },
		"bad kind":              func(m *notify.Message) { m.Kind = "Cases Protocol" },
		"bad tax code":          func(m *notify.Message) { m.CitizenCF = "RSSMRA80" },
		"newline in name":       func(m *notify.Message) { m.ToName = "Mario\nRossi" },
	}
	storetest.Each(t, notify.Migrations(), func(t *testing.T, db *gorm.DB) {
		out := new(notify.Outbox)
		for name, mutate := range cases {
			m := ok
			mutate(&m)
			if _, err := out.Enqueue(ctx, db, m); !errors.Is(err, notify.ErrInvalidMessage) {
				t.Errorf("%s: want ErrInvalidMessage, got %v", name, err)
			}
		}
		if _, total, _ := notify.List(ctx, db, notify.ListFilter{}); total != 0 {
			t.Fatalf("%d invalid messages stored", total)
		}
		m := ok
		m.To, m.CitizenCF, m.HTML, m.ToName = "  anna@example.it ", "", "", ""
		if _, err := out.Enqueue(ctx, db, m); err != nil {
			t.Fatalf("valid minimal message refused: %v", err)
		}
	})
}

func TestListFiltersAndGet(t *testing.T) {
	t.Parallel()
	storetest.Each(t, notify.Migrations(), func(t *testing.T, db *gorm.DB) {
		out := new(notify.Outbox)
		var ids []int64
		for i := range 5 {
			m := protocolMail("mario.rossi@example.it")
			if i%2 == 1 {
				m.Kind, m.CitizenCF = "staff.assignment", ""
			}
			id, err := out.Enqueue(ctx, db, m)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		recs, total, err := notify.List(ctx, db, notify.ListFilter{Kind: "cases.protocol", Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if total != 3 || len(recs) != 2 || recs[0].ID != ids[4] || recs[1].ID != ids[2] {
			t.Fatalf("kind filter page 1: total %d, %d rows", total, len(recs))
		}
		recs, _, _ = notify.List(ctx, db, notify.ListFilter{Kind: "cases.protocol", Limit: 2, Offset: 2})
		if len(recs) != 1 || recs[0].ID != ids[0] {
			t.Fatalf("kind filter page 2: %d rows", len(recs))
		}
		if _, total, _ := notify.List(ctx, db, notify.ListFilter{CitizenCF: "rssmra80a01h501u"}); total != 3 {
			t.Fatalf("citizen filter: %d", total)
		}
		if _, total, _ := notify.List(ctx, db, notify.ListFilter{Status: notify.StatusSent}); total != 0 {
			t.Fatalf("status filter: %d", total)
		}
		if _, _, err := notify.List(ctx, db, notify.ListFilter{Status: "bogus"}); err == nil {
			t.Fatal("unknown status accepted")
		}
		if rec := mustGet(t, db, ids[1]); rec.Kind != "staff.assignment" || rec.Status != notify.StatusPending {
			t.Fatalf("get: %+v", rec)
		}
		if _, err := notify.Get(ctx, db, 999999); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing id: %v", err)
		}
	})
}

func TestPermanentClassification(t *testing.T) {
	t.Parallel()
	if notify.Permanent(nil) || notify.Permanent(errors.New("dial tcp: connection refused")) {
		t.Error("network errors must be temporary")
	}
	if !notify.Permanent(notify.MarkPermanent(errors.New("x"))) || notify.MarkPermanent(nil) != nil {
		t.Error("MarkPermanent")
	}
	if !notify.Permanent(notify.ErrInvalidMessage) {
		t.Error("invalid message must be permanent")
	}
}
