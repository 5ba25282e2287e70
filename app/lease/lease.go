// Package lease holds what the platform's database-claimed workers share: the mail
// outbox worker (app/notify) and the job runner (app/jobs). Both claim a row with a
// conditional UPDATE that writes a claim token and a lease end ("claimed_until"),
// renew the lease while the work runs, record the outcome only while the token is
// still theirs, and retry failures with exponential backoff and jitter.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxTokenLen is the size of a claim_token column.
const MaxTokenLen = 128

// WorkerID names this process in claim tokens: "<host>-<pid>", or id when given,
// shortened to leave room for the per-claim random part within MaxTokenLen.
func WorkerID(id string) string {
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if len(id) > MaxTokenLen-20 {
		id = id[:MaxTokenLen-20]
	}
	return id
}

// Token returns a fresh claim token for worker: "<worker>/<16 random hex digits>".
func Token(worker string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return worker + "/" + hex.EncodeToString(b)
}

// Backoff is the wait after the attempt-th failed attempt: base doubled per earlier
// failure, capped at max, drawn at random between half and all of it so that retries of
// many rows (or replicas) spread out.
func Backoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + mrand.N(d/2+1)
}

// TruncateError turns err into text fit for a last_error column on both databases:
// valid UTF-8, no NUL bytes (PostgreSQL refuses them), at most runes runes.
func TruncateError(err error, runes int) string {
	s := strings.ToValidUTF8(err.Error(), "?")
	s = strings.Map(func(r rune) rune {
		if r == 0 {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= runes {
		return s
	}
	r := []rune(s)
	return string(r[:runes-1]) + "…"
}

// Keep calls renew every interval until ctx is done or the returned stop function is
// called; stop waits for the renewing goroutine to end. renew reports whether the
// claim was still held; when it was not, lost is called (once per failed renewal), so
// the worker can log that someone else now owns the row.
func Keep(ctx context.Context, interval time.Duration, renew func(ctx context.Context) (held bool, err error), lost func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				held, err := renew(ctx)
				if err == nil && !held && lost != nil {
					lost()
				}
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}
