package notify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store/storetest"
)

type nopSender struct{}

func (nopSender) Send(context.Context, Envelope) error { return nil }

// A worker whose lease ran out and was taken over cannot overwrite the new claimer's
// outcome: every write after the claim is fenced by the claim token.
func TestOutcomeIsFencedByClaimToken(t *testing.T) {
	t.Parallel()
	storetest.Each(t, Migrations(), func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		id, err := new(Outbox).Enqueue(ctx, db, Message{To: "a@example.it", Subject: "s", Text: "t", Kind: "test.fence"})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		clock := func() time.Time { return now }
		slow := NewWorker(db, nopSender{}, WorkerOptions{WorkerID: "slow", Now: clock, Lease: time.Minute})
		fast := NewWorker(db, nopSender{}, WorkerOptions{WorkerID: "fast", Now: func() time.Time { return now.Add(2 * time.Minute) }, Lease: time.Minute})

		recSlow, tokSlow, err := slow.claim(ctx, id)
		if err != nil || recSlow == nil {
			t.Fatalf("first claim: %v %v", recSlow, err)
		}
		if rec, _, _ := slow.claim(ctx, id); rec != nil {
			t.Fatal("claimed twice under a live lease")
		}
		recFast, tokFast, err := fast.claim(ctx, id)
		if err != nil || recFast == nil {
			t.Fatalf("claim after lease expiry: %v %v", recFast, err)
		}
		if ok, err := slow.record(ctx, recSlow, tokSlow, errors.New("451 late"), false); err != nil || ok {
			t.Fatalf("stale claimer recorded its outcome (ok=%v, err=%v)", ok, err)
		}
		if ok, err := fast.record(ctx, recFast, tokFast, nil, false); err != nil || !ok {
			t.Fatalf("current claimer could not record: %v %v", ok, err)
		}
		rec, err := Get(ctx, db, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != StatusSent || rec.Attempts != 2 || rec.LastError != "" {
			t.Fatalf("row: %+v", rec)
		}
	})
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	w := NewWorker(nil, nopSender{}, WorkerOptions{})
	prevMax := time.Duration(0)
	for attempt := 1; attempt <= 12; attempt++ {
		want := min(30*time.Second<<(attempt-1), time.Hour)
		for range 50 {
			d := w.backoff(attempt)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
		if want < prevMax {
			t.Fatalf("backoff shrinks")
		}
		prevMax = want
	}
}

func TestTruncateAndMask(t *testing.T) {
	t.Parallel()
	long := errors.New(strings.Repeat("è", 2000))
	if s := truncateError(long); len([]rune(s)) > maxErrorRunes {
		t.Fatalf("truncated to %d runes", len([]rune(s)))
	}
	if s := truncateError(errors.New("bad \xff byte")); s != "bad ? byte" {
		t.Fatalf("invalid UTF-8 kept: %q", s)
	}
	got := maskAddr("550 5.1.1 <Mario.Rossi@Example.it>: no such user", "mario.rossi@example.it")
	if got != "550 5.1.1 <<recipient>>: no such user" {
		t.Fatalf("mask: %q", got)
	}
}
