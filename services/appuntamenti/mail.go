package appuntamenti

import (
	"context"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/notify"
)

// invitation is the booking as an iCalendar file (METHOD:PUBLISH: the citizen's
// calendar adds it; the comune is not an organiser waiting for replies). Times are
// written in UTC, so that no VTIMEZONE block is needed and summer time cannot shift
// them.
func (m *Module) invitation(ctx context.Context, b Booking, o Office, lang string) ([]byte, error) {
	cal := ics.NewCalendar()
	cal.SetMethod(ics.MethodPublish)
	cal.SetProductId("-//Sportello del Cittadino//Appuntamenti//IT")
	ev := cal.AddEvent(b.ID + "@" + ID + "." + hostOf(m.baseURL(ctx)))
	ev.SetDtStampTime(b.CreatedAt.UTC())
	ev.SetStartAt(b.StartsAt.UTC())
	ev.SetEndAt(b.EndsAt.UTC())
	ev.SetSummary(m.i18n.T(lang, "appuntamenti.mail.ics_summary", "Service", m.i18n.T(lang, "appuntamenti.service."+b.Service)))
	ev.SetLocation(o.Name + ", " + o.Address)
	ev.SetDescription(m.i18n.T(lang, "appuntamenti.mail.ics_description", "Ref", b.ID))
	if b.Guest && b.ManageLink != "" {
		ev.SetURL(m.baseURL(ctx) + b.ManageLink)
	} else {
		ev.SetURL(m.baseURL(ctx) + base + "/prenotazione/" + b.ID)
	}
	var sb strings.Builder
	if err := cal.SerializeTo(&sb); err != nil {
		return nil, err
	}
	return []byte(sb.String()), nil
}

func hostOf(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	if i := strings.IndexAny(u, "/:"); i >= 0 {
		u = u[:i]
	}
	return u
}

// when formats the appointment's time for mails, in Europe/Rome.
func when(t time.Time, lang string) string {
	t = t.In(rome)
	if lang == "en" {
		return t.Format("Monday 2 January 2006, 15:04")
	}
	return weekdayIT[t.Weekday()] + " " + t.Format("02/01/2006, 15:04")
}

var weekdayIT = [...]string{"domenica", "lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato"}

// bookingMail builds a mail about b; key is "booked", "moved", "cancelled",
// "reminder", "confirm" or "released" (the message keys appuntamenti.mail.<key>.subject and .text).
func (m *Module) bookingMail(ctx context.Context, tx *gorm.DB, b Booking, o Office, key, lang string, withICS bool) (notify.Message, error) {
	link := m.baseURL(ctx) + base + "/prenotazione/" + b.ID
	if b.Guest && b.Active() {
		// Without an account the citizen manages the booking from a mailed link.
		if b.ManageLink == "" {
			raw, err := m.mintManage(tx, b)
			if err != nil {
				return notify.Message{}, err
			}
			b.ManageLink = guestManagePath(raw)
		}
		link = m.baseURL(ctx) + b.ManageLink
	} else if b.Guest {
		link = m.baseURL(ctx) + guestBase
	}
	until := ""
	if b.ConfirmBy != nil {
		until = when(*b.ConfirmBy, lang)
	}
	deskLine := ""
	if b.Desk > 0 && tx != nil {
		names, err := deskNames(tx, b.OfficeID)
		if err != nil {
			return notify.Message{}, err
		}
		deskLine = "\n" + m.i18n.T(lang, "appuntamenti.mail.desk", "Desk", m.deskLabel(lang, names, b.Service, b.Desk))
	}
	t := func(k string) string {
		return m.i18n.T(lang, k, "Service", m.i18n.T(lang, "appuntamenti.service."+b.Service), "When", when(b.StartsAt, lang), "Until", until,
			"DeskLine", deskLine,
			"Office", o.Name, "Address", o.Address, "Ref", b.ID, "Link", link,
			"Fee", m.settingsFor(ctx).Fee(lang), "Hours", m.settingsFor(ctx).CancelHours)
	}
	msg := notify.Message{To: b.Email, ToName: b.Name, Subject: t("appuntamenti.mail." + key + ".subject"),
		Text: t("appuntamenti.mail." + key + ".text"), Kind: ID + "." + key, CitizenCF: b.CitizenCF}
	if withICS {
		data, err := m.invitation(ctx, b, o, lang)
		if err != nil {
			return msg, err
		}
		msg.Attachments = []notify.Attachment{{Name: "appuntamento.ics", ContentType: "text/calendar; method=PUBLISH; charset=utf-8", Data: data}}
	}
	return msg, nil
}

func (m *Module) officeOf(ctx context.Context, id string) (Office, error) {
	var o Office
	err := m.store(ctx).Where("id = ?", id).Take(&o).Error
	return o, err
}

// bookedMail returns a Request.Notify that queues the confirmation (or move) mail,
// with its invitation, in the booking's transaction.
func (m *Module) bookedMail(ctx context.Context, lang string, moved bool) func(tx *gorm.DB, b *Booking) error {
	return func(tx *gorm.DB, b *Booking) error {
		var o Office
		if err := tx.Where("id = ?", b.OfficeID).Take(&o).Error; err != nil {
			return err
		}
		key := "booked"
		if moved {
			key = "moved"
		}
		msg, err := m.bookingMail(ctx, tx, *b, o, key, lang, true)
		if err != nil {
			return err
		}
		_, err = m.mail.Enqueue(ctx, tx, msg)
		return err
	}
}

// cancelledMail returns a notify function for Cancel that queues the mail confirming
// the cancellation in its transaction.
func (m *Module) cancelledMail(ctx context.Context, lang string) func(tx *gorm.DB, b *Booking) error {
	return func(tx *gorm.DB, b *Booking) error {
		var o Office
		if err := tx.Where("id = ?", b.OfficeID).Take(&o).Error; err != nil {
			return err
		}
		msg, err := m.bookingMail(ctx, tx, *b, o, "cancelled", lang, false)
		if err != nil {
			return err
		}
		_, err = m.mail.Enqueue(ctx, tx, msg)
		return err
	}
}

func notifyMessage(to, name, subject, text, kind, cf string) notify.Message {
	return notify.Message{To: to, ToName: name, Subject: subject, Text: text, Kind: kind, CitizenCF: cf}
}
