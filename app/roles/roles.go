// Package roles names the staff roles of the portal. The platform declares its own
// (Admin, URP); each module declares the roles its staff pages need through the
// optional interface services.Roles; app.New assembles the portal's list with
// Assemble, and the staff administration offers and accepts only that list.
//
// A role id is stored in accounts (space separated) and carried in the embedded
// provider's "roles" claim, so it must never change once in use.
package roles

import (
	"fmt"
	"regexp"
	"slices"
)

// The platform's roles. Module roles are constants in their module (for example
// certificates.RoleOfficer).
const (
	// Admin holds every role (web.Viewer.HasRole) and administers staff, the audit log,
	// outgoing mail and scheduled jobs.
	Admin = "admin"
	// URP is the public relations office operator: the credential desk.
	URP = "urp_operator"
	// Payments is the accounting office (ragioneria): the pagoPA positions, the daily
	// reconciliation export, cancellations.
	Payments = "payments_officer"
)

// Def describes one staff role. Title and Description are message keys.
type Def struct {
	ID          string
	Title       string
	Description string
}

// Platform returns the platform's own roles, in the order forms show them.
func Platform() []Def {
	return []Def{
		{ID: URP, Title: "accounts.role.urp_operator", Description: "accounts.role_desc.urp_operator"},
		{ID: Payments, Title: "payments.role.title", Description: "payments.role.description"},
		{ID: Admin, Title: "accounts.role.admin", Description: "accounts.role_desc.admin"},
	}
}

// validID is the shape of a role id: it is stored space-separated.
var validID = regexp.MustCompile(`^[a-z][a-z0-9_]{1,49}$`)

// List is an assembled list of roles, in the order forms show them.
type List []Def

// Assemble joins the platform's roles and the modules' into one list: the modules'
// first, in module order, then the platform's (Admin last). It refuses an id that is
// malformed, declared twice, or lacks its message keys.
func Assemble(platform []Def, modules ...[]Def) (List, error) {
	var out List
	seen := map[string]bool{}
	add := func(d Def) error {
		if !validID.MatchString(d.ID) {
			return fmt.Errorf("roles: role id %q: want lower-case letters, digits and _", d.ID)
		}
		if seen[d.ID] {
			return fmt.Errorf("roles: role %q declared twice", d.ID)
		}
		if d.Title == "" || d.Description == "" {
			return fmt.Errorf("roles: role %q has no title or description key", d.ID)
		}
		seen[d.ID] = true
		out = append(out, d)
		return nil
	}
	var plat []Def
	for _, d := range platform {
		if d.ID == Admin {
			continue
		}
		plat = append(plat, d)
	}
	for _, group := range append([][]Def{plat}, modules...) {
		for _, d := range group {
			if err := add(d); err != nil {
				return nil, err
			}
		}
	}
	for _, d := range platform {
		if d.ID == Admin {
			if err := add(d); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// IDs returns the role ids, in order.
func (l List) IDs() []string {
	ids := make([]string, len(l))
	for i, d := range l {
		ids[i] = d.ID
	}
	return ids
}

// Has reports whether id is in the list.
func (l List) Has(id string) bool {
	return slices.ContainsFunc(l, func(d Def) bool { return d.ID == id })
}

// Get returns the role id, if in the list.
func (l List) Get(id string) (Def, bool) {
	i := slices.IndexFunc(l, func(d Def) bool { return d.ID == id })
	if i < 0 {
		return Def{}, false
	}
	return l[i], true
}

// Title returns the title message key of role id, or "" for a role not in the list
// (one held by an account from before its module was switched off).
func (l List) Title(id string) string {
	d, _ := l.Get(id)
	return d.Title
}
