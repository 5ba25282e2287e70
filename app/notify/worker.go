package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"regexp"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"

	"github.com/comuni-italiani/sportello/app/lease"
)

// WorkerOptions tune a Worker. Zero values take the defaults.
type WorkerOptions struct {
	// Batch is the most messages one pass handles (default 20).
	Batch int
	// Interval is the pause between passes when the queue is drained (default 10s).
	Interval time.Duration
	// MaxAttempts is how many sends are tried before a message fails (default 8).
	MaxAttempts int
	// BackoffBase is the wait after the first temporary failure, doubled after each
	// further one (default 30s), up to BackoffMax (default 1h). Each wait is drawn at
	// random between half and all of that, so that retries of many messages spread out.
	BackoffBase, BackoffMax time.Duration
	// Lease is how long a claim holds without renewal (default 5m). A sending worker
	// renews it every Lease/3; a message whose claimer died is claimable once it ran out.
	Lease time.Duration
	// SendTimeout bounds one Sender.Send call (default 2m).
	SendTimeout time.Duration
	// Logger receives one line per outcome; nil discards.
	Logger *slog.Logger
	// WorkerID names this process in claim tokens (default "<host>-<pid>").
	WorkerID string
	// From returns the sender ("Comune di X <noreply@x.it>") of an ente's mail, or ""
	// for the sender's default; nil means the default for every ente.
	From func(ente string) string
	// Now is the worker's clock (default time.Now); tests move it.
	Now func() time.Time
}

// Worker delivers due outbox messages through a Sender. Any number of workers, in one
// process or many, may run against one database.
type Worker struct {
	db     *gorm.DB
	sender Sender
	opts   WorkerOptions
	log    *slog.Logger
}

// NewWorker returns a worker sending the outbox in db through sender. A nil sender (dev
// mode, no mail server) makes a worker that sends nothing.
func NewWorker(db *gorm.DB, sender Sender, opts WorkerOptions) *Worker {
	if opts.Batch <= 0 {
		opts.Batch = 20
	}
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 30 * time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = time.Hour
	}
	if opts.BackoffMax < opts.BackoffBase {
		opts.BackoffMax = opts.BackoffBase
	}
	if opts.Lease <= 0 {
		opts.Lease = 5 * time.Minute
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 2 * time.Minute
	}
	opts.WorkerID = lease.WorkerID(opts.WorkerID)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if isNilSender(sender) {
		sender = nil
	}
	return &Worker{db: db, sender: sender, opts: opts, log: log.With("component", "notify.worker", "worker", opts.WorkerID)}
}

// Run sends due messages until ctx is done, then returns nil once the message in hand
// (if any) has been sent and its outcome recorded. Errors of a pass are logged and the
// next pass comes after Interval. With a nil sender Run only waits for ctx.
func (w *Worker) Run(ctx context.Context) error {
	if w.sender == nil {
		w.log.InfoContext(ctx, "no mail server configured: messages are held, not sent")
		<-ctx.Done()
		return nil
	}
	w.log.InfoContext(ctx, "mail worker started")
	for {
		_, full, err := w.pass(ctx)
		if ctx.Err() != nil {
			w.log.InfoContext(context.WithoutCancel(ctx), "mail worker stopped")
			return nil
		}
		if err != nil {
			w.log.ErrorContext(ctx, "mail worker pass failed", "err", err)
		}
		if full && err == nil {
			continue // more may be due right now
		}
		// +-10% so that replicas started together drift apart.
		wait := w.opts.Interval - w.opts.Interval/10 + mrand.N(w.opts.Interval/5+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			w.log.InfoContext(context.WithoutCancel(ctx), "mail worker stopped")
			return nil
		case <-t.C:
		}
	}
}

// RunOnce does one pass: it claims up to Batch due messages one by one and sends each
// one it won. It returns how many were accepted by the mail server. A database error
// ends the pass. With a nil sender it does nothing.
func (w *Worker) RunOnce(ctx context.Context) (sent int, err error) {
	sent, _, err = w.pass(ctx)
	return sent, err
}

// claimable is the condition under which a worker may take a message: due and pending,
// or being sent by a claimer whose lease ran out.
const claimable = "((status = ? AND next_attempt_at <= ?) OR (status = ? AND claimed_until < ?))"

func claimableArgs(now time.Time) []any {
	return []any{StatusPending, now, StatusSending, now}
}

func (w *Worker) now() time.Time { return w.opts.Now().UTC().Truncate(time.Microsecond) }

// pass reports whether it found a full batch of candidates.
func (w *Worker) pass(ctx context.Context) (sent int, full bool, err error) {
	if w.sender == nil {
		return 0, false, nil
	}
	var ids []int64
	err = enti.AllEnti(w.db.WithContext(ctx), "the outbox worker sends every ente's mail").Model(&Record{}).
		Where(claimable, claimableArgs(w.now())...).
		Order("next_attempt_at, id").Limit(w.opts.Batch).
		Pluck("id", &ids).Error
	if err != nil {
		return 0, false, fmt.Errorf("notify: find due messages: %w", err)
	}
	// Workers that read the same candidates would otherwise race for them in the same
	// order; shuffled, each mostly wins different ones.
	mrand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	for _, id := range ids {
		if ctx.Err() != nil {
			return sent, false, ctx.Err()
		}
		ok, err := w.process(ctx, id)
		if err != nil {
			return sent, false, err
		}
		if ok {
			sent++
		}
	}
	return sent, len(ids) == w.opts.Batch, nil
}

// process claims message id and, if won, sends it and records the outcome. It reports
// whether the mail server accepted the message.
func (w *Worker) process(ctx context.Context, id int64) (bool, error) {
	rec, token, err := w.claim(ctx, id)
	if err != nil || rec == nil {
		return false, err
	}
	// From here on the message is ours: finish it even if ctx is cancelled (shutdown),
	// so that nothing is left half done.
	bg := context.WithoutCancel(ctx)
	if rec.Attempts > w.opts.MaxAttempts {
		// Its last claimer died while sending: a poison message must not loop forever.
		_, err := w.record(bg, rec, token, errors.New("notify: claimer lost on the last attempt"), true)
		return false, err
	}
	files, ferr := rec.Files()
	if ferr != nil {
		_, err := w.record(bg, rec, token, fmt.Errorf("notify: stored attachments unreadable: %w", ferr), true)
		return false, err
	}
	env := Envelope{
		Attachments: files,
		ID:          rec.ID,
		MessageID:   fmt.Sprintf("sportello.%d.%d", rec.ID, rec.CreatedAt.UnixMicro()),
		To:          rec.To,
		ToName:      rec.ToName,
		Subject:     rec.Subject,
		Text:        rec.Text,
		HTML:        rec.HTML,
		Kind:        rec.Kind,
		Attempt:     rec.Attempts,
		From:        w.from(rec.EnteID),
	}
	sendErr := w.send(bg, rec.ID, token, env)
	_, err = w.record(bg, rec, token, sendErr, Permanent(sendErr))
	return sendErr == nil, err
}

// claim takes message id for this worker if it is still claimable, counting an attempt.
// It returns nil (and no error) when another worker was first.
func (w *Worker) claim(ctx context.Context, id int64) (*Record, string, error) {
	now := w.now()
	token := lease.Token(w.opts.WorkerID)
	res := enti.AllEnti(w.db.WithContext(ctx), "the outbox worker sends every ente's mail").Model(&Record{}).
		Where("id = ?", id).Where(claimable, claimableArgs(now)...).
		Updates(map[string]any{
			"status":        StatusSending,
			"claim_token":   token,
			"claimed_until": now.Add(w.opts.Lease),
			"attempts":      gorm.Expr("attempts + 1"),
		})
	if res.Error != nil {
		return nil, "", fmt.Errorf("notify: claim message %d: %w", id, res.Error)
	}
	if res.RowsAffected != 1 {
		return nil, "", nil
	}
	var rec Record
	if err := enti.AllEnti(w.db.WithContext(ctx), "the outbox worker sends every ente's mail").Where("id = ? AND claim_token = ?", id, token).Take(&rec).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, "", nil // lost already: only possible with a lease shorter than this read
		}
		return nil, "", fmt.Errorf("notify: read claimed message %d: %w", id, err)
	}
	return &rec, token, nil
}

// send calls the sender while renewing the claim's lease, so that a slow but live send
// is never taken over by another worker.
func (w *Worker) send(ctx context.Context, id int64, token string, env Envelope) error {
	sendCtx, cancel := context.WithTimeout(ctx, w.opts.SendTimeout)
	defer cancel()
	stop := lease.Keep(sendCtx, w.opts.Lease/3, func(ctx context.Context) (bool, error) {
		res := enti.AllEnti(w.db.WithContext(ctx), "the outbox worker sends every ente's mail").Model(&Record{}).
			Where("id = ? AND claim_token = ? AND status = ?", id, token, StatusSending).
			Update("claimed_until", w.now().Add(w.opts.Lease))
		return res.RowsAffected > 0, res.Error
	}, func() {
		w.log.WarnContext(ctx, "claim lost while sending; the message may be delivered twice", "id", id)
	})
	err := w.sender.Send(sendCtx, env)
	stop()
	return err
}

// record stores the outcome of an attempt, only if the claim is still this worker's.
// It reports whether it did.
func (w *Worker) record(ctx context.Context, rec *Record, token string, sendErr error, permanent bool) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	now := w.now()
	log := w.log.With("id", rec.ID, "kind", rec.Kind, "attempt", rec.Attempts)
	var (
		set   map[string]any
		level = slog.LevelInfo
		msg   string
	)
	switch {
	case sendErr == nil:
		set = map[string]any{"status": StatusSent, "sent_at": now, "claimed_until": nil, "last_error": ""}
		msg = "mail sent"
	case permanent || rec.Attempts >= w.opts.MaxAttempts:
		set = map[string]any{"status": StatusFailed, "claimed_until": nil, "last_error": truncateError(sendErr)}
		level, msg = slog.LevelError, "mail failed"
		log = log.With("err", maskAddr(sendErr.Error(), rec.To), "permanent", permanent)
	default:
		next := now.Add(w.backoff(rec.Attempts))
		set = map[string]any{"status": StatusPending, "next_attempt_at": next, "claimed_until": nil, "last_error": truncateError(sendErr)}
		level, msg = slog.LevelWarn, "mail deferred"
		log = log.With("err", maskAddr(sendErr.Error(), rec.To), "retry_at", next)
	}
	res := enti.AllEnti(w.db.WithContext(ctx), "the outbox worker sends every ente's mail").Model(&Record{}).
		Where("id = ? AND claim_token = ? AND status = ?", rec.ID, token, StatusSending).
		Updates(set)
	if res.Error != nil {
		return false, fmt.Errorf("notify: record outcome of message %d: %w", rec.ID, res.Error)
	}
	if res.RowsAffected != 1 {
		log.WarnContext(ctx, "claim lost before the outcome was recorded; another worker owns the message", "outcome", msg)
		return false, nil
	}
	log.Log(ctx, level, msg)
	return true, nil
}

// backoff is the wait after the attempt-th failed attempt (see lease.Backoff).
func (w *Worker) backoff(attempt int) time.Duration {
	return lease.Backoff(w.opts.BackoffBase, w.opts.BackoffMax, attempt)
}

// truncateError shortens an error for last_error, on a rune boundary.
func truncateError(err error) string { return lease.TruncateError(err, maxErrorRunes) }

// maskAddr hides the recipient's address in SMTP replies before they are logged.
func maskAddr(s, addr string) string {
	if addr == "" {
		return s
	}
	re, err := regexp.Compile("(?i)" + regexp.QuoteMeta(addr))
	if err != nil {
		return s
	}
	return re.ReplaceAllLiteralString(s, "<recipient>")
}

func (w *Worker) from(ente string) string {
	if w.opts.From == nil {
		return ""
	}
	return w.opts.From(ente)
}
