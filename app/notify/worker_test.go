package notify_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

func TestDeliverOverSMTP(t *testing.T) {
	t.Parallel()
	storetest.Each(t, notify.Migrations(), func(t *testing.T, db *gorm.DB) {
		ms := newMailServer(t)
		msg := protocolMail("mario.rossi@example.it")
		id := mustEnqueue(t, db, msg)
		if rec := mustGet(t, db, id); rec.Status != notify.StatusPending || rec.CitizenCF != "RSSMRA80A01H501U" {
			t.Fatalf("after enqueue: status %q, cf %q", rec.Status, rec.CitizenCF)
		}

		w := notify.NewWorker(db, ms.sender(t), notify.WorkerOptions{})
		if n := runOnce(t, w); n != 1 {
			t.Fatalf("sent %d, want 1", n)
		}
		got := ms.messages()
		if len(got) != 1 {
			t.Fatalf("server received %d messages, want 1", len(got))
		}
		if got[0].From != "noreply@comune.esempio.it" || len(got[0].To) != 1 || got[0].To[0] != msg.To {
			t.Fatalf("envelope: from %q to %v", got[0].From, got[0].To)
		}
		p := parseMail(t, got[0].Data)
		if p.From.Address != "noreply@comune.esempio.it" || p.From.Name != "Comune di Esempio" {
			t.Errorf("From header: %v", p.From)
		}
		if p.To.Address != msg.To || p.To.Name != msg.ToName {
			t.Errorf("To header: %v", p.To)
		}
		if p.Subject != msg.Subject {
			t.Errorf("Subject %q, want %q", p.Subject, msg.Subject)
		}
		if p.Text != msg.Text {
			t.Errorf("text body %q, want %q", p.Text, msg.Text)
		}
		if p.HTML != msg.HTML {
			t.Errorf("html body %q, want %q", p.HTML, msg.HTML)
		}
		if !strings.HasPrefix(p.MessageID, fmt.Sprintf("<sportello.%d.", id)) || !strings.HasSuffix(p.MessageID, "@comune.esempio.it>") {
			t.Errorf("Message-ID %q", p.MessageID)
		}
		if p.AutoSubmitted != "auto-generated" {
			t.Errorf("Auto-Submitted %q", p.AutoSubmitted)
		}

		rec := mustGet(t, db, id)
		if rec.Status != notify.StatusSent || rec.Attempts != 1 || rec.SentAt == nil || rec.LastError != "" || rec.ClaimedUntil != nil {
			t.Fatalf("row after send: %+v", rec)
		}
		if n := runOnce(t, w); n != 0 || len(ms.messages()) != 1 {
			t.Fatalf("a sent message was sent again")
		}
	})
}

func TestTemporaryFailureRetriesLater(t *testing.T) {
	t.Parallel()
	storetest.Each(t, notify.Migrations(), func(t *testing.T, db *gorm.DB) {
		ms := newMailServer(t)
		const to = "busy@example.it"
		ms.answer(to, 451)
		id := mustEnqueue(t, db, protocolMail(to))
		clk := newClock()
		w := notify.NewWorker(db, ms.sender(t), notify.WorkerOptions{Now: clk.Now})

		if n := runOnce(t, w); n != 0 {
			t.Fatalf("sent %d despite 451", n)
		}
		rec := mustGet(t, db, id)
		if rec.Status != notify.StatusPending || rec.Attempts != 1 || !rec.NextAttemptAt.After(clk.Now()) {
			t.Fatalf("after 451: status %q attempts %d next %v (now %v)", rec.Status, rec.Attempts, rec.NextAttemptAt, clk.Now())
		}
		if !strings.Contains(rec.LastError, "451") {
			t.Errorf("last_error %q does not carry the reply", rec.LastError)
		}
		if ms.rcptCount(to) != 1 {
			t.Fatalf("RCPT seen %d times", ms.rcptCount(to))
		}

		// Not due yet: the first backoff is at least BackoffBase/2 = 15s.
		clk.Advance(14 * time.Second)
		if n := runOnce(t, w); n != 0 || ms.rcptCount(to) != 1 {
			t.Fatalf("retried before next_attempt_at (sent %d, RCPT %d)", n, ms.rcptCount(to))
		}

		ms.answer(to, 0)
		clk.Advance(time.Hour)
		if n := runOnce(t, w); n != 1 {
			t.Fatalf("sent %d after the backoff, want 1", n)
		}
		rec = mustGet(t, db, id)
		if rec.Status != notify.StatusSent || rec.Attempts != 2 || rec.LastError != "" {
			t.Fatalf("after retry: %+v", rec)
		}
		if len(ms.messages()) != 1 {
			t.Fatalf("received %d", len(ms.messages()))
		}
	})
}

func TestPermanentFailure(t *testing.T) {
	t.Parallel()
	storetest.Each(t, notify.Migrations(), func(t *testing.T, db *gorm.DB) {
		ms := newMailServer(t)
		const to = "nobody@example.it"
		ms.answer(to, 550)
		id := mustEnqueue(t, db, protocolMail(to))
		clk := newClock()
		w := notify.NewWorker(db, ms.sender(t), notify.WorkerOptions{Now: clk.Now})
		if n := runOnce(t, w); n != 0 {
			t.Fatalf("sent %d despite 550", n)
		}
		rec := mustGet(t, db, id)
		if rec.Status != notify.StatusFailed || rec.Attempts != 1 || !strings.Contains(rec.LastError, "550") {
			t.Fatalf("after 550: status %q attempts %d last_error %q", rec.Status, rec.Attempts, rec.LastError)
		}
		clk.Advance(24 * time.Hour)
		runOnce(t, w)
		if ms.rcptCount(to) != 1 {
			t.Fatalf("a permanently failed message was retried")
		}
	})
}

func TestMaxAttemptsExhausted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, notify.Migrations(), func(t *testing.T, db *gorm.DB) {
		ms := newMailServer(t)
		const to = "busy@example.it"
		ms.answer(to, 421)
		id := mustEnqueue(t, db, protocolMail(to))
		clk := newClock()
		w := notify.NewWorker(db, ms.sender(t), notify.WorkerOptions{Now: clk.Now, MaxAttempts: 3})
		for i := 1; i <= 3; i++ {
			runOnce(t, w)
			rec := mustGet(t, db, id)
			want := notify.StatusPending
			if i == 3 {
				want = notify.StatusFailed
			}
			if rec.Status != want || rec.Attempts != i {
				t.Fatalf("after attempt %d: status %q attempts %d", i, rec.Status, rec.Attempts)
			}
			clk.Advance(2 * time.Hour)
		}
		runOnce(t, w)
		if ms.rcptCount(to) != 3 {
			t.Fatalf("RCPT seen %d times, want 3", ms.rcptCount(to))
		}
		if rec := mustGet(t, db, id); !strings.Contains(rec.LastError, "421") {
			t.Fatalf("last_error %q", rec.LastError)
		}
	})
}

// openPair opens the same fresh database twice, as two processes would.
func openPair(t *testing.T, d store.Dialect) (*gorm.DB, *gorm.DB) {
	t.Helper()
	var url string
	switch d {
	case store.SQLite:
		url = "sqlite:" + filepath.Join(t.TempDir(), "outbox.db")
	case store.Postgres:
		url = storetest.PostgresURL(t, notify.Migrations())
	}
	open := func() *gorm.DB {
		db, err := store.Open(ctx, store.Options{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = store.Close(db) })
		return db
	}
	a := open()
	if err := store.Migrate(ctx, a, notify.Migrations()); err != nil {
		t.Fatal(err)
	}
	return a, open()
}

func TestTwoProcessesNeverSendTwice(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			dbA, dbB := openPair(t, d)
			ms := newMailServer(t)
			const n = 40
			for i := range n {
				m := protocolMail(fmt.Sprintf("citizen%02d@example.it", i))
				m.Subject = fmt.Sprintf("Messaggio %02d", i)
				mustEnqueue(t, dbA, m)
			}
			workers := []*notify.Worker{
				notify.NewWorker(dbA, ms.sender(t), notify.WorkerOptions{Batch: 3, WorkerID: "replica-a"}),
				notify.NewWorker(dbB, ms.sender(t), notify.WorkerOptions{Batch: 3, WorkerID: "replica-b"}),
			}
			var (
				total    atomic.Int64
				wg       sync.WaitGroup
				deadline = time.Now().Add(60 * time.Second)
			)
			for i := range 4 { // two goroutines per process
				w := workers[i%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(deadline) {
						k, err := w.RunOnce(ctx)
						if err != nil {
							t.Errorf("RunOnce: %v", err)
							return
						}
						total.Add(int64(k))
						st, err := notify.Stats(ctx, dbA)
						if err != nil {
							t.Errorf("Stats: %v", err)
							return
						}
						if st[notify.StatusSent] == n {
							return
						}
					}
				}()
			}
			wg.Wait()

			perID := map[string]int{}
			perSubject := map[string]int{}
			for _, r := range ms.messages() {
				p := parseMail(t, r.Data)
				perID[p.MessageID]++
				perSubject[p.Subject]++
			}
			if len(perID) != n || len(perSubject) != n {
				t.Fatalf("received %d distinct Message-IDs and %d subjects, want %d", len(perID), len(perSubject), n)
			}
			for id, c := range perID {
				if c != 1 {
					t.Errorf("%s received %d times", id, c)
				}
			}
			if total.Load() != n {
				t.Errorf("workers report %d sent, want %d", total.Load(), n)
			}
			recs, _, err := notify.List(ctx, dbB, notify.ListFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Status != notify.StatusSent || r.Attempts != 1 {
					t.Errorf("message %d: status %q attempts %d", r.ID, r.Status, r.Attempts)
				}
			}
		})
	}
}

func TestExpiredLeaseIsReclaimed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, notify.Migrations(), func(t *testing.T, db *gorm.DB) {
		ms := newMailServer(t)
		id := mustEnqueue(t, db, protocolMail("mario.rossi@example.it"))
		clk := newClock()
		// A replica claimed the message and died before sending it.
		err := db.Exec(`UPDATE outbox_messages SET status = 'sending', claim_token = 'dead-replica/1',
			claimed_until = ?, attempts = 1 WHERE id = ?`, clk.Now().Add(5*time.Minute), id).Error
		if err != nil {
			t.Fatal(err)
		}
		w := notify.NewWorker(db, ms.sender(t), notify.WorkerOptions{Now: clk.Now, Lease: 5 * time.Minute})
		if n := runOnce(t, w); n != 0 || len(ms.messages()) != 0 {
			t.Fatalf("a message under a live lease was taken over")
		}
		clk.Advance(5*time.Minute + time.Second)
		if n := runOnce(t, w); n != 1 || len(ms.messages()) != 1 {
			t.Fatalf("expired lease not reclaimed: sent %d", n)
		}
		rec := mustGet(t, db, id)
		if rec.Status != notify.StatusSent || rec.Attempts != 2 {
			t.Fatalf("after reclaim: status %q attempts %d", rec.Status, rec.Attempts)
		}
	})
}

func TestRunUntilCancelled(t *testing.T) {
	t.Parallel()
	storetest.Each(t, notify.Migrations(), func(t *testing.T, db *gorm.DB) {
		ms := newMailServer(t)
		w := notify.NewWorker(db, ms.sender(t), notify.WorkerOptions{Interval: 20 * time.Millisecond})
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(runCtx) }()
		id := mustEnqueue(t, db, protocolMail("mario.rossi@example.it"))
		for deadline := time.Now().Add(10 * time.Second); ; {
			if mustGet(t, db, id).Status == notify.StatusSent {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("Run did not send the message")
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run returned %v on cancellation", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not stop")
		}
	})
}

func TestDevModeHoldsMessages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, notify.Migrations(), func(t *testing.T, db *gorm.DB) {
		ms := newMailServer(t)
		out := notify.NewOutbox(nil)
		if !out.Holding() {
			t.Fatal("an outbox without sender must hold")
		}
		var typedNil *notify.SMTPSender
		if !notify.NewOutbox(typedNil).Holding() {
			t.Fatal("a typed nil sender must count as no sender")
		}
		msg := protocolMail("mario.rossi@example.it")
		id, err := out.Enqueue(ctx, db, msg)
		if err != nil {
			t.Fatal(err)
		}
		// Neither a dev-mode worker nor (later) a real one sends a held message.
		if n := runOnce(t, notify.NewWorker(db, nil, notify.WorkerOptions{})); n != 0 {
			t.Fatalf("nil-sender worker sent %d", n)
		}
		if n := runOnce(t, notify.NewWorker(db, ms.sender(t), notify.WorkerOptions{})); n != 0 || len(ms.messages()) != 0 {
			t.Fatal("a held message was sent")
		}

		recs, total, err := notify.List(ctx, db, notify.ListFilter{Status: notify.StatusHeld})
		if err != nil {
			t.Fatal(err)
		}
		if total != 1 || len(recs) != 1 {
			t.Fatalf("held list: %d of %d", len(recs), total)
		}
		r := recs[0]
		if r.ID != id || r.To != msg.To || r.Subject != msg.Subject || r.Text != msg.Text || r.HTML != msg.HTML ||
			r.Kind != msg.Kind || r.CitizenCF != "RSSMRA80A01H501U" || r.Status != notify.StatusHeld {
			t.Fatalf("held record: %+v", r)
		}
		if r.CreatedAt.Location().String() != "UTC" || r.CreatedAt.IsZero() {
			t.Errorf("created_at %v not UTC", r.CreatedAt)
		}
		st, err := notify.Stats(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if st[notify.StatusHeld] != 1 || st[notify.StatusPending] != 0 || len(st) != len(notify.Statuses()) {
			t.Fatalf("stats: %v", st)
		}
	})
}
