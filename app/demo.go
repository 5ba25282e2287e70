package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/services"
)

// SeedDemo loads the fictional demo comune: the platform's demo data and every
// module's. It is idempotent. It returns a report for the operator (what was loaded
// and, once login exists, the demo accounts).
func (a *App) SeedDemo(ctx context.Context) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "Demo comune: %s (all data is fictional)\n", a.cfg.Comune.Name)
	if err := a.markDemo(ctx, "anagrafe"); err != nil {
		return "", err
	}
	if err := anagrafe.SeedDemo(ctx, a.db); err != nil {
		return "", fmt.Errorf("demo population register: %w", err)
	}
	fmt.Fprintln(&b, "  population register: fictional residents and households loaded")
	if err := a.markDemo(ctx, "accounts"); err != nil {
		return "", err
	}
	if err := a.seedDemoAccounts(ctx, &b); err != nil {
		return "", err
	}
	for _, m := range a.modules {
		if s, ok := m.(services.DemoSeeder); ok {
			// Marked first: a failure halfway still leaves the mark.
			if err := a.markDemo(ctx, m.Info().ID); err != nil {
				return "", err
			}
			if err := s.SeedDemo(ctx, a.db); err != nil {
				return "", fmt.Errorf("demo data of module %s: %w", m.Info().ID, err)
			}
			fmt.Fprintf(&b, "  module %s: demo data loaded\n", m.Info().ID)
		}
	}
	return b.String(), nil
}
