package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/services"
)

// SeedDemo loads the fictional demo comune: the platform's demo data and every
// module's. It is idempotent. It returns a report for the operator (what was loaded
// and, once login exists, the demo accounts).
func (a *App) SeedDemo(ctx context.Context) (string, error) {
	var b strings.Builder
	list := a.enti.All(ctx)
	if len(list) == 0 {
		return "", fmt.Errorf("demo: no ente configured")
	}
	for _, e := range list {
		ctx := enti.WithEnte(ctx, e)
		if e.ID != a.cfg.Comune.ID {
			// Each further ente gets an administrator of its own; a union's is
			// granted the role in every member comune too.
			user := "demo.admin." + e.ID
			secret, err := a.demoStaff(ctx, user, "Rita", "Moro", roles.Admin)
			if err != nil {
				return "", fmt.Errorf("demo staff %s: %w", user, err)
			}
			fmt.Fprintf(&b, "Demo: %s\n  staff    %-24s role admin  TOTP secret %s\n", e.Name, user, secret)
			if e.Kind == enti.KindUnione {
				// The union's administrator is given the role in each member comune
				// (staff grants): the union's back office then spans them.
				for _, m := range list {
					if m.ParentID != e.ID {
						continue
					}
					if _, err := a.StaffGrants().Change(ctx, "system:demo", false, user, m.ID, roles.Admin); err != nil {
						return "", fmt.Errorf("demo grant %s in %s: %w", user, m.ID, err)
					}
					fmt.Fprintf(&b, "  grant    %-24s role admin in %s\n", user, m.Name)
				}
			}
		}
		if e.Kind == enti.KindUnione {
			// A union hosts its comuni; it has no register of its own.
			continue
		}
		fmt.Fprintf(&b, "Demo: %s (all data is fictional)\n", e.Name)
		if err := a.markDemo(ctx, demoPart(e, a.cfg.Comune.ID, "anagrafe")); err != nil {
			return "", err
		}
		// Every ente gets the same fictional register, so that the isolation of one
		// comune's data from another's shows with the same people in both.
		if err := anagrafe.SeedDemo(ctx, a.db); err != nil {
			return "", fmt.Errorf("demo population register of %s: %w", e.ID, err)
		}
		fmt.Fprintln(&b, "  population register: fictional residents and households loaded")
		if e.ID == a.cfg.Comune.ID {
			// Demo accounts are the installation's (identities, like SPID), homed at
			// the configured comune.
			if err := a.markDemo(ctx, "accounts"); err != nil {
				return "", err
			}
			if err := a.seedDemoAccounts(ctx, &b); err != nil {
				return "", err
			}
		}
		for _, m := range a.modules {
			s, ok := m.(services.DemoSeeder)
			if !ok || !e.Offers(m.Info().ID) {
				continue
			}
			// Marked first: a failure halfway still leaves the mark.
			if err := a.markDemo(ctx, demoPart(e, a.cfg.Comune.ID, m.Info().ID)); err != nil {
				return "", err
			}
			if err := s.SeedDemo(ctx, enti.For(ctx, a.db)); err != nil {
				return "", fmt.Errorf("demo data of module %s for %s: %w", m.Info().ID, e.ID, err)
			}
			fmt.Fprintf(&b, "  module %s: demo data loaded\n", m.Info().ID)
		}
	}
	return b.String(), nil
}

// demoPart names a part of the demo data in demo_seeds: the configured comune's keep
// the names they had before several comuni.
func demoPart(e *enti.Ente, primary, part string) string {
	if e.ID == primary {
		return part
	}
	return part + "@" + e.ID
}
