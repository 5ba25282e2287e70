package ztl

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
)

// Allowed is one plate allowed into a zone now, until the instant Until (the latest end
// of its lines).
type Allowed struct {
	Plate   string
	Country string
	Until   time.Time
}

// allowedAt lists the plates allowed into zone at t, sorted by plate. db is scoped to
// the ente.
func allowedAt(ctx context.Context, db *gorm.DB, zone string, t time.Time) ([]Allowed, error) {
	type row struct {
		Plate   string
		Country string
		Until   dbTime
	}
	var rows []row
	// Hand-written aggregate: one plate may hold several lines (two permits, a
	// temporary plate); the gate needs it once, with the latest end.
	err := db.WithContext(ctx).Model(&Access{}).
		Select("plate, country, MAX(valid_to) AS until").
		Where("zone = ? AND valid_from <= ? AND valid_to > ? AND (revoked_at IS NULL OR revoked_at > ?)", zone, t, t, t).
		Group("plate, country").Order("plate").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]Allowed, len(rows))
	for i, r := range rows {
		out[i] = Allowed{Plate: r.Plate, Country: r.Country, Until: r.Until.UTC()}
	}
	return out, nil
}

// SettleDelay is how far back a "changes since" answer looks before the cursor it
// was given: a transaction that stamped its lines just before an answer but committed
// just after it is still reported by the next poll. Writes here are short
// transactions, far below it.
const SettleDelay = 5 * time.Second

// version is a fingerprint of the ente's whitelist at t: it changes whenever a line is
// written (every write sets updated_at) or starts or ends by the passage of time.
// Three index lookups in one round trip, so a gate polling with If-None-Match costs
// almost nothing. Lines are never deleted, so no deletion can go unnoticed.
func version(ctx context.Context, db *gorm.DB, ente string, t time.Time) (string, error) {
	var v struct{ U, F, T sql.NullString }
	err := db.WithContext(ctx).Raw(`SELECT
		(SELECT MAX(updated_at) FROM ztl_access WHERE ente_id = ?) AS u,
		(SELECT MAX(valid_from) FROM ztl_access WHERE ente_id = ? AND valid_from <= ?) AS f,
		(SELECT MAX(valid_to) FROM ztl_access WHERE ente_id = ? AND valid_to <= ?) AS t`,
		ente, ente, t, ente, t).Scan(&v).Error
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(ente + "|" + v.U.String + "|" + v.F.String + "|" + v.T.String))
	return hex.EncodeToString(h[:12]), nil
}

// Change says whether a plate is allowed into a zone now, for a plate whose lines
// changed since the cursor.
type Change struct {
	Plate   string
	Country string
	Allowed bool
	Until   *time.Time
}

// changesSince lists the plates whose access to zone may have changed in (since, t]:
// lines written, started or ended in that interval, each with its state at t.
func changesSince(ctx context.Context, db *gorm.DB, zone string, since, t time.Time) ([]Change, error) {
	from := since.Add(-SettleDelay)
	// Three range conditions, each on its own index ((ente_id, updated_at),
	// (ente_id, valid_from), (ente_id, valid_to)), asked separately: one query with OR
	// made SQLite scan the table. An empty answer is three index probes.
	type pc struct{ Plate, Country string }
	seen := map[pc]bool{}
	var touched []pc
	for _, cond := range []struct {
		where string
		args  []any
	}{
		{"updated_at > ?", []any{from}},
		{"valid_from > ? AND valid_from <= ?", []any{from, t}},
		{"valid_to > ? AND valid_to <= ?", []any{from, t}},
	} {
		var rows []pc
		err := db.WithContext(ctx).Model(&Access{}).Select("plate", "country").
			Where(cond.where, cond.args...).Where("zone = ?", zone).Scan(&rows).Error
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if !seen[r] {
				seen[r] = true
				touched = append(touched, r)
			}
		}
	}
	if len(touched) == 0 {
		return nil, nil
	}
	plates := make([]string, len(touched))
	for i, p := range touched {
		plates[i] = p.Plate
	}
	now := map[string]time.Time{}
	for start := 0; start < len(plates); start += 500 {
		end := min(start+500, len(plates))
		var rows []struct {
			Plate string
			Until dbTime
		}
		err := db.WithContext(ctx).Model(&Access{}).Select("plate, MAX(valid_to) AS until").
			Where("zone = ? AND plate IN ? AND valid_from <= ? AND valid_to > ? AND (revoked_at IS NULL OR revoked_at > ?)",
				zone, plates[start:end], t, t, t).Group("plate").Scan(&rows).Error
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			now[r.Plate] = r.Until.UTC()
		}
	}
	out := make([]Change, len(touched))
	for i, p := range touched {
		c := Change{Plate: p.Plate, Country: p.Country}
		if u, ok := now[p.Plate]; ok {
			c.Allowed, c.Until = true, &u
		}
		out[i] = c
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Plate < out[j].Plate })
	return out, nil
}

// PlateCheck is the answer to "was plate X allowed at T": the line and permit that
// allowed it (nil: none), and every line the plate ever had, newest first.
type PlateCheck struct {
	Plate   string
	At      time.Time
	Allowed *Access
	Permit  *Permit
	History []Access
	Permits map[int64]Permit
}

// CheckPlate answers whether plate (Plate.String form) was allowed at t in any zone,
// or in zone when it is not "".
func CheckPlate(ctx context.Context, db *gorm.DB, plate, zone string, t time.Time) (*PlateCheck, error) {
	pc := &PlateCheck{Plate: plate, At: t, Permits: map[int64]Permit{}}
	q := db.WithContext(ctx).Where("plate = ?", plate)
	if zone != "" {
		q = q.Where("zone = ?", zone)
	}
	// Sorted here, not by the database: with ORDER BY valid_from SQLite walked the
	// (ente_id, valid_from) index over every line instead of probing (ente_id, plate).
	if err := q.Limit(500).Find(&pc.History).Error; err != nil {
		return nil, err
	}
	sort.Slice(pc.History, func(i, j int) bool {
		a, b := pc.History[i], pc.History[j]
		if !a.ValidFrom.Equal(b.ValidFrom) {
			return a.ValidFrom.After(b.ValidFrom)
		}
		return a.ID > b.ID
	})
	var ids []int64
	for i := range pc.History {
		ids = append(ids, pc.History[i].PermitID)
		if pc.Allowed == nil && pc.History[i].AllowedAt(t) {
			pc.Allowed = &pc.History[i]
		}
	}
	if len(ids) > 0 {
		var ps []Permit
		if err := db.WithContext(ctx).Where("id IN ?", ids).Find(&ps).Error; err != nil {
			return nil, err
		}
		for _, p := range ps {
			pc.Permits[p.ID] = p
		}
	}
	if pc.Allowed != nil {
		p := pc.Permits[pc.Allowed.PermitID]
		pc.Permit = &p
	}
	return pc, nil
}

// dbTime scans a time computed by an aggregate (MAX): PostgreSQL returns a time,
// SQLite the text it stores ("2006-01-02 15:04:05.999999999-07:00", the driver's
// _time_format=sqlite), since an expression has no declared column type to convert by.
type dbTime struct{ time.Time }

// Scan implements sql.Scanner.
func (t *dbTime) Scan(v any) error {
	switch x := v.(type) {
	case time.Time:
		t.Time = x
		return nil
	case string:
		return t.parse(x)
	case []byte:
		return t.parse(string(x))
	case nil:
		t.Time = time.Time{}
		return nil
	}
	return fmt.Errorf("ztl: cannot scan %T as a time", v)
}

func (t *dbTime) parse(s string) error {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05"} {
		if p, err := time.Parse(layout, s); err == nil {
			t.Time = p
			return nil
		}
	}
	return fmt.Errorf("ztl: cannot parse time %q", s)
}

// Value implements driver.Valuer (GORM asks for both halves).
func (t dbTime) Value() (driver.Value, error) { return t.Time, nil }
