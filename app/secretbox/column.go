package secretbox

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// Column is a database column that holds sealed values, one per row. The packages
// that own such columns describe them (idp.SealedColumns, accounts.SealedColumns) so
// that the start-up check, the sealing of values written in clear by older versions
// and `sportello secrets rotate` treat them all alike.
type Column struct {
	// Table, Key and Value name the table, its primary key column and the sealed
	// column. They are constants of the owning package, never user input.
	Table, Key, Value string
	// IntKey is true when Key is an integer column.
	IntKey bool
	// Purpose is the purpose the values are sealed for.
	Purpose string
	// Where optionally restricts the rows (with Args), for a table where only some
	// rows hold secrets.
	Where string
	Args  []any
	// Context returns the additional data that binds a value to its row, from the
	// row's key (as text); nil uses the key itself.
	Context func(key string) string
	// Forget says what Forget does to a row whose value was sealed with a lost
	// secret: nil deletes the row (the owner makes a new value at next start),
	// otherwise these columns are set (the sealed column is always emptied).
	Forget map[string]any
}

// Name is "table.column", for messages.
func (c Column) Name() string { return c.Table + "." + c.Value }

func (c Column) context(key string) string {
	if c.Context != nil {
		return c.Context(key)
	}
	return key
}

func (c Column) scope(db *gorm.DB) *gorm.DB {
	q := db.Table(c.Table).Where(c.Value + " <> ''")
	if c.Where != "" {
		q = q.Where(c.Where, c.Args...)
	}
	return q
}

// prefixLen is the length of "sb1:<key id>:".
const prefixLen = len(Prefix) + KeyIDLen + 1

// ColumnState is what Inspect found in a column.
type ColumnState struct {
	// Clear counts values not sealed (written before encryption at rest).
	Clear int64
	// KeyIDs are the key ids the sealed values name, in no particular order.
	KeyIDs []string
}

// Inspect reports how the values of c are stored, without opening any.
func Inspect(ctx context.Context, db *gorm.DB, c Column) (ColumnState, error) {
	var st ColumnState
	db = db.WithContext(ctx)
	if err := c.scope(db).Where("substr("+c.Value+", 1, ?) <> ?", len(Prefix), Prefix).Count(&st.Clear).Error; err != nil {
		return st, fmt.Errorf("secretbox: %s: %w", c.Name(), err)
	}
	if err := c.scope(db).Where("substr("+c.Value+", 1, ?) = ?", len(Prefix), Prefix).
		Distinct().Pluck("substr("+c.Value+", "+strconv.Itoa(len(Prefix)+1)+", "+strconv.Itoa(KeyIDLen)+")",
		&st.KeyIDs).Error; err != nil {
		return st, fmt.Errorf("secretbox: %s: %w", c.Name(), err)
	}
	return st, nil
}

// Unknown returns the key ids of st that b cannot open.
func (b *Box) Unknown(st ColumnState) []string {
	var out []string
	for _, id := range st.KeyIDs {
		if !b.Known(id) {
			out = append(out, id)
		}
	}
	return out
}

// BatchSize is how many rows Reseal changes in one transaction.
const BatchSize = 200

// Reseal seals with the newest secret every value of c that is in clear or sealed
// with an older secret, BatchSize rows per transaction, walking the table by key so
// that it ends even while other processes write. Each row is updated only if its
// value is still the one read (a conditional UPDATE), so a value changed meanwhile
// by the portal (which seals with the newest secret) is left alone. It is idempotent
// and safe to run again after an interruption; it returns how many values changed.
// A value sealed with a secret that is not configured stops it with ErrUnknownKey.
func Reseal(ctx context.Context, db *gorm.DB, b *Box, c Column) (int, error) {
	return reseal(ctx, db, b, c, "substr("+c.Value+", 1, ?) <> ?", prefixLen, Prefix+b.KeyID()+":")
}

// SealClear seals the values of c that are still in clear (written by a version
// before encryption at rest), like Reseal but leaving values sealed with an older
// secret as they are (rotation is Reseal's work, run by the operator).
func SealClear(ctx context.Context, db *gorm.DB, b *Box, c Column) (int, error) {
	return reseal(ctx, db, b, c, "substr("+c.Value+", 1, ?) <> ?", len(Prefix), Prefix)
}

func reseal(ctx context.Context, db *gorm.DB, b *Box, c Column, pred string, args ...any) (int, error) {
	var last any
	changed := 0
	for {
		type pair struct {
			K string
			V string
		}
		var rows []pair
		q := c.scope(db.WithContext(ctx)).Where(pred, args...)
		if last != nil {
			q = q.Where(c.Key+" > ?", last)
		}
		if err := q.Select(c.Key + " AS k, " + c.Value + " AS v").Order(c.Key).Limit(BatchSize).Scan(&rows).Error; err != nil {
			return changed, fmt.Errorf("secretbox: %s: %w", c.Name(), err)
		}
		if len(rows) == 0 {
			return changed, nil
		}
		n := 0
		err := store.WithTx(ctx, db, func(tx *gorm.DB) error {
			n = 0
			for _, r := range rows {
				out, ok, err := b.Reseal(c.Purpose, c.context(r.K), r.V)
				if err != nil {
					return fmt.Errorf("secretbox: %s, row %s: %w", c.Name(), r.K, err)
				}
				if !ok {
					continue
				}
				key, err := c.key(r.K)
				if err != nil {
					return err
				}
				res := tx.Table(c.Table).Where(c.Key+" = ? AND "+c.Value+" = ?", key, r.V).Update(c.Value, out)
				if res.Error != nil {
					return fmt.Errorf("secretbox: %s, row %s: %w", c.Name(), r.K, res.Error)
				}
				n += int(res.RowsAffected)
			}
			return nil
		})
		if err != nil {
			return changed, err
		}
		changed += n
		if last, err = c.key(rows[len(rows)-1].K); err != nil {
			return changed, err
		}
	}
}

func (c Column) key(k string) (any, error) {
	if !c.IntKey {
		return k, nil
	}
	n, err := strconv.ParseInt(k, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %s: key %q is not an integer", c.Name(), k)
	}
	return n, nil
}

// WrongSecretError reports sealed values that no configured system secret opens.
type WrongSecretError struct {
	// Unknown maps each column ("table.column") to the key ids found there that are
	// not configured.
	Unknown map[string][]string
	// Configured are the key ids of the configured secrets, newest first.
	Configured []string
}

// Error names the configuration key, the columns and the key ids, never a secret.
func (e *WrongSecretError) Error() string {
	var parts []string
	for _, col := range slices.Sorted(maps.Keys(e.Unknown)) {
		parts = append(parts, col+" (key id "+strings.Join(e.Unknown[col], ", ")+")")
	}
	return fmt.Sprintf("the database holds values encrypted with a system secret that is not configured: %s. "+
		"Set secrets.system (SPORTELLO_SECRETS_SYSTEM) to the secrets used before, newest first "+
		"(configured now: key id %s). Nothing was changed. Only if that secret is lost for good: "+
		"`sportello secrets forget --lost` (\"Secrets at rest\" in the README: staff re-enrol TOTP, "+
		"the provider makes new keys, nothing else is lost)",
		strings.Join(parts, "; "), strings.Join(e.Configured, ", "))
}

// Prepare is the start-up step for the columns holding sealed values: it refuses,
// with a *WrongSecretError and before changing anything, a database holding values
// that no configured secret opens (a wrong or missing secret must never look like
// an empty database, where new keys would silently be made); then it seals the
// values still in clear. When there is nothing to seal it costs two queries per
// column (a scan of the column: a second at start for a million accounts).
func Prepare(ctx context.Context, db *gorm.DB, b *Box, cols []Column) error {
	wrong := &WrongSecretError{Unknown: map[string][]string{}, Configured: b.KeyIDs()}
	clear := false
	for _, c := range cols {
		st, err := Inspect(ctx, db, c)
		if err != nil {
			return err
		}
		if u := b.Unknown(st); len(u) > 0 {
			wrong.Unknown[c.Name()] = u
		}
		clear = clear || st.Clear > 0
	}
	if len(wrong.Unknown) > 0 {
		return wrong
	}
	if !clear {
		return nil
	}
	for _, c := range cols {
		if _, err := SealClear(ctx, db, b, c); err != nil {
			return err
		}
	}
	return nil
}

// Forget gives up the values of c sealed with the secrets of keyIDs (lost secrets):
// it deletes their rows or empties them as c.Forget says, in tx, and returns the
// keys of the rows it changed. Values sealed with other secrets, and values in
// clear, are left alone.
func Forget(ctx context.Context, tx *gorm.DB, c Column, keyIDs []string) ([]string, error) {
	if len(keyIDs) == 0 {
		return nil, nil
	}
	where := c.Value + " <> '' AND substr(" + c.Value + ", 1, ?) = ? AND substr(" + c.Value + ", ?, ?) IN ?"
	args := []any{len(Prefix), Prefix, len(Prefix) + 1, KeyIDLen, keyIDs}
	if c.Where != "" {
		where += " AND (" + c.Where + ")"
		args = append(args, c.Args...)
	}
	tx = tx.WithContext(ctx)
	var keys []string
	if err := tx.Table(c.Table).Where(where, args...).Order(c.Key).Pluck(c.Key, &keys).Error; err != nil {
		return nil, fmt.Errorf("secretbox: %s: %w", c.Name(), err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	var err error
	if c.Forget == nil {
		err = tx.Exec("DELETE FROM "+c.Table+" WHERE "+where, args...).Error
	} else {
		set := maps.Clone(c.Forget)
		set[c.Value] = ""
		err = tx.Table(c.Table).Where(where, args...).Updates(set).Error
	}
	if err != nil {
		return nil, fmt.Errorf("secretbox: %s: %w", c.Name(), err)
	}
	return keys, nil
}
