package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"

	"github.com/comuni-italiani/sportello/app/store"
)

// ListFilter selects messages for List. Empty fields match everything.
type ListFilter struct {
	// Status keeps only messages in that status.
	Status Status
	// Kind keeps only messages of that kind.
	Kind string
	// CitizenCF keeps only messages about that citizen (case-insensitive).
	CitizenCF string
	// Limit caps the page (default 50, at most 500); Offset skips that many messages.
	Limit, Offset int
}

// List returns one page of messages matching f, newest first, and how many match in
// all. It backs the staff mailbox pages (the dev mailbox shows held messages).
func List(ctx context.Context, db *gorm.DB, f ListFilter) ([]Record, int64, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, 0, fmt.Errorf("notify: list: unknown status %q", f.Status)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = 50
	case limit > 500:
		limit = 500
	}
	q := enti.For(ctx, db).Model(&Record{})
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if cf := strings.ToUpper(strings.TrimSpace(f.CitizenCF)); cf != "" {
		q = q.Where("citizen_cf = ?", cf)
	}
	q = q.Session(&gorm.Session{}) // reusable for the count and the page
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("notify: list: %w", err)
	}
	recs := []Record{}
	if total > 0 {
		if err := q.Order("id DESC").Limit(limit).Offset(max(f.Offset, 0)).Find(&recs).Error; err != nil {
			return nil, 0, fmt.Errorf("notify: list: %w", err)
		}
	}
	for i := range recs {
		recs[i].utc()
	}
	return recs, total, nil
}

// Get returns message id, or an error matching store.ErrNotFound.
func Get(ctx context.Context, db *gorm.DB, id int64) (Record, error) {
	var rec Record
	err := enti.For(ctx, db).Where("id = ?", id).Take(&rec).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Record{}, fmt.Errorf("notify: message %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("notify: get message %d: %w", id, err)
	}
	rec.utc()
	return rec, nil
}

// Stats counts messages by status; every status is present in the map, zero or not.
func Stats(ctx context.Context, db *gorm.DB) (map[Status]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	err := enti.For(ctx, db).Model(&Record{}).
		Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("notify: stats: %w", err)
	}
	out := make(map[Status]int64, len(Statuses()))
	for _, s := range Statuses() {
		out[s] = 0
	}
	for _, r := range rows {
		out[Status(r.Status)] = r.N
	}
	return out, nil
}

// utc puts the times in UTC whatever the driver returned.
func (r *Record) utc() {
	r.CreatedAt = r.CreatedAt.UTC()
	r.NextAttemptAt = r.NextAttemptAt.UTC()
	if r.ClaimedUntil != nil {
		t := r.ClaimedUntil.UTC()
		r.ClaimedUntil = &t
	}
	if r.SentAt != nil {
		t := r.SentAt.UTC()
		r.SentAt = &t
	}
}
