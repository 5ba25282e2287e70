package ztl

import (
	"context"
	"strings"

	"github.com/comuni-italiani/sportello/services"
)

// PersonalArea implements services.PersonalArea: the citizen's latest permits.
func (m *Module) PersonalArea(ctx context.Context, cf, lang string) ([]services.AreaSection, error) {
	db := m.store(ctx)
	var ps []Permit
	if err := db.Where("holder_cf = ?", cf).Order("valid_to DESC, id DESC").Limit(5).Find(&ps).Error; err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, nil
	}
	vs, err := m.views(ctx, db, ps, m.clock())
	if err != nil {
		return nil, err
	}
	sec := services.AreaSection{Title: "ztl.mine.title", More: "/servizi/ztl/permessi"}
	for _, v := range vs {
		var plates []string
		for _, p := range v.Plates {
			plates = append(plates, p.Plate)
		}
		sec.Items = append(sec.Items, services.AreaItem{
			Label:  v.Category.Name(lang) + " " + v.Code,
			Detail: strings.Join(plates, ", ") + " · " + v.ValidFrom.In(rome).Format("02/01/2006") + " – " + v.LastDay().In(rome).Format("02/01/2006"),
			Status: v.StateKey(), Href: "/servizi/ztl/permessi/" + v.Code,
		})
	}
	return []services.AreaSection{sec}, nil
}
