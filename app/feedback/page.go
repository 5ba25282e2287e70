package feedback

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// PageRating is one answer to the question at the foot of every page of the
// Designers Italia model ("Quanto sono chiare le informazioni su questa pagina?"):
// the page's path, a score from 1 to 5 and an optional comment. Anonymous, like
// Rating. It belongs to the ente whose portal showed the page.
type PageRating struct {
	EnteID    string `gorm:"primaryKey;size:40"`
	ID        int64  `gorm:"primaryKey"`
	CreatedAt time.Time
	Path      string
	Score     int
	Comment   string
}

// TableName fixes the table name.
func (PageRating) TableName() string { return PageRatingsTable }

// PageRatingsTable is ente-owned: the platform registers it with the store's guard,
// so every statement on it must be scoped to an ente (enti.For / enti.Scoped).
const PageRatingsTable = "page_ratings"

// MaxPath is the longest page path kept.
const MaxPath = 200

// ErrPath is returned for a page path that is not a local absolute path.
var ErrPath = errors.New("feedback: page path must be a local path of at most 200 characters")

// RecordPage stores one rating of the page at path. db must be scoped to the ente.
// ID cannot be an identity column inside a composite key on both databases (SQLite
// autoincrements only a lone INTEGER PRIMARY KEY), so it is a random 63-bit number:
// a clash is vanishingly rare, and the primary key would refuse it rather than merge
// two answers.
func RecordPage(ctx context.Context, db *gorm.DB, path string, score int, comment string) error {
	comment = strings.TrimSpace(comment)
	if score < 1 || score > 5 {
		return ErrScore
	}
	if utf8.RuneCountInString(comment) > MaxComment {
		return ErrComment
	}
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || len(path) > MaxPath {
		return ErrPath
	}
	now := time.Now().UTC()
	return db.WithContext(ctx).Create(&PageRating{ID: rand.Int64(), CreatedAt: now, Path: path, Score: score, Comment: comment}).Error
}

// PageSummary is the ratings of one page.
type PageSummary struct {
	Path  string
	Count int64
	// Average is the mean score times 10 (42 = 4.2).
	Average int64
}

// PageSummaries returns the count and average score of every rated page of the ente
// db is scoped to, worst first.
func PageSummaries(ctx context.Context, db *gorm.DB) ([]PageSummary, error) {
	var rows []struct {
		Path  string
		Count int64
		Total int64
	}
	err := db.WithContext(ctx).Model(&PageRating{}).Select("path, COUNT(*) AS count, SUM(score) AS total").
		Group("path").Order("path").Scan(&rows).Error
	out := make([]PageSummary, 0, len(rows))
	for _, r := range rows {
		s := PageSummary{Path: r.Path, Count: r.Count}
		if r.Count > 0 {
			s.Average = (r.Total*10 + r.Count/2) / r.Count
		}
		out = append(out, s)
	}
	return out, err
}

func pageMigration() *store.Migration {
	// Frozen shape of the table: ente first in the primary key.
	type pageRating struct {
		EnteID    string    `gorm:"primaryKey;size:40"`
		ID        int64     `gorm:"primaryKey;autoIncrement:false"`
		CreatedAt time.Time `gorm:"not null"`
		Path      string    `gorm:"size:200;not null;index"`
		Score     int       `gorm:"not null"`
		Comment   string    `gorm:"type:text;not null;default:''"`
	}
	return &store.Migration{
		ID:      "feedback/0003_page_ratings",
		Migrate: func(tx *gorm.DB) error { return tx.Table(PageRatingsTable).AutoMigrate(&pageRating{}) },
	}
}
