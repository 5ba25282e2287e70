package ztl

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

var bg = context.Background()

// guarded installs the ente guard on db and returns a handle scoped to ente "a".
func guarded(t *testing.T, db *gorm.DB) *gorm.DB {
	t.Helper()
	if err := enti.NewGuard(Tables...).Install(db); err != nil {
		t.Fatal(err)
	}
	return enti.Scoped(db, "a").WithContext(bg)
}

// application is the form data of a case.
func application(t *testing.T, id int64, form string) cases.Case {
	t.Helper()
	return cases.Case{ID: id, ApplicantCF: "RSSMRA80A01H501U", ApplicantName: "Mario Rossi", Protocol: "2027/000001", FormData: form}
}

func grantOrFail(t *testing.T, m *Module, db *gorm.DB, cs cases.Case, now time.Time) *Permit {
	t.Helper()
	p, err := m.grant(bg, db, cs, now)
	if err != nil {
		t.Fatalf("grant %s: %v", cs.FormData, err)
	}
	return p
}

func plates(t *testing.T, db *gorm.DB, zone string, at time.Time) []string {
	t.Helper()
	list, err := allowedAt(bg, db, zone, at)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range list {
		out = append(out, a.Plate)
	}
	return out
}

func has(list []string, p string) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}

// TestWhitelistBoundaries: permits start and end at midnight Europe/Rome, also across
// the summer-time changes (a day of 23 and of 25 hours), and a disabled badge
// holder's permit ends with the badge.
func TestWhitelistBoundaries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, raw *gorm.DB) {
		db := guarded(t, raw)
		m := New()
		decided := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)

		// Spring: 28 March 2027 lasts 23 hours (02:00 CET -> 03:00 CEST).
		grantOrFail(t, m, db, application(t, 1, `{"category":"temporaneo","start":"2027-03-28","days":"1","plate1":"AB123CD"}`), decided)
		start := time.Date(2027, 3, 27, 23, 0, 0, 0, time.UTC) // midnight CET
		end := time.Date(2027, 3, 28, 22, 0, 0, 0, time.UTC)   // next midnight, CEST
		for _, c := range []struct {
			at   time.Time
			want bool
		}{{start.Add(-time.Nanosecond), false}, {start, true}, {end.Add(-time.Second), true}, {end, false}} {
			if got := has(plates(t, db, "A", c.at), "AB123CD"); got != c.want {
				t.Errorf("spring: AB123CD allowed at %s = %v, want %v", c.at, got, c.want)
			}
		}

		// Autumn: 25 October 2026 lasts 25 hours (03:00 CEST -> 02:00 CET).
		grantOrFail(t, m, db, application(t, 2, `{"category":"temporaneo","start":"2026-10-25","days":"1","plate1":"EF456GH"}`), decided)
		start = time.Date(2026, 10, 24, 22, 0, 0, 0, time.UTC)
		end = time.Date(2026, 10, 25, 23, 0, 0, 0, time.UTC)
		for _, c := range []struct {
			at   time.Time
			want bool
		}{{start.Add(-time.Second), false}, {start, true}, {end.Add(-time.Second), true}, {end, false}} {
			if got := has(plates(t, db, "A", c.at), "EF456GH"); got != c.want {
				t.Errorf("autumn: EF456GH allowed at %s = %v, want %v", c.at, got, c.want)
			}
		}
		if has(plates(t, db, "B", start), "EF456GH") {
			t.Error("a temporary permit of zone A lets the plate into zone B")
		}

		// A badge holder's permit ends with the badge (valid through 10 January 2027).
		p := grantOrFail(t, m, db, application(t, 3, `{"category":"disabili","start":"2026-10-01","plate1":"LM789NP","country1":"",`+
			`"badge_number":"CUDE0012345","badge_expiry":"2027-01-10"}`), decided)
		badgeEnd := time.Date(2027, 1, 10, 23, 0, 0, 0, time.UTC)
		if !p.ValidTo.Equal(badgeEnd) {
			t.Errorf("badge permit ends %s, want %s", p.ValidTo, badgeEnd)
		}
		if !has(plates(t, db, "B", badgeEnd.Add(-time.Minute)), "LM789NP") || has(plates(t, db, "B", badgeEnd), "LM789NP") {
			t.Error("the badge holder's plate is not allowed until the badge's last minute only")
		}
		// An expired badge is refused and nothing is written.
		var before int64
		db.Model(&Access{}).Count(&before)
		_, err := m.grant(bg, db, application(t, 4, `{"category":"disabili","start":"2026-10-01","plate1":"LM789NP",`+
			`"badge_number":"CUDE0012345","badge_expiry":"2026-09-30"}`), decided)
		if cases.Key(err) != "ztl.error.badge_expired" {
			t.Errorf("expired badge: %v", err)
		}
		var after int64
		db.Model(&Access{}).Count(&after)
		if after != before {
			t.Errorf("a refused permit wrote %d lines", after-before)
		}
	})
}

// TestRevokedLeavesWhitelist: a revoked permit leaves the list at once, the version
// (ETag) changes, the "changes since" answer reports the plate as no longer allowed,
// the plate check still says it was allowed before the revocation.
func TestRevokedLeavesWhitelist(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, raw *gorm.DB) {
		db := guarded(t, raw)
		m := New()
		t0 := time.Date(2027, 2, 1, 8, 0, 0, 0, time.UTC)
		p := grantOrFail(t, m, db, application(t, 1, `{"category":"merci","start":"2027-02-01","plate1":"AB123CD","plate2":"B AB 1234","country2":"DE"}`), t0)
		now := t0.Add(time.Hour)
		if got := plates(t, db, "B", now); len(got) != 2 || !has(got, "DE:BAB1234") {
			t.Fatalf("whitelist of B: %v", got)
		}
		v1, err := version(bg, db, "a", now)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := version(bg, db, "a", now.Add(time.Minute)); v != v1 {
			t.Error("the version changed with nothing written and no boundary passed")
		}
		cursor := now
		if ch, err := changesSince(bg, db, "B", cursor, cursor.Add(time.Minute)); err != nil || len(ch) != 0 {
			t.Fatalf("changes with nothing changed: %v %v", ch, err)
		}
		revokedAt := cursor.Add(2 * time.Minute)
		if err := db.Transaction(func(tx *gorm.DB) error { return revoke(bg, tx, p, "u.mobilita", "veicolo venduto", revokedAt) }); err != nil {
			t.Fatal(err)
		}
		later := revokedAt.Add(time.Second)
		if got := plates(t, db, "A", later); len(got) != 0 {
			t.Errorf("revoked plates still in the whitelist: %v", got)
		}
		if v, _ := version(bg, db, "a", later); v == v1 {
			t.Error("the version did not change with the revocation")
		}
		ch, err := changesSince(bg, db, "A", cursor.Add(time.Minute), later)
		if err != nil || len(ch) != 2 || ch[0].Allowed || ch[1].Allowed {
			t.Fatalf("changes since before the revocation: %+v %v", ch, err)
		}
		pc, err := CheckPlate(bg, db, "AB123CD", "", revokedAt.Add(-time.Second))
		if err != nil || pc.Allowed == nil || pc.Permit.Code != p.Code {
			t.Errorf("plate check before revocation: %+v %v", pc, err)
		}
		if pc, _ := CheckPlate(bg, db, "AB123CD", "", later); pc.Allowed != nil || len(pc.History) != 2 {
			t.Errorf("plate check after revocation: %+v", pc)
		}
		if err := db.Transaction(func(tx *gorm.DB) error { return revoke(bg, tx, p, "u", "again", later) }); !errors.Is(err, errConflict) {
			t.Errorf("second revocation: %v", err)
		}
		// Time alone changes the version: a permit starting tomorrow.
		grantOrFail(t, m, db, application(t, 2, `{"category":"temporaneo","start":"2027-02-03","days":"2","plate1":"ZZ999ZZ"}`), later)
		tomorrow := DayStart(2027, 2, 3)
		va, _ := version(bg, db, "a", tomorrow.Add(-time.Second))
		vb, _ := version(bg, db, "a", tomorrow)
		if va == vb {
			t.Error("the version did not change when a permit started")
		}
		if ch, _ := changesSince(bg, db, "A", tomorrow.Add(-time.Minute), tomorrow.Add(time.Second)); len(ch) != 1 || !ch[0].Allowed {
			t.Errorf("changes across the start of a permit: %+v", ch)
		}
	})
}

// TestPlateChanges: a new car replaces the old from now; a temporary plate is allowed
// for its period only.
func TestPlateChanges(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, raw *gorm.DB) {
		db := guarded(t, raw)
		m := New()
		t0 := time.Date(2027, 5, 10, 8, 0, 0, 0, time.UTC)
		p := grantOrFail(t, m, db, application(t, 1, `{"category":"merci","start":"2027-05-10","plate1":"AB123CD"}`), t0)
		change := t0.Add(time.Hour)
		np, _ := ParsePlate("CD 456 EF", "")
		if err := changePlate(bg, db, p, "AB123CD", np, change); err != nil {
			t.Fatal(err)
		}
		if got := plates(t, db, "A", change.Add(time.Second)); len(got) != 1 || got[0] != "CD456EF" {
			t.Errorf("after the change: %v", got)
		}
		if got := plates(t, db, "A", change.Add(-time.Second)); len(got) != 1 || got[0] != "AB123CD" {
			t.Errorf("before the change: %v", got)
		}
		if err := changePlate(bg, db, p, "AB123CD", np, change); cases.Key(err) != "ztl.plate.repeated" {
			t.Errorf("same change twice: %v", err)
		}
		tp, _ := ParsePlate("GH789JK", "")
		from, to := DayStart(2027, 5, 12), DayStart(2027, 5, 13)
		if err := addTemporaryPlate(bg, db, p, tp, from, to, change); err != nil {
			t.Fatal(err)
		}
		for at, want := range map[time.Time]bool{from.Add(-time.Second): false, from: true, to.Add(-time.Second): true, to: false} {
			if got := has(plates(t, db, "B", at), "GH789JK"); got != want {
				t.Errorf("temporary plate at %s: %v, want %v", at, got, want)
			}
		}
	})
}

// TestEnteIsolation: lines and permits of ente "a" are invisible and unchangeable
// from ente "b"; an unscoped statement is refused.
func TestEnteIsolation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, raw *gorm.DB) {
		a := guarded(t, raw)
		b := enti.Scoped(raw, "b").WithContext(bg)
		m := New()
		t0 := time.Date(2027, 5, 10, 8, 0, 0, 0, time.UTC)
		p := grantOrFail(t, m, a, application(t, 1, `{"category":"merci","start":"2027-05-10","plate1":"AB123CD"}`), t0)
		if got := plates(t, b, "A", t0.Add(time.Hour)); len(got) != 0 {
			t.Errorf("ente b sees a's whitelist: %v", got)
		}
		if err := b.Where("code = ?", p.Code).Take(&Permit{}).Error; !errors.Is(err, gorm.ErrRecordNotFound) {
			t.Errorf("ente b reads a's permit: %v", err)
		}
		if err := b.Transaction(func(tx *gorm.DB) error { return revoke(bg, tx, p, "x", "y", t0) }); !errors.Is(err, errConflict) {
			t.Errorf("ente b revoked a's permit: %v", err)
		}
		if got := plates(t, a, "A", t0.Add(time.Hour)); len(got) != 1 {
			t.Errorf("a's whitelist after b's attempt: %v", got)
		}
		if err := raw.Model(&Access{}).Count(new(int64)).Error; !errors.Is(err, enti.ErrUnscoped) {
			t.Errorf("unscoped count: %v", err)
		}
		// The same record id may exist in two enti (unique per ente).
		for _, db := range []*gorm.DB{a, b} {
			if err := db.Create(&Transit{System: "varchi", RecordID: "r1", Plate: "AB123CD", Gate: "G1", Zone: "A", At: t0, CreatedAt: t0}).Error; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestHouseholdCapConcurrent: 30 simultaneous approvals for one household with a cap
// of 2 vehicles take exactly 2 places.
func TestHouseholdCapConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, raw *gorm.DB) {
		db := guarded(t, raw)
		c := &Category{Code: "residenti", MaxVehicles: 2}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, capped := 0, 0
		for i := 0; i < 30; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := db.Transaction(func(tx *gorm.DB) error { return takeSlots(bg, tx, c, "F0001", 1) })
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case cases.Key(err) == "ztl.error.household_cap":
					capped++
				default:
					t.Errorf("takeSlots: %v", err)
				}
			}()
		}
		wg.Wait()
		var s HouseholdSlots
		if err := db.Where("household = ?", "F0001").Take(&s).Error; err != nil {
			t.Fatal(err)
		}
		if ok != 2 || capped != 28 || s.Used != 2 {
			t.Errorf("granted %d, capped %d, used %d; want 2, 28, 2", ok, capped, s.Used)
		}
	})
}

// TestSuspendResume: a suspended permit leaves the whitelist at once and comes back
// when resumed; the plate check knows the gap; a suspended permit can still be revoked.
func TestSuspendResume(t *testing.T) {
	t.Parallel()
	storetest.Each(t, (&Module{}).Migrations(), func(t *testing.T, raw *gorm.DB) {
		db := guarded(t, raw)
		m := New()
		t0 := time.Date(2027, 5, 10, 8, 0, 0, 0, time.UTC)
		p := grantOrFail(t, m, db, application(t, 1, `{"category":"merci","start":"2027-05-10","plate1":"AB123CD"}`), t0)
		t1, t2 := t0.Add(time.Hour), t0.Add(3*time.Hour)
		if err := db.Transaction(func(tx *gorm.DB) error { return suspend(bg, tx, p, "u", "verifica in corso", t1) }); err != nil {
			t.Fatal(err)
		}
		if got := plates(t, db, "A", t1.Add(time.Second)); len(got) != 0 {
			t.Errorf("suspended permit still in the whitelist: %v", got)
		}
		var cur Permit
		db.Where("id = ?", p.ID).Take(&cur)
		if cur.StatusAt(t1.Add(time.Second)) != StatusSuspended {
			t.Errorf("state %s", cur.StatusAt(t1))
		}
		if err := db.Transaction(func(tx *gorm.DB) error { return resume(bg, tx, p, t2) }); err != nil {
			t.Fatal(err)
		}
		if got := plates(t, db, "A", t2.Add(time.Second)); len(got) != 1 {
			t.Errorf("resumed permit not in the whitelist: %v", got)
		}
		if pc, _ := CheckPlate(bg, db, "AB123CD", "A", t1.Add(time.Minute)); pc.Allowed != nil {
			t.Error("the plate check says allowed during the suspension")
		}
		if pc, _ := CheckPlate(bg, db, "AB123CD", "A", t0.Add(time.Minute)); pc.Allowed == nil {
			t.Error("the plate check forgot the time before the suspension")
		}
		if err := db.Transaction(func(tx *gorm.DB) error { return resume(bg, tx, p, t2) }); !errors.Is(err, errConflict) {
			t.Errorf("resume of an active permit: %v", err)
		}
		if err := db.Transaction(func(tx *gorm.DB) error { return suspend(bg, tx, p, "u", "x", t2.Add(time.Hour)) }); err != nil {
			t.Fatal(err)
		}
		if err := db.Transaction(func(tx *gorm.DB) error { return revoke(bg, tx, p, "u", "y", t2.Add(2*time.Hour)) }); err != nil {
			t.Errorf("revoke of a suspended permit: %v", err)
		}
	})
}
