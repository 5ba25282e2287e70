package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
)

// staffAccess is what a staff member may do on one ente's host: the roles they hold
// there and, on a union's host, the member comuni they reach (Span).
type staffAccess struct {
	ok    bool
	roles []string
	span  enti.Span
	at    time.Time
}

// accessCache keeps staffAccess answers for accountRecheck: a grant or a revocation
// made by another process (`sportello staff grant|revoke`) takes effect within that
// time; one made through this process (ChangeStaffGrant on the App) at once.
type accessCache struct {
	mu sync.Mutex
	m  map[string]staffAccess
}

func (c *accessCache) get(key string) (staffAccess, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[key]
	if !ok || time.Since(s.at) >= accountRecheck {
		return staffAccess{}, false
	}
	return s, true
}

func (c *accessCache) put(key string, s staffAccess) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 100000 {
		c.m = map[string]staffAccess{}
	}
	s.at = time.Now()
	c.m[key] = s
}

func (c *accessCache) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// staffAccessHere works out what the staff member v may do on the request's ente:
//   - in their home ente, the roles of their login (their account's) and any granted
//     there;
//   - in another ente, only the roles granted there (enti.Grant), and only if it is a
//     member comune of their home union; no grant, no access;
//   - on their home union's host, also the Span of the member comuni where they hold
//     grants, for the union-wide lists.
//
// Identities from another provider, with no account here, carry no home ente and are
// judged by their login's roles alone, as before.
func (a *App) staffAccessHere(ctx context.Context, v *web.Viewer) (staffAccess, error) {
	e := enti.FromContext(ctx)
	if e == nil || a.accounts == nil {
		return staffAccess{ok: true, roles: v.Roles}, nil
	}
	key := v.ID + "@" + e.ID + "#" + fmt.Sprint(v.Roles)
	if s, ok := a.access.get(key); ok {
		return s, nil
	}
	acc, err := a.accounts.ByUsername(ctx, v.ID)
	if errors.Is(err, accounts.ErrNotFound) {
		return staffAccess{ok: true, roles: v.Roles}, nil
	}
	if err != nil {
		return staffAccess{}, err
	}
	var s staffAccess
	if acc.Kind == accounts.KindStaff {
		s, err = a.accessOf(ctx, acc, v.Roles, e)
		if err != nil {
			return staffAccess{}, err
		}
	}
	a.access.put(key, s)
	return s, nil
}

func (a *App) accessOf(ctx context.Context, acc *accounts.Account, own []string, e *enti.Ente) (staffAccess, error) {
	g := enti.NewGrants(a.db)
	ids := []string{e.ID}
	var members []*enti.Ente
	if e.Kind == enti.KindUnione && acc.EnteID == e.ID {
		for _, m := range a.enti.All(ctx) {
			if m.ParentID == e.ID {
				members = append(members, m)
				ids = append(ids, m.ID)
			}
		}
	}
	granted, err := g.RolesIn(ctx, acc.ID, ids...)
	if err != nil {
		return staffAccess{}, err
	}
	var s staffAccess
	switch {
	case acc.EnteID == e.ID:
		s.ok = true
		s.roles = slices.Clone(own)
		for _, r := range granted[e.ID] {
			if !slices.Contains(s.roles, r) {
				s.roles = append(s.roles, r)
			}
		}
	case enti.CanGrant(acc.EnteID, e) && len(granted[e.ID]) > 0:
		s.ok, s.roles = true, granted[e.ID]
	default:
		return staffAccess{}, nil
	}
	if len(members) > 0 {
		span := enti.Span{{ID: e.ID, Name: e.Name, BaseURL: a.baseURLOf(e.ID), Roles: s.roles}}
		for _, m := range members {
			if r := granted[m.ID]; len(r) > 0 {
				span = append(span, enti.SpanEnte{ID: m.ID, Name: m.Name, BaseURL: a.baseURLOf(m.ID), Roles: r})
			}
		}
		slices.SortFunc(span[1:], func(x, y enti.SpanEnte) int { return compareStrings(x.Name, y.Name) })
		if len(span) > 1 {
			s.span = span
		}
	}
	return s, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// StaffGrants manages the roles staff hold in enti other than their home (the
// `sportello staff grant|revoke|grants` commands and tests).
type StaffGrants struct {
	DB       *gorm.DB
	Accounts *accounts.Service
	Enti     *enti.Store
	// Roles are the portal's roles; a grant names one of them.
	Roles roles.List
	// changed is called after a grant changes (the App forgets its cached answers).
	changed func()
}

// Errors of StaffGrants.
var (
	ErrNoStaffAccount = errors.New("no such staff account")
	ErrUnknownRole    = errors.New("unknown role")
)

// Change gives (revoke false) or takes back (revoke true) role in ente enteID to the
// staff account username, audited in that ente's log as actor (kind system for
// "system:…" actors such as "system:cli", else staff). It reports whether anything changed.
func (g StaffGrants) Change(ctx context.Context, actor string, revoke bool, username, enteID, role string) (bool, error) {
	acc, err := g.Accounts.ByUsername(ctx, username)
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && acc.Kind != accounts.KindStaff) {
		return false, fmt.Errorf("%w: %q", ErrNoStaffAccount, username)
	}
	if err != nil {
		return false, err
	}
	e, err := g.Enti.Get(ctx, enteID)
	if err != nil {
		return false, err
	}
	if !g.Roles.Has(role) {
		return false, fmt.Errorf("%w: %q (see `sportello staff roles`)", ErrUnknownRole, role)
	}
	if !revoke && !enti.CanGrant(acc.EnteID, e) {
		return false, fmt.Errorf("%w (%s is staff of %s)", enti.ErrGrantPlace, username, acc.EnteID)
	}
	action := "staff.grant"
	var changed bool
	err = g.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		gs := enti.NewGrants(tx)
		if revoke {
			action = "staff.revoke"
			changed, err = gs.Remove(ctx, acc.ID, e.ID, role)
		} else {
			changed, err = gs.Add(ctx, enti.Grant{AccountID: acc.ID, EnteID: e.ID, Role: role, GrantedBy: actor})
		}
		if err != nil || !changed {
			return err
		}
		kind := audit.ActorStaff
		if strings.HasPrefix(actor, "system:") {
			kind = audit.ActorSystem
		}
		return audit.Record(enti.WithEnte(ctx, e), tx, audit.Entry{ActorKind: kind, ActorID: actor, Action: action,
			ObjectType: "account", ObjectID: acc.Username, Outcome: audit.OK,
			Details: map[string]any{"ente": e.ID, "role": role, "home": acc.EnteID}})
	})
	if err != nil {
		return false, err
	}
	if changed && g.changed != nil {
		g.changed()
	}
	return changed, nil
}

// List returns the grants of the staff account username.
func (g StaffGrants) List(ctx context.Context, username string) (*accounts.Account, []enti.Grant, error) {
	acc, err := g.Accounts.ByUsername(ctx, username)
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && acc.Kind != accounts.KindStaff) {
		return nil, nil, fmt.Errorf("%w: %q", ErrNoStaffAccount, username)
	}
	if err != nil {
		return nil, nil, err
	}
	list, err := enti.NewGrants(g.DB).Of(ctx, acc.ID)
	return acc, list, err
}

// StaffGrants returns the grant manager of this App; its changes take effect at once
// in this process.
func (a *App) StaffGrants() StaffGrants {
	return StaffGrants{DB: a.db, Accounts: a.accounts, Enti: enti.NewStore(a.db), Roles: a.roles, changed: a.access.clear}
}
