package appuntamenti

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/jobs"
)

// Jobs implements services.Jobs: the reminder mail every 15 minutes, the expiry of
// waiting-list offers and the confirmations (asked, or the booking released) every
// minute, per ente.
func (m *Module) Jobs() []jobs.Job {
	return []jobs.Job{
		{Name: ID + "/promemoria", Schedule: jobs.Every(15 * time.Minute), Run: m.SendReminders},
		{Name: ID + "/offerte", Schedule: jobs.Every(time.Minute), Run: m.ExpireOffers},
		{Name: ID + "/conferme", Schedule: jobs.Every(time.Minute), Run: m.ConfirmJob},
		{Name: ID + "/diritti", Schedule: jobs.Every(15 * time.Minute), Run: m.CancelOrphanFees},
	}
}

// SendReminders mails a reminder for every active booking starting within
// ReminderHours that has had none. Each booking is marked and its mail queued in one
// transaction with a conditional UPDATE (reminded_at IS NULL), so a run that is
// repeated after a crash, or two runs at once, never remind twice.
func (m *Module) SendReminders(ctx context.Context, now time.Time) error {
	return m.forEachEnte(ctx, func(ctx context.Context) error {
		var due []Booking
		db := m.store(ctx)
		if err := db.Where("status = ? AND reminded_at IS NULL AND starts_at > ? AND starts_at <= ?", StatusBooked,
			now.UTC(), now.Add(time.Duration(m.settingsFor(ctx).ReminderHours)*time.Hour).UTC()).
			Order("starts_at").Limit(1000).Find(&due).Error; err != nil {
			return err
		}
		offices := map[string]Office{}
		var errs []error
		for _, b := range due {
			o, ok := offices[b.OfficeID]
			if !ok {
				var err error
				if o, err = m.officeOf(ctx, b.OfficeID); err != nil {
					errs = append(errs, err)
					continue
				}
				offices[b.OfficeID] = o
			}
			err := db.Transaction(func(tx *gorm.DB) error {
				res := tx.Model(&Booking{}).Where("id = ? AND reminded_at IS NULL AND status = ?", b.ID, StatusBooked).
					Update("reminded_at", now.UTC())
				if res.Error != nil || res.RowsAffected != 1 {
					return res.Error
				}
				msg, err := m.bookingMail(ctx, tx, b, o, "reminder", mailLang(b.Lang), true)
				if err != nil {
					return err
				}
				_, err = m.mail.Enqueue(ctx, tx, msg)
				return err
			})
			if err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}
