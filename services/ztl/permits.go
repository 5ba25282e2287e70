package ztl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/web"
)

// rome is the comune's time zone: permits start and end at midnight in it.
var rome = web.Rome

// DayStart is the instant day (a calendar date, any location) begins in Europe/Rome.
func DayStart(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, rome).UTC()
}

// dayOf is the calendar date of t in Europe/Rome, as the instant it began.
func dayOf(t time.Time) time.Time {
	l := t.In(rome)
	return DayStart(l.Year(), l.Month(), l.Day())
}

// addDays moves the day start t by n calendar days in Europe/Rome (a day of the
// summer-time change lasts 23 or 25 hours).
func addDays(t time.Time, n int) time.Time {
	l := t.In(rome)
	return DayStart(l.Year(), l.Month(), l.Day()+n)
}

// parseDay reads "2006-01-02" as the instant that day begins in Europe/Rome.
func parseDay(s string) (time.Time, bool) {
	d, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(s), rome)
	if err != nil {
		return time.Time{}, false
	}
	return d.UTC(), true
}

// refusal is a hook error the officer or citizen sees.
func refusal(key, field string) error { return &cases.Error{Key: key, Field: field} }

// Application is the form data of a permit application (a case's form_data).
type Application struct {
	Category    string
	Start       string
	Days        string
	Plates      []Plate
	BadgeNumber string
	BadgeExpiry string
	Renews      string
}

// MaxPlates is the number of plate fields the form offers.
const MaxPlates = 3

// readApplication decodes and checks a case's form data.
func readApplication(formData string) (Application, map[string]string) {
	var v map[string]string
	_ = json.Unmarshal([]byte(formData), &v)
	return checkApplication(v)
}

// checkApplication checks the values of the form that do not need the database:
// plates (normalized, without repeats), dates, the badge. It returns field -> key.
func checkApplication(v map[string]string) (Application, map[string]string) {
	a := Application{Category: v["category"], Start: v["start"], Days: v["days"],
		BadgeNumber: strings.ToUpper(strings.TrimSpace(v["badge_number"])), BadgeExpiry: v["badge_expiry"], Renews: v["renews"]}
	errs := map[string]string{}
	seen := map[string]bool{}
	for i := 1; i <= MaxPlates; i++ {
		n, cc := v[fmt.Sprintf("plate%d", i)], v[fmt.Sprintf("country%d", i)]
		if strings.TrimSpace(n) == "" {
			if strings.TrimSpace(cc) != "" {
				errs[fmt.Sprintf("plate%d", i)] = ErrPlateEmpty.Error()
			}
			continue
		}
		p, err := ParsePlate(n, cc)
		if err != nil {
			field := fmt.Sprintf("plate%d", i)
			if errors.Is(err, ErrPlateCountry) {
				field = fmt.Sprintf("country%d", i)
			}
			errs[field] = err.Error()
			continue
		}
		if seen[p.String()] {
			errs[fmt.Sprintf("plate%d", i)] = "ztl.plate.repeated"
			continue
		}
		seen[p.String()] = true
		a.Plates = append(a.Plates, p)
	}
	if len(a.Plates) == 0 && errs["plate1"] == "" {
		errs["plate1"] = ErrPlateEmpty.Error()
	}
	if _, ok := parseDay(a.Start); !ok {
		errs["start"] = "ztl.error.date"
	}
	if a.Days != "" {
		if n, err := strconv.Atoi(a.Days); err != nil || n < 1 || n > 366 {
			errs["days"] = "ztl.error.days"
		}
	}
	if a.BadgeExpiry != "" {
		if _, ok := parseDay(a.BadgeExpiry); !ok {
			errs["badge_expiry"] = "ztl.error.date"
		}
	}
	if a.BadgeNumber != "" && (len(a.BadgeNumber) > 30 || strings.ContainsAny(a.BadgeNumber, "<>\"'")) {
		errs["badge_number"] = "ztl.error.badge_number"
	}
	return a, errs
}

// period computes a permit's [from, to) for application a of category c decided at
// now, and checks what depends on the category: the vehicle cap, the number of days
// of a temporary permit, the badge of a disabled holder.
func period(c *Category, a Application, now time.Time, renewFrom *time.Time) (from, to time.Time, err error) {
	if len(a.Plates) > c.MaxVehicles {
		return from, to, refusal("ztl.error.too_many_plates", "plate1")
	}
	start, _ := parseDay(a.Start)
	today := dayOf(now)
	if start.Before(today) {
		start = today
	}
	if renewFrom != nil {
		start = *renewFrom
	}
	days := c.ValidityDays
	if c.Kind == KindTemporary {
		n, convErr := strconv.Atoi(a.Days)
		if convErr != nil || n < 1 || n > c.ValidityDays {
			return from, to, refusal("ztl.error.days", "days")
		}
		days = n
	}
	from, to = start, addDays(start, days)
	if c.Kind == KindDisabled {
		exp, ok := parseDay(a.BadgeExpiry)
		if a.BadgeNumber == "" || !ok {
			return from, to, refusal("ztl.error.badge_required", "badge_number")
		}
		end := addDays(exp, 1) // the badge is valid through its expiry date
		if !end.After(now) || !end.After(from) {
			return from, to, refusal("ztl.error.badge_expired", "badge_expiry")
		}
		if end.Before(to) {
			to = end
		}
	}
	return from, to, nil
}

// permitData is what a permit's stamp certifies: the fields that never change. Plates
// change (a new car, a temporary plate) and are shown from the records.
type permitData struct {
	Code, Category, HolderCF, Zones, BadgeNumber string
	ValidFrom, ValidTo                           time.Time
}

func (p *Permit) dataHash() []byte {
	return stamp.DataHash(permitData{Code: p.Code, Category: p.Category, HolderCF: p.HolderCF, Zones: p.Zones,
		BadgeNumber: p.BadgeNumber, ValidFrom: p.ValidFrom.UTC(), ValidTo: p.ValidTo.UTC()})
}

// StampType is the stamp payload type of a ZTL permit.
const StampType = "permesso_ztl"

// household returns the household code of a resident, or "" when cf is not in the
// register with a current household.
func household(ctx context.Context, db *gorm.DB, cf string) (string, error) {
	p, err := anagrafe.ByFiscalCode(ctx, db, cf)
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	m, err := anagrafe.CurrentMembership(ctx, db, p.ID)
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	sheet, err := anagrafe.HouseholdByID(ctx, db, m.HouseholdID)
	if err != nil {
		return "", err
	}
	return sheet.Household.Code, nil
}

// takeSlots reserves n vehicles of household's cap in category c: one conditional
// UPDATE, so simultaneous approvals never exceed the cap.
func takeSlots(ctx context.Context, tx *gorm.DB, c *Category, household string, n int) error {
	row := HouseholdSlots{Category: c.Code, Household: household}
	if err := tx.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return err
	}
	res := tx.WithContext(ctx).Model(&HouseholdSlots{}).
		Where("category = ? AND household = ? AND used + ? <= ?", c.Code, household, n, c.MaxVehicles).
		Update("used", gorm.Expr("used + ?", n))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return refusal("ztl.error.household_cap", "plate1")
	}
	return nil
}

// releaseSlots gives back the places a permit holds, once: the conditional UPDATE on
// slot_held lets one transaction through, and from then on that transaction holds the
// row (PostgreSQL's row lock, SQLite's write lock), so the number of places it reads
// next is the one in force, even if p was read before a renewal took some over or
// handed some back. A renewal ending while the permit it renews is still in force
// hands the places it took over back to it (handBack) instead of freeing them: the
// predecessor's plates are still in the whitelist, and its own end releases them.
func releaseSlots(ctx context.Context, tx *gorm.DB, p *Permit, now time.Time) error {
	db := tx.WithContext(ctx)
	res := db.Model(&Permit{}).Where("id = ? AND slot_held = ?", p.ID, true).
		Updates(map[string]any{"slot_held": false, "updated_at": now})
	if res.Error != nil || res.RowsAffected == 0 {
		return res.Error
	}
	var cur Permit
	if err := db.Select("id", "category", "household", "slots", "slots_taken_over", "renews_id").
		Where("id = ?", p.ID).Take(&cur).Error; err != nil {
		return err
	}
	if err := db.Model(&Permit{}).Where("id = ?", p.ID).Update("slots", 0).Error; err != nil {
		return err
	}
	n, err := handBack(ctx, tx, &cur, now)
	if err != nil {
		return err
	}
	return giveBack(ctx, tx, cur.Category, cur.Household, cur.Slots-n)
}

// handBack gives the places renewal r took over from its predecessor back to it, if
// the predecessor is still in force at now (active or suspended, not yet ended); it
// returns how many it handed back. A predecessor revoked or ended has released its
// own places already, so r's are then freed with the rest.
func handBack(ctx context.Context, tx *gorm.DB, r *Permit, now time.Time) (int, error) {
	n := min(r.SlotsTakenOver, r.Slots)
	if r.RenewsID == 0 || n <= 0 {
		return 0, nil
	}
	res := tx.WithContext(ctx).Model(&Permit{}).
		Where("id = ? AND household = ? AND status IN ? AND valid_to > ?", r.RenewsID, r.Household,
			[]string{StatusActive, StatusSuspended}, now).
		Updates(map[string]any{"slots": gorm.Expr("slots + ?", n), "slot_held": true, "updated_at": now})
	if res.Error != nil {
		return 0, res.Error
	}
	if res.RowsAffected == 0 {
		return 0, nil
	}
	return n, nil
}

// giveBack returns n places of household's count in category.
func giveBack(ctx context.Context, tx *gorm.DB, category, household string, n int) error {
	if n <= 0 {
		return nil
	}
	return tx.WithContext(ctx).Model(&HouseholdSlots{}).
		Where("category = ? AND household = ? AND used >= ?", category, household, n).
		Update("used", gorm.Expr("used - ?", n)).Error
}

// grant creates the permit of an approved case in tx (scoped to the ente), with its
// whitelist lines. It is the approval hook's work: an error vetoes the approval.
func (m *Module) grant(ctx context.Context, tx *gorm.DB, cs cases.Case, now time.Time) (*Permit, error) {
	a, errs := readApplication(cs.FormData)
	for field, key := range errs {
		return nil, refusal(key, field)
	}
	c, err := category(ctx, tx, a.Category)
	if errors.Is(err, errNoCategory) {
		return nil, refusal("ztl.error.category", "category")
	}
	if err != nil {
		return nil, err
	}
	var renewed *Permit
	var renewFrom *time.Time
	if a.Renews != "" {
		var old Permit
		err := tx.WithContext(ctx).Where("code = ? AND holder_cf = ? AND category = ?", a.Renews, cs.ApplicantCF, c.Code).Take(&old).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && !renewable(old, c, now)) {
			return nil, refusal("ztl.error.not_renewable", "")
		}
		if err != nil {
			return nil, err
		}
		renewed, renewFrom = &old, &old.ValidTo
	}
	from, to, err := period(c, a, now, renewFrom)
	if err != nil {
		return nil, err
	}
	code, err := stamp.NewCode()
	if err != nil {
		return nil, err
	}
	p := &Permit{Code: code, CaseID: cs.ID, Protocol: cs.Protocol, Category: c.Code, HolderCF: cs.ApplicantCF,
		HolderName: cs.ApplicantName, Email: cs.ApplicantEmail, Zones: c.Zones, ValidFrom: from, ValidTo: to,
		BadgeNumber: a.BadgeNumber, FeeCents: c.FeeCents, Status: StatusActive, CreatedAt: now, UpdatedAt: now}
	if c.Kind == KindDisabled {
		exp, _ := parseDay(a.BadgeExpiry)
		p.BadgeExpiry = &exp
	}
	if c.Kind == KindResident {
		if p.Household, err = household(ctx, tx, cs.ApplicantCF); err != nil {
			return nil, err
		}
		if p.Household == "" {
			return nil, refusal("ztl.error.not_resident", "")
		}
		need := len(a.Plates)
		if renewed != nil && renewed.Household == p.Household && renewed.SlotHeld {
			// The renewal takes over as many of its predecessor's places as it has
			// plates; the predecessor keeps the rest until it ends (its plates stay in
			// the whitelist until then) and gets the taken ones back if the renewal
			// ends first (handBack). Conditional on the places read, so two renewals
			// of one permit never take over the same places.
			k := min(renewed.Slots, need)
			left := renewed.Slots - k
			res := tx.WithContext(ctx).Model(&Permit{}).
				Where("id = ? AND slot_held = ? AND slots = ?", renewed.ID, true, renewed.Slots).
				Updates(map[string]any{"slots": left, "slot_held": left > 0, "updated_at": now})
			if res.Error != nil {
				return nil, res.Error
			}
			if res.RowsAffected == 1 {
				need -= k
				p.SlotsTakenOver = k
			}
		}
		if need > 0 {
			if err := takeSlots(ctx, tx, c, p.Household, need); err != nil {
				return nil, err
			}
		}
		p.SlotHeld, p.Slots = true, len(a.Plates)
	}
	if renewed != nil {
		p.RenewsID = renewed.ID
	}
	if ring := m.stampRing(ctx); ring != nil {
		day := from.In(rome)
		msg, err := ring.Sign(stamp.Payload{CertID: code, Type: StampType, Holder: p.HolderCF,
			IssuedAt: day, ExpiresAt: addDays(to, -1).In(rome), DataHash: p.dataHash()})
		if err != nil {
			return nil, fmt.Errorf("ztl: sign permit: %w", err)
		}
		p.Stamp = stamp.Encode(msg)
	}
	hold, err := m.holdForFee(ctx, tx, p, c, a.Plates, now)
	if err != nil {
		return nil, err
	}
	if err := tx.WithContext(ctx).Create(p).Error; err != nil {
		return nil, fmt.Errorf("ztl: create permit: %w", err)
	}
	if hold { // the plates enter the whitelist once the fee is paid (feePaid)
		return p, nil
	}
	lines := accessLines(p, a.Plates, from, to, false, now)
	if err := tx.WithContext(ctx).Create(&lines).Error; err != nil {
		return nil, fmt.Errorf("ztl: whitelist lines: %w", err)
	}
	return p, nil
}

// renewable reports whether old may be renewed at now: active, of a renewable
// category, within the renewal window before its end.
func renewable(old Permit, c *Category, now time.Time) bool {
	return c.Renewable() && old.StatusAt(now) == StatusActive && !now.Before(addDays(dayOf(old.ValidTo), -c.RenewDays))
}

func accessLines(p *Permit, plates []Plate, from, to time.Time, temporary bool, now time.Time) []Access {
	var lines []Access
	for _, pl := range plates {
		for _, z := range p.ZoneList() {
			lines = append(lines, Access{PermitID: p.ID, Plate: pl.String(), Country: pl.Country, Zone: z,
				Temporary: temporary, ValidFrom: from, ValidTo: to, UpdatedAt: now})
		}
	}
	return lines
}

// revoke ends a permit at now: its lines leave the whitelist at once.
func revoke(ctx context.Context, tx *gorm.DB, p *Permit, by, reason string, now time.Time) error {
	return stop(ctx, tx, p, StatusRevoked, by, reason, now)
}

// suspend takes a permit out of the whitelist at now until resume.
func suspend(ctx context.Context, tx *gorm.DB, p *Permit, by, reason string, now time.Time) error {
	return stop(ctx, tx, p, StatusSuspended, by, reason, now)
}

func stop(ctx context.Context, tx *gorm.DB, p *Permit, status, by, reason string, now time.Time) error {
	from := []string{StatusActive}
	if status == StatusRevoked {
		from = append(from, StatusSuspended, StatusUnpaid)
	}
	res := tx.WithContext(ctx).Model(&Permit{}).Where("id = ? AND status IN ?", p.ID, from).
		Updates(map[string]any{"status": status, "revoked_at": now, "revoked_by": by, "revoked_reason": reason, "updated_at": now})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errConflict
	}
	if err := tx.WithContext(ctx).Model(&Access{}).Where("permit_id = ? AND revoked_at IS NULL AND valid_to > ?", p.ID, now).
		Updates(map[string]any{"revoked_at": now, "updated_at": now}).Error; err != nil {
		return err
	}
	if status == StatusSuspended {
		return nil // a suspended permit keeps its household places
	}
	return releaseSlots(ctx, tx, p, now)
}

// resume puts a suspended permit back at now: the lines the suspension ended come back
// as new lines from now (the old ones keep recording the suspension).
func resume(ctx context.Context, tx *gorm.DB, p *Permit, now time.Time) error {
	var cur Permit
	if err := tx.WithContext(ctx).Where("id = ?", p.ID).Take(&cur).Error; err != nil {
		return err
	}
	if cur.Status != StatusSuspended || cur.RevokedAt == nil {
		return errConflict
	}
	res := tx.WithContext(ctx).Model(&Permit{}).Where("id = ? AND status = ?", p.ID, StatusSuspended).
		Updates(map[string]any{"status": StatusActive, "revoked_at": nil, "revoked_by": "", "revoked_reason": "", "updated_at": now})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errConflict
	}
	var ended []Access
	if err := tx.WithContext(ctx).Where("permit_id = ? AND revoked_at = ? AND valid_to > ?", p.ID, *cur.RevokedAt, now).
		Find(&ended).Error; err != nil {
		return err
	}
	if len(ended) == 0 {
		return nil
	}
	back := make([]Access, len(ended))
	for i, l := range ended {
		from := l.ValidFrom
		if from.Before(now) {
			from = now
		}
		back[i] = Access{PermitID: l.PermitID, Plate: l.Plate, Country: l.Country, Zone: l.Zone, Temporary: l.Temporary,
			ValidFrom: from, ValidTo: l.ValidTo, UpdatedAt: now}
	}
	return tx.WithContext(ctx).Create(&back).Error
}

var errConflict = errors.New("ztl: the permit changed meanwhile")

// changePlate replaces old with plate on p from now on (the holder changed car).
func changePlate(ctx context.Context, tx *gorm.DB, p *Permit, old string, plate Plate, now time.Time) error {
	if p.StatusAt(now) != StatusActive && p.StatusAt(now) != StatusPending {
		return refusal("ztl.error.not_active", "")
	}
	var cur []Access
	if err := tx.WithContext(ctx).Where("permit_id = ? AND temporary = ? AND valid_to > ? AND revoked_at IS NULL", p.ID, false, now).
		Find(&cur).Error; err != nil {
		return err
	}
	found := false
	for _, l := range cur {
		if l.Plate == plate.String() {
			return refusal("ztl.plate.repeated", "plate")
		}
		found = found || l.Plate == old
	}
	if !found {
		return refusal("ztl.error.plate_unknown", "old")
	}
	start := now
	if start.Before(p.ValidFrom) {
		start = p.ValidFrom
	}
	res := tx.WithContext(ctx).Model(&Access{}).
		Where("permit_id = ? AND plate = ? AND temporary = ? AND valid_to > ? AND revoked_at IS NULL", p.ID, old, false, now).
		Updates(map[string]any{"valid_to": start, "updated_at": now})
	if res.Error != nil {
		return res.Error
	}
	lines := accessLines(p, []Plate{plate}, start, p.ValidTo, false, now)
	return tx.WithContext(ctx).Create(&lines).Error
}

// addTemporaryPlate lets plate in under p for [from, to): a car at the garage, or
// the car a badge holder travels in today.
func addTemporaryPlate(ctx context.Context, tx *gorm.DB, p *Permit, plate Plate, from, to, now time.Time) error {
	if s := p.StatusAt(now); s == StatusRevoked || s == StatusExpired || s == StatusUnpaid {
		return refusal("ztl.error.not_active", "")
	}
	if from.Before(p.ValidFrom) {
		from = p.ValidFrom
	}
	if to.After(p.ValidTo) {
		to = p.ValidTo
	}
	if !to.After(from) || !to.After(now) {
		return refusal("ztl.error.period", "from")
	}
	lines := accessLines(p, []Plate{plate}, from, to, true, now)
	return tx.WithContext(ctx).Create(&lines).Error
}
