package ztl_test

import (
	"testing"

	"github.com/comuni-italiani/sportello/services/ztl"
)

// TestSeedDemo: the demo gives the ente its zones and categories, idempotently.
func TestSeedDemo(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		for range 2 {
			if err := e.m.SeedDemo(e.Ctx(bg), e.DB); err != nil {
				t.Fatal(err)
			}
		}
		var cats, zones int64
		e.scoped().Model(&ztl.Category{}).Count(&cats)
		e.scoped().Model(&ztl.Zone{}).Count(&zones)
		if cats != int64(len(ztl.DefaultCategories)) || zones != int64(len(ztl.DefaultZones)) {
			t.Errorf("%d categories and %d zones, want %d and %d", cats, zones, len(ztl.DefaultCategories), len(ztl.DefaultZones))
		}
	})
}
