package certificates

import (
	"context"
	"errors"
	"github.com/comuni-italiani/sportello/app/enti"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/services"
)

// PersonalArea implements services.PersonalArea: the citizen's latest certificates
// with their status and how often each was verified.
func (m *Module) PersonalArea(ctx context.Context, cf, lang string) ([]services.AreaSection, error) {
	rows, err := m.Mine(ctx, cf, 5)
	if err != nil {
		return nil, err
	}
	sec := services.AreaSection{Title: "certificati.area.title", More: "/servizi/" + ID + "/miei", Tab: services.TabActivity}
	for _, r := range rows {
		t, _ := TypeByID(r.Type)
		key := "certificati.area.detail"
		if r.Verifications == 0 {
			key = "certificati.area.detail_never" // not "verificato 0 volte"
		}
		detail := m.i18n.T(lang, key, "Date", r.IssuedAt.In(rome).Format("02/01/2006"),
			"Holder", r.HolderName, "Count", r.Verifications)
		sec.Items = append(sec.Items, services.AreaItem{Label: m.i18n.T(lang, t.TitleKey()), Detail: detail,
			Status: r.Verdict.StatusKey(), Href: "/servizi/" + ID + "/miei/" + r.ID})
	}
	return []services.AreaSection{sec}, nil
}

// StatusKey is the message key of the verdict as a certificate's status in lists
// ("Valido", "Scaduto").
func (v Verdict) StatusKey() string { return "certificati.status." + string(v) }

// Stats implements services.Stats: certificates issued today, valid now, revoked.
func (m *Module) Stats(ctx context.Context) ([]services.Stat, error) {
	now := m.now()
	y, mo, d := now.In(rome).Date()
	today := time.Date(y, mo, d, 0, 0, 0, 0, rome).UTC()
	db := enti.For(ctx, m.db).Model(&Certificate{})
	var issued, valid, revoked int64
	if err := db.Session(&gorm.Session{}).Where("issued_at >= ?", today).Count(&issued).Error; err != nil {
		return nil, err
	}
	if err := db.Session(&gorm.Session{}).Where("status = ? AND (expires_at IS NULL OR expires_at > ?)", StatusValid, now.UTC()).
		Count(&valid).Error; err != nil {
		return nil, err
	}
	if err := db.Session(&gorm.Session{}).Where("status = ?", StatusRevoked).Count(&revoked).Error; err != nil {
		return nil, err
	}
	href := "/backoffice/" + ID + "/"
	return []services.Stat{
		{Label: "certificati.stats.today", Value: issued, Href: href},
		{Label: "certificati.stats.valid", Value: valid, Href: href},
		{Label: "certificati.stats.revoked", Value: revoked, Href: href},
	}, nil
}

// SeedDemo implements services.DemoSeeder: the demo register (anagrafe.SeedDemo,
// idempotent) and one sample residence certificate for the demo citizen, unless she
// already has a certificate.
func (m *Module) SeedDemo(ctx context.Context, db *gorm.DB) error {
	if err := anagrafe.SeedDemo(ctx, db); err != nil {
		return err
	}
	if m.ring == nil {
		return errors.New("certificates: SeedDemo before Mount")
	}
	var n int64
	if err := enti.For(ctx, db).Model(&Certificate{}).Where("requester_cf = ?", anagrafe.DemoCitizenCF).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		if _, err := m.Issue(ctx, Request{RequesterCF: anagrafe.DemoCitizenCF, HolderCF: anagrafe.DemoCitizenCF,
			Type: TypeResidence, Bollo: BolloDue, RequestID: "demo"}); err != nil {
			return err
		}
	}
	return m.seedBolloDemo(ctx, db) // bollo.go
}
