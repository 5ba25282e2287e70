package cases

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"
)

// nextProtocol advances the counter of now's year (in Europe/Rome) inside tx and
// returns the number "YYYY/NNNNNN". The counter row stays locked by tx until it
// commits or rolls back, so numbers are given in commit order and a rolled-back
// submission returns its number: no gaps, no duplicates, on both dialects (PostgreSQL
// row lock; SQLite's single writer with BEGIN IMMEDIATE).
func (s *Service) nextProtocol(ctx context.Context, tx *gorm.DB, now time.Time) (string, error) {
	year := now.In(s.rome).Year()
	tx = enti.For(ctx, tx)
	// Each ente keeps its own register of protocol: the counter row is (ente, year).
	// Outside the portal (this package's tests, no ente) the ente is "".
	ente := enti.ScopeOf(tx)
	if err := tx.Exec(
		"INSERT INTO case_protocol_counters (ente_id, year, last) VALUES (?, ?, 0) ON CONFLICT (ente_id, year) DO NOTHING", ente, year).Error; err != nil {
		return "", fmt.Errorf("cases: protocol counter: %w", err)
	}
	var n []int64
	if err := tx.Raw(
		"UPDATE case_protocol_counters SET last = last + 1 WHERE ente_id = ? AND year = ? RETURNING last", ente, year).Scan(&n).Error; err != nil {
		return "", fmt.Errorf("cases: protocol counter: %w", err)
	}
	if len(n) != 1 {
		return "", fmt.Errorf("cases: protocol counter for %d not advanced", year)
	}
	if n[0] > 999999 {
		return "", fmt.Errorf("cases: protocol counter for %d exhausted", year)
	}
	return FormatProtocol(year, n[0]), nil
}

// FormatProtocol writes a protocol number: "2026/000042".
func FormatProtocol(year int, n int64) string { return fmt.Sprintf("%04d/%06d", year, n) }
