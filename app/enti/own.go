package enti

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// AddColumn is the migration step that makes tables created before several comuni
// ente-owned: it adds ente_id (TEXT NOT NULL, ” for the rows already there) and an
// index led by it. Migrations do not know the configuration, so the rows already
// there are given their ente at start (Adopt), when the enti have been written.
func AddColumn(tx *gorm.DB, tables ...string) error {
	for _, t := range tables {
		if tx.Migrator().HasColumn(t, Column) {
			continue
		}
		if err := tx.Exec(fmt.Sprintf(`ALTER TABLE %s ADD COLUMN %s VARCHAR(40) NOT NULL DEFAULT ''`, t, Column)).Error; err != nil {
			return fmt.Errorf("enti: add %s to %s: %w", Column, t, err)
		}
		if err := tx.Exec(fmt.Sprintf(`CREATE INDEX %s_ente ON %s (%s)`, t, t, Column)).Error; err != nil {
			return fmt.Errorf("enti: index %s on %s: %w", Column, t, err)
		}
	}
	return nil
}

// ReplaceUnique drops the unique index old and creates the unique index name on
// table over ente_id and columns ("code"), with an optional partial-index condition
// where ("protocol <> ”"), so that a value is unique within an ente rather than
// across the installation.
func ReplaceUnique(tx *gorm.DB, table, old, name, columns, where string) error {
	if old != "" {
		if err := tx.Exec(`DROP INDEX IF EXISTS ` + old).Error; err != nil {
			return fmt.Errorf("enti: drop index %s: %w", old, err)
		}
	}
	sql := fmt.Sprintf(`CREATE UNIQUE INDEX %s ON %s (%s, %s)`, name, table, Column, columns)
	if where != "" {
		sql += " WHERE " + where
	}
	if err := tx.Exec(sql).Error; err != nil {
		return fmt.Errorf("enti: unique index %s: %w", name, err)
	}
	return nil
}

// Adopt gives the rows that have no ente yet (written before the tables were
// ente-owned) to the installation's only ente. With several enti it does nothing:
// such rows stay invisible to every ente until an operator assigns them (an
// installation gets its second ente only after Adopt has run with one). It costs one
// indexed UPDATE per table.
func Adopt(ctx context.Context, db *gorm.DB, tables []string) (int64, error) {
	var ids []string
	if err := db.WithContext(ctx).Table("enti").Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	if len(ids) != 1 {
		return 0, nil
	}
	all := AllEnti(db.WithContext(ctx), "adopt rows written before several comuni")
	var n int64
	for _, t := range tables {
		res := all.Exec(fmt.Sprintf(`UPDATE %s SET %s = ? WHERE %s = ''`, t, Column, Column), ids[0])
		if res.Error != nil {
			return n, fmt.Errorf("enti: adopt rows of %s: %w", t, res.Error)
		}
		n += res.RowsAffected
	}
	return n, nil
}
