package ztl

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/jobs"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store"
)

// Jobs implements services.Jobs.
func (m *Module) Jobs() []jobs.Job {
	return []jobs.Job{
		{Name: "ztl/foto-transiti", Schedule: jobs.DailyAt(3, 15), Run: m.purgePhotos},
		{Name: "ztl/scadenze", Schedule: jobs.DailyAt(7, 30), Run: m.expiries},
		{Name: "ztl/tariffe", Schedule: jobs.Every(15 * time.Minute), Run: m.withdrawFees},
	}
}

// purgePhotos deletes the photos of transits older than the retention period, in
// every ente. Safe to run again: it only touches photos still present.
func (m *Module) purgePhotos(ctx context.Context, now time.Time) error {
	return m.each(ctx, func(ctx context.Context) error {
		_, err := purgePhotos(ctx, m.store(ctx), now, m.settingsFor(ctx).PhotoRetentionDays)
		return err
	})
}

func purgePhotos(ctx context.Context, db *gorm.DB, now time.Time, days int) (int64, error) {
	res := db.WithContext(ctx).Model(&Transit{}).
		Where("at < ? AND photo_deleted_at IS NULL", now.AddDate(0, 0, -days)).
		Updates(map[string]any{"photo": nil, "photo_deleted_at": now})
	return res.RowsAffected, res.Error
}

// expiries releases the household places of expired resident permits and queues the
// reminders of permits (and badges) that end within the reminder period.
func (m *Module) expiries(ctx context.Context, now time.Time) error {
	return m.each(ctx, func(ctx context.Context) error {
		db := m.store(ctx)
		if err := releaseExpired(ctx, db, now); err != nil {
			return err
		}
		_, err := m.remind(ctx, db, now)
		return err
	})
}

func releaseExpired(ctx context.Context, db *gorm.DB, now time.Time) error {
	var ps []Permit
	if err := db.Where("slot_held = ? AND valid_to <= ?", true, now).Limit(1000).Find(&ps).Error; err != nil {
		return err
	}
	for i := range ps {
		if err := store.WithTx(ctx, db, func(tx *gorm.DB) error { return releaseSlots(ctx, tx, &ps[i], now) }); err != nil {
			return err
		}
	}
	return nil
}

// remind queues one mail per permit ending within the reminder period; reminded_at is
// set in the mail's transaction by a conditional UPDATE, so a second run (or replica)
// sends nothing twice.
func (m *Module) remind(ctx context.Context, db *gorm.DB, now time.Time) (int, error) {
	var ps []Permit
	err := db.Where("status = ? AND reminded_at IS NULL AND email <> '' AND valid_to > ? AND valid_to <= ?",
		StatusActive, now, now.AddDate(0, 0, m.settingsFor(ctx).ReminderDays)).Limit(1000).Find(&ps).Error
	if err != nil {
		return 0, err
	}
	base := m.baseURL(ctx)
	i18n := m.render.I18n()
	sent := 0
	for _, p := range ps {
		err := store.WithTx(ctx, db, func(tx *gorm.DB) error {
			res := tx.Model(&Permit{}).Where("id = ? AND reminded_at IS NULL", p.ID).Update("reminded_at", now)
			if res.Error != nil || res.RowsAffected == 0 {
				return res.Error
			}
			key := "ztl.mail.expiry"
			if p.BadgeExpiry != nil && !addDays(*p.BadgeExpiry, 1).After(p.ValidTo) {
				key = "ztl.mail.badge_expiry"
			}
			last := addDays(p.ValidTo, -1).In(rome).Format("02/01/2006")
			args := []any{"Name", p.HolderName, "Code", p.Code, "Date", last, "URL", base + "/servizi/ztl/permessi/" + p.Code}
			text := i18n.T("it", key+"_text", args...) + "\n\n---\n\n" + i18n.T("en", key+"_text", args...)
			if _, err := m.mail.Enqueue(ctx, tx, notify.Message{To: p.Email, ToName: p.HolderName,
				Subject: i18n.T("it", key+"_subject", "Code", p.Code, "Date", last), Text: text, Kind: "ztl.expiry",
				CitizenCF: p.HolderCF}); err != nil {
				return fmt.Errorf("ztl: reminder of %s: %w", p.Code, err)
			}
			sent++
			return nil
		})
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}
