package ztl

import (
	"context"

	"gorm.io/gorm"
)

// SeedDemo implements services.DemoSeeder: every ente offering the module gets the
// fictional default zones and permit categories (idempotent). Permits are not seeded:
// they come from applications, which the demo walks through.
func (m *Module) SeedDemo(ctx context.Context, _ *gorm.DB) error {
	if m.each == nil {
		return nil
	}
	return m.each(ctx, func(ctx context.Context) error { return ensureDefaults(ctx, m.store(ctx)) })
}
