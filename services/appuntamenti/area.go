package appuntamenti

import (
	"context"
	"time"

	"github.com/comuni-italiani/sportello/services"
)

// PersonalArea implements services.PersonalArea: the citizen's coming appointments
// (the page of each offers move and cancel) and the latest past ones.
func (m *Module) PersonalArea(ctx context.Context, cf, lang string) ([]services.AreaSection, error) {
	list, err := m.Mine(ctx, cf)
	if err != nil {
		return nil, err
	}
	offices := map[string]string{}
	var os []Office
	if err := m.store(ctx).Find(&os).Error; err != nil {
		return nil, err
	}
	for _, o := range os {
		offices[o.ID] = o.Name
	}
	sec := services.AreaSection{Title: "appuntamenti.area.title", More: base + "/miei"}
	for i, b := range list {
		if i == 5 {
			break
		}
		sec.Items = append(sec.Items, services.AreaItem{
			Label:  m.i18n.T(lang, "appuntamenti.service."+b.Service),
			Detail: b.StartsAt.In(rome).Format("02/01/2006 15:04") + " - " + offices[b.OfficeID],
			Status: "appuntamenti.status." + b.Status, Href: base + "/prenotazione/" + b.ID})
	}
	return []services.AreaSection{sec}, nil
}

// Stats implements services.Stats: bookings made this month, the average lead time to
// the first free slot (days, tenths not shown) and the no-show rate of this month's
// bookings already seen by the desk (attended or not), for the ente of ctx.
func (m *Module) Stats(ctx context.Context) ([]services.Stat, error) {
	now := m.now()
	d := DayOf(now)
	monthStart := time.Date(d.Y, d.M, 1, 0, 0, 0, 0, rome).UTC()
	db := m.store(ctx)
	var rows []Booking
	if err := db.Select("status", "created_at", "first_free_at", "starts_at").Where("created_at >= ?", monthStart).Find(&rows).Error; err != nil {
		return nil, err
	}
	var lead time.Duration
	var nLead int64
	for _, b := range rows {
		if b.FirstFreeAt != nil {
			lead += b.FirstFreeAt.Sub(b.CreatedAt)
			nLead++
		}
	}
	var past, noShow int64
	if err := db.Model(&Booking{}).Where("starts_at >= ? AND status IN ?", monthStart,
		[]string{StatusCheckedIn, StatusNoShow}).Count(&past).Error; err != nil {
		return nil, err
	}
	if err := db.Model(&Booking{}).Where("starts_at >= ? AND status = ?", monthStart, StatusNoShow).Count(&noShow).Error; err != nil {
		return nil, err
	}
	var avgDays, pct int64
	if nLead > 0 {
		avgDays = int64((lead / time.Duration(nLead)).Hours() / 24)
	}
	if past > 0 {
		pct = noShow * 100 / past
	}
	href := "/backoffice/" + ID + "/"
	r := []string{RoleDesk}
	return []services.Stat{
		{Label: "appuntamenti.stats.booked", Value: int64(len(rows)), Href: href, Roles: r},
		{Label: "appuntamenti.stats.lead_days", Value: avgDays, Href: href, Roles: r},
		{Label: "appuntamenti.stats.no_show_pct", Value: pct, Href: href, Roles: r},
	}, nil
}
