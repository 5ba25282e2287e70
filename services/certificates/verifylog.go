package certificates

import (
	"context"
	"github.com/comuni-italiani/sportello/app/enti"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"
)

// VerifyLogInterval is how often the verification log's pending rows are written.
// Every check is kept, but written in batches off the request path (the synchronous
// INSERT was a third of a verification's cost): a crash of the process loses at most
// the checks of the last interval; a normal shutdown (and App.Close) writes them all.
const VerifyLogInterval = time.Second

const (
	// verifyLogBatch is the number of pending rows that triggers a write before the
	// interval is over.
	verifyLogBatch = 500
	// verifyLogMax bounds the rows kept in memory while the database refuses them:
	// beyond it the oldest are dropped, with a warning.
	verifyLogMax = 100_000
)

// verifyLog buffers verification rows and writes them in batches from one goroutine.
type verifyLog struct {
	db  *gorm.DB
	log *slog.Logger

	mu      sync.Mutex
	pending []Verification
	stopped bool
	// writeMu keeps batches in the order they were taken.
	writeMu sync.Mutex

	kick      chan struct{}
	quit      chan struct{}
	done      chan struct{}
	startOnce sync.Once
	stopOnce  sync.Once
}

func newVerifyLog(db *gorm.DB, log *slog.Logger) *verifyLog {
	return &verifyLog{db: db, log: log, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

// start runs the writer until stop.
func (l *verifyLog) start(interval time.Duration) {
	l.startOnce.Do(func() {
		go func() {
			defer close(l.done)
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-l.quit:
					return
				case <-t.C:
				case <-l.kick:
				}
				if err := l.flush(context.Background()); err != nil {
					l.log.Warn("verification log not written, will retry", "err", err)
				}
			}
		}()
	})
}

// add queues a row. After stop, rows are written at once.
func (l *verifyLog) add(ctx context.Context, v Verification) {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		if err := enti.For(context.WithoutCancel(ctx), l.db).Create(&v).Error; err != nil {
			l.log.Warn("verification not logged", "certificate", v.CertificateID, "err", err)
		}
		return
	}
	if v.EnteID == "" {
		if e := enti.FromContext(ctx); e != nil {
			v.EnteID = e.ID
		}
	}
	l.pending = append(l.pending, v)
	if n := len(l.pending); n > verifyLogMax {
		l.pending = append(l.pending[:0:0], l.pending[n-verifyLogMax:]...)
		l.log.Warn("verification log backlog full: oldest checks dropped", "dropped", n-verifyLogMax)
	}
	full := len(l.pending) >= verifyLogBatch
	l.mu.Unlock()
	if full {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// flush writes every pending row. Rows the database refuses go back to the queue.
func (l *verifyLog) flush(ctx context.Context) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	rows := l.pending
	l.pending = nil
	l.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	// One batch holds checks made on several enti's hosts; each row names its ente.
	err := enti.AllEnti(l.db.WithContext(ctx), "verification log batch").CreateInBatches(rows, verifyLogBatch).Error
	if err != nil {
		// CreateInBatches runs in one transaction: nothing was written. Keep the rows.
		l.mu.Lock()
		l.pending = append(rows, l.pending...)
		l.mu.Unlock()
	}
	return err
}

// stop ends the writer and writes what is pending.
func (l *verifyLog) stop(ctx context.Context) error {
	l.stopOnce.Do(func() {
		close(l.quit)
		l.startOnce.Do(func() { close(l.done) }) // never started
		<-l.done
	})
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	return l.flush(ctx)
}
