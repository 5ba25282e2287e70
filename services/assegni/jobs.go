package assegni

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store"
)

// remind is the daily job: in every ente, a citizen whose application is still a
// draft when the last day to apply is ReminderDays away or less is mailed once (the
// reminder row and the mail are one transaction; the row's key makes it once).
func (m *Module) remind(ctx context.Context, now time.Time) error {
	return m.each(ctx, func(ctx context.Context) error {
		_, err := m.RemindDrafts(ctx, now)
		return err
	})
}

// RemindDrafts mails the reminders due at now in ctx's ente and returns how many.
func (m *Module) RemindDrafts(ctx context.Context, now time.Time) (int, error) {
	drafts, err := m.cases.Drafts(ctx, ID, CaseType, now.Add(-time.Hour), 1000)
	if err != nil {
		return 0, err
	}
	today, sent := Day(now), 0
	reminderDays := m.settingsFor(ctx).ReminderDays
	for _, c := range drafts {
		if c.ApplicantEmail == "" {
			continue
		}
		v := values(c)
		o, _, err := m.judge(ctx, m.store(ctx), c.ApplicantCF, v)
		if err != nil && o.LastDay.IsZero() {
			continue // nothing to remind of: no scheme or no deadline
		}
		if o.LastDay.IsZero() || o.DaysLeft < 0 || DaysLeft(today, o.LastDay) > reminderDays {
			continue
		}
		days := DaysLeft(today, o.LastDay)
		link := m.baseURL(ctx) + FormPath + fmt.Sprintf("/%d/riepilogo", c.ID)
		t := func(lang, key string) string {
			return m.i18n.T(lang, key, "Scheme", o.Scheme.Title(lang), "Days", days,
				"LastDay", o.LastDay.Format("02/01/2006"), "Link", link, "Name", c.ApplicantName)
		}
		err = store.WithTx(ctx, m.store(ctx), func(tx *gorm.DB) error {
			if err := tx.Create(&Reminder{CaseID: c.ID, Kind: "scadenza", SentAt: now.UTC()}).Error; err != nil {
				return err
			}
			_, err := m.mail.Enqueue(ctx, tx, notify.Message{To: c.ApplicantEmail, ToName: c.ApplicantName,
				Subject: t("it", "assegni.mail.reminder.subject") + " / " + t("en", "assegni.mail.reminder.subject"),
				Text:    t("it", "assegni.mail.reminder.text") + "\n\n-----\n\n" + t("en", "assegni.mail.reminder.text"),
				Kind:    ID + ".reminder", CitizenCF: c.ApplicantCF})
			return err
		})
		if errors.Is(err, store.ErrDuplicate) {
			continue // reminded already
		}
		if err != nil {
			return sent, err
		}
		sent++
	}
	return sent, nil
}

// RunReminders runs the reminder job's pass at now (every ente); tests and the
// job's function use it.
func (m *Module) RunReminders(ctx context.Context, now time.Time) error { return m.remind(ctx, now) }
