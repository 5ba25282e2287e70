// Package feedback records the rating question that closes every service (the
// Designers Italia pattern "Quanto è stato facile usare questo servizio?"): a score
// from 1 to 5 and an optional comment, per service, anonymous. The back office shows
// the averages. Ratings carry no personal data: no account, no address.
package feedback

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"

	"github.com/comuni-italiani/sportello/app/store"
)

// Rating is one answer.
type Rating struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune whose page was rated.
	EnteID    string `gorm:"column:ente_id"`
	CreatedAt time.Time
	Service   string
	Score     int
	Comment   string
}

// TableName fixes the table name.
func (Rating) TableName() string { return "service_ratings" }

// MaxComment is the longest comment kept, in characters.
const MaxComment = 500

// Errors for invalid answers.
var (
	ErrScore   = errors.New("feedback: score must be 1 to 5")
	ErrComment = errors.New("feedback: comment too long")
)

// Record stores one rating of service.
func Record(ctx context.Context, db *gorm.DB, service string, score int, comment string) error {
	comment = strings.TrimSpace(comment)
	if score < 1 || score > 5 {
		return ErrScore
	}
	if utf8.RuneCountInString(comment) > MaxComment {
		return ErrComment
	}
	return enti.For(ctx, db).Create(&Rating{CreatedAt: time.Now().UTC(), Service: service, Score: score, Comment: comment}).Error
}

// Summary is the ratings of one service.
type Summary struct {
	Service string
	Count   int64
	// Average is the mean score times 10 (42 = 4.2), to keep integers.
	Average int64
}

// Summaries returns the count and average score of every rated service.
func Summaries(ctx context.Context, db *gorm.DB) ([]Summary, error) {
	var rows []struct {
		Service string
		Count   int64
		Total   int64
	}
	err := enti.For(ctx, db).Model(&Rating{}).Select("service, COUNT(*) AS count, SUM(score) AS total").
		Group("service").Order("service").Scan(&rows).Error
	out := make([]Summary, 0, len(rows))
	for _, r := range rows {
		s := Summary{Service: r.Service, Count: r.Count}
		if r.Count > 0 {
			s.Average = (r.Total*10 + r.Count/2) / r.Count
		}
		out = append(out, s)
	}
	return out, err
}

// Migrations creates the ratings table.
func Migrations() []*store.Migration {
	type serviceRating struct {
		ID        int64     `gorm:"primaryKey"`
		CreatedAt time.Time `gorm:"not null"`
		Service   string    `gorm:"size:40;not null;index"`
		Score     int       `gorm:"not null"`
		Comment   string    `gorm:"type:text;not null;default:''"`
	}
	return []*store.Migration{{
		ID:      "feedback/0001_ratings",
		Migrate: func(tx *gorm.DB) error { return tx.Table("service_ratings").AutoMigrate(&serviceRating{}) },
	}, {
		ID:      "feedback/0002_ente",
		Migrate: func(tx *gorm.DB) error { return enti.AddColumn(tx, "service_ratings") },
	}, pageMigration(), disserviceMigration(), disserviceNoteMigration()}
}
