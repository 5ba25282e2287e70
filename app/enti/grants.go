package enti

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Grant gives a staff account a role in one ente. Staff hold the roles of their
// account in their home ente; in any other ente only what a grant gives them, and a
// grant is possible only in the home ente or, for a union's staff, in one of the
// union's member comuni (the social office of a union deciding the allowances of all
// its comuni). The table is installation-wide, like accounts: it is not ente-owned
// (a union's officer has rows for several enti) and the guard does not confine it;
// its key (account_id, ente_id, role) makes a grant exist once.
type Grant struct {
	AccountID int64  `gorm:"primaryKey;autoIncrement:false"`
	EnteID    string `gorm:"primaryKey;size:40"`
	Role      string `gorm:"primaryKey;size:64"`
	// GrantedBy is who gave it ("system:cli", or an administrator's username).
	GrantedBy string `gorm:"size:100;not null;default:''"`
	CreatedAt time.Time
}

// TableName keeps the table name stable.
func (Grant) TableName() string { return "staff_grants" }

// ErrGrantPlace is returned when a grant names an ente where the account's staff may
// not work: neither its home nor a member comune of its home union.
var ErrGrantPlace = errors.New("enti: staff may be given roles only in their own ente or in a member comune of their union")

// Grants reads and writes staff grants.
type Grants struct{ db *gorm.DB }

// NewGrants returns the grants over db.
func NewGrants(db *gorm.DB) *Grants { return &Grants{db: db} }

// CanGrant reports whether staff whose home is home may be given roles in ente e.
func CanGrant(home string, e *Ente) bool {
	return e != nil && (e.ID == home || (e.ParentID != "" && e.ParentID == home))
}

// Add gives the role in ente to the account. It reports false when the grant
// already existed (nothing changes).
func (g *Grants) Add(ctx context.Context, gr Grant) (bool, error) {
	if gr.AccountID <= 0 || gr.EnteID == "" || gr.Role == "" {
		return false, fmt.Errorf("%w: grant needs an account, an ente and a role", ErrInvalid)
	}
	res := g.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&gr)
	if res.Error != nil {
		return false, fmt.Errorf("enti: grant: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// Remove takes the role in ente back from the account; false when there was none.
func (g *Grants) Remove(ctx context.Context, accountID int64, ente, role string) (bool, error) {
	res := g.db.WithContext(ctx).Where("account_id = ? AND ente_id = ? AND role = ?", accountID, ente, role).Delete(&Grant{})
	if res.Error != nil {
		return false, fmt.Errorf("enti: revoke: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// Of lists the account's grants, by ente then role.
func (g *Grants) Of(ctx context.Context, accountID int64) ([]Grant, error) {
	var out []Grant
	err := g.db.WithContext(ctx).Where("account_id = ?", accountID).Order("ente_id, role").Find(&out).Error
	return out, err
}

// RolesIn returns the roles the account is granted in each of the enti ids (only
// enti where it has some), one indexed query.
func (g *Grants) RolesIn(ctx context.Context, accountID int64, ids ...string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []Grant
	if err := g.db.WithContext(ctx).Where("account_id = ? AND ente_id IN ?", accountID, ids).
		Order("ente_id, role").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("enti: grants: %w", err)
	}
	for _, r := range rows {
		out[r.EnteID] = append(out[r.EnteID], r.Role)
	}
	return out, nil
}

// SpanEnte is one ente of a Span: its id and name, the roles the user holds there and
// the address of its portal.
type SpanEnte struct {
	ID, Name, BaseURL string
	Roles             []string
}

// Span is what a union's staff member reaches from the union's back office: the union
// itself and each member comune where they hold a role (by grant), in id order. It is
// put in the request's context by the staff guard on a union's host, and read by the
// pages that list records of several comuni (ScopedSet over the enti holding the
// page's role).
type Span []SpanEnte

type spanKey struct{}

// WithSpan returns ctx carrying the union user's span.
func WithSpan(ctx context.Context, s Span) context.Context {
	return context.WithValue(ctx, spanKey{}, s)
}

// SpanFrom returns the span of the request (nil outside a union's back office or for
// a user with no grant in any member comune).
func SpanFrom(ctx context.Context) Span {
	s, _ := ctx.Value(spanKey{}).(Span)
	return s
}

// Holding returns the enti of the span where the user holds any of roles (an
// administrator holds every role), in span order.
func (s Span) Holding(admin string, roles ...string) Span {
	var out Span
	for _, e := range s {
		if slices.ContainsFunc(e.Roles, func(r string) bool { return r == admin || slices.Contains(roles, r) }) {
			out = append(out, e)
		}
	}
	return out
}

// IDs returns the ids of the span's enti.
func (s Span) IDs() []string {
	out := make([]string, len(s))
	for i, e := range s {
		out[i] = e.ID
	}
	return out
}

// Get returns the span's ente id, if it is there.
func (s Span) Get(id string) (SpanEnte, bool) {
	for _, e := range s {
		if e.ID == id {
			return e, true
		}
	}
	return SpanEnte{}, false
}
