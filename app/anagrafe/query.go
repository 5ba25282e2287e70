package anagrafe

import (
	"context"
	"errors"
	"github.com/comuni-italiani/sportello/app/enti"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// ByFiscalCode returns the person with tax code cf (living or deceased), or
// store.ErrNotFound.
func ByFiscalCode(ctx context.Context, db *gorm.DB, cf string) (*Person, error) {
	var p Person
	if err := enti.For(ctx, db).Where("fiscal_code = ?", cf).Take(&p).Error; err != nil {
		return nil, err
	}
	return &p, nil
}

// ByID returns the person with this id, or store.ErrNotFound.
func ByID(ctx context.Context, db *gorm.DB, id int64) (*Person, error) {
	var p Person
	if err := enti.For(ctx, db).Where("id = ?", id).Take(&p).Error; err != nil {
		return nil, err
	}
	return &p, nil
}

// Member is one person on a household sheet with their relation to its head.
type Member struct {
	Person
	Relation string
	// Since is when the person joined the household.
	Since time.Time
}

// RelationKey is the message key of the member's relation, by their sex.
func (m Member) RelationKey() string { return RelationKey(m.Relation, m.Sex) }

// HouseholdSheet is a household with its current members, head first.
type HouseholdSheet struct {
	Household
	Members []Member
}

// Head returns the intestatario (or the convivenza's manager), if recorded.
func (h *HouseholdSheet) Head() (Member, bool) {
	for _, m := range h.Members {
		if m.Relation == RelHead || m.Relation == RelManager {
			return m, true
		}
	}
	return Member{}, false
}

// Has reports whether the person with tax code cf is a current member.
func (h *HouseholdSheet) Has(cf string) bool {
	return slices.ContainsFunc(h.Members, func(m Member) bool { return m.FiscalCode == cf })
}

// CurrentMembership returns the person's current membership, or store.ErrNotFound
// (deceased people and people no longer resident have none).
func CurrentMembership(ctx context.Context, db *gorm.DB, personID int64) (*Membership, error) {
	var m Membership
	err := enti.For(ctx, db).Where("person_id = ? AND ended_on IS NULL", personID).Take(&m).Error
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// HouseholdOf returns the current household of the person with this id, with its
// current members in sheet order (head first, then by relation and age), or
// store.ErrNotFound when the person belongs to none. Two queries: the household found
// through the person's open membership, then its members.
func HouseholdOf(ctx context.Context, db *gorm.DB, personID int64) (*HouseholdSheet, error) {
	db = enti.For(ctx, db)
	var h HouseholdSheet
	err := db.Table("anagrafe_households AS h").Select("h.*").
		Joins("JOIN anagrafe_members AS m ON m.household_id = h.id AND m.ended_on IS NULL").
		Where("m.person_id = ?", personID).Take(&h.Household).Error
	if err != nil {
		return nil, err
	}
	return &h, h.loadMembers(db)
}

// HouseholdByID returns a household with its current members, or store.ErrNotFound.
func HouseholdByID(ctx context.Context, db *gorm.DB, id int64) (*HouseholdSheet, error) {
	db = enti.For(ctx, db)
	var h HouseholdSheet
	if err := db.Where("id = ?", id).Take(&h.Household).Error; err != nil {
		return nil, err
	}
	return &h, h.loadMembers(db)
}

// loadMembers reads the household's current members with their register data, in one
// query, and puts them in sheet order.
func (h *HouseholdSheet) loadMembers(db *gorm.DB) error {
	var rows []struct {
		Person
		MRelation  string    `gorm:"column:m_relation"`
		MStartedOn time.Time `gorm:"column:m_started_on"`
	}
	err := db.Table("anagrafe_members AS m").
		Select("p.*, m.relation AS m_relation, m.started_on AS m_started_on").
		Joins("JOIN anagrafe_persons AS p ON p.id = m.person_id").
		Where("m.household_id = ? AND m.ended_on IS NULL", h.ID).Scan(&rows).Error
	if err != nil {
		return err
	}
	h.Members = make([]Member, 0, len(rows))
	for _, r := range rows {
		h.Members = append(h.Members, Member{Person: r.Person, Relation: r.MRelation, Since: r.MStartedOn})
	}
	slices.SortStableFunc(h.Members, func(a, b Member) int {
		if d := relationRank(a.Relation) - relationRank(b.Relation); d != 0 {
			return d
		}
		if c := a.BirthDate.Compare(b.BirthDate); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return nil
}

// ResidenceAt returns the person's residence on date at (a calendar date; its time
// of day is ignored), or store.ErrNotFound.
func ResidenceAt(ctx context.Context, db *gorm.DB, personID int64, at time.Time) (*Residence, error) {
	day := Date(at.Date())
	var r Residence
	err := enti.For(ctx, db).
		Where("person_id = ? AND started_on <= ? AND (ended_on IS NULL OR ended_on > ?)", personID, day, day).
		Order("started_on DESC").Take(&r).Error
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// CurrentResidence returns the person's open residence, or store.ErrNotFound.
func CurrentResidence(ctx context.Context, db *gorm.DB, personID int64) (*Residence, error) {
	var r Residence
	err := enti.For(ctx, db).Where("person_id = ? AND ended_on IS NULL", personID).
		Order("started_on DESC").Take(&r).Error
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Residences returns the person's residence history, the most recent first.
func Residences(ctx context.Context, db *gorm.DB, personID int64) ([]Residence, error) {
	var out []Residence
	err := enti.For(ctx, db).Where("person_id = ?", personID).Order("started_on DESC, id DESC").Find(&out).Error
	return out, err
}

// Events returns the civil-status events recorded for the person in this comune's
// registers, oldest first.
func Events(ctx context.Context, db *gorm.DB, personID int64) ([]Event, error) {
	var out []Event
	err := enti.For(ctx, db).Where("person_id = ?", personID).Order("date, id").Find(&out).Error
	return out, err
}

// LatestEvent returns the most recent event of kind for the person, or
// store.ErrNotFound.
func LatestEvent(ctx context.Context, db *gorm.DB, personID int64, kind string) (*Event, error) {
	var e Event
	err := enti.For(ctx, db).Where("person_id = ? AND kind = ?", personID, kind).
		Order("date DESC, id DESC").Take(&e).Error
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// SameHousehold reports whether the people with tax codes cf1 and cf2 are current
// members of one famiglia anagrafica. The members of a convivenza (a care home, a
// religious community) are not a family and do not count as one another's household;
// a person is in their own household as long as they belong to one. Unknown tax codes
// give false.
func SameHousehold(ctx context.Context, db *gorm.DB, cf1, cf2 string) (bool, error) {
	db = enti.For(ctx, db)
	var rows []struct {
		FiscalCode  string
		HouseholdID int64
		Kind        string
	}
	err := db.Table("anagrafe_members AS m").
		Select("p.fiscal_code, m.household_id, h.kind").
		Joins("JOIN anagrafe_persons AS p ON p.id = m.person_id").
		Joins("JOIN anagrafe_households AS h ON h.id = m.household_id").
		Where("m.ended_on IS NULL AND p.fiscal_code IN ?", []string{cf1, cf2}).
		Scan(&rows).Error
	if err != nil {
		return false, err
	}
	if cf1 == cf2 {
		return len(rows) == 1, nil
	}
	if len(rows) != 2 {
		return false, nil
	}
	return rows[0].HouseholdID == rows[1].HouseholdID && rows[0].Kind == KindFamily, nil
}

// IsNotFound reports whether err means that the person, household or record asked for
// does not exist.
func IsNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
