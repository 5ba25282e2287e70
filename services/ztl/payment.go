package ztl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/store"
)

// Permit fees through pagoPA (modules.settings.ztl.pagopa_fees: true, with pagoPA
// connected for the ente). The approval of an application whose category has a fee
// grants the permit "da pagare": it is recorded, with its places in the household's
// count, but its plates are not in the whitelist. The fee's debt position is written
// in the approval's own transaction (payments.RequestTx), so a permit never waits for
// a fee nobody asked for; the payments job publishes it on pagoPA within minutes (at
// once when the citizen pays online or downloads the notice). When pagoPA's receipt
// arrives, the payments platform calls feePaid once, in the receipt's transaction:
// the permit becomes active and its plates enter the whitelist from that moment.
//
// Why at approval and not at submission: a fee paid for an application the office
// then refuses would have to be refunded, which pagoPA does not do for the comune;
// the citizen pays for a permit the office has granted. Without pagopa_fees (or
// without pagoPA) the permit is active at approval and the fee is paid as before.
//
// The fee is due within feeDueDays of the approval, and never after the permit's own
// end (a two-day permit is paid before it ends). An unpaid permit keeps its places in
// the household's count until then: the office granted them, and the citizen has the
// due date to pay. What happens to a fee nobody will pay any more (job ztl/tariffe,
// withdrawFees, and at once after an officer's revocation):
//   - the permit was revoked, or ended unpaid: the position is withdrawn on pagoPA,
//     so nobody pays for a permit that no longer exists;
//   - the due date passed unpaid: the position is withdrawn and the permit lapses
//     (revoked by the system, reason stated), so its household places are released;
//     a renewal's places taken over from the permit it renews go back to that permit
//     if it still runs (releaseSlots, handBack).
//
// Before that, fee_reminder_days before the due date, the holder gets one reminder
// mail (remindFees).
// payments.Cancel asks pagoPA first: a fee paid meanwhile is recorded as paid (and
// the permit, if still waiting, activated by feePaid) instead of withdrawn. The
// withdrawal is a network call, so it runs after the revocation's transaction, never
// inside it. A receipt for a permit revoked meanwhile does not reactivate it: it is
// recorded in the audit log (ztl.fee_paid_revoked) for the office to refund.

// StatusUnpaid is a permit granted and waiting for its fee (stored).
const StatusUnpaid = "da_pagare"

// PurposeFee names a permit's fee in app/payments; the position's Ref is the permit's code.
const PurposeFee = ID + "/tariffa"

// feeDueDays is how long the citizen has to pay the fee of a granted permit.
const feeDueDays = 30

// defaultFeeReminderDays is how many days before the fee's due date the holder is
// reminded, unless the ente's fee_reminder_days says otherwise.
const defaultFeeReminderDays = 7

// feePayload is what the hook needs to activate the permit: its plates.
type feePayload struct {
	Permit string  `json:"permit"`
	Plates []Plate `json:"plates"`
}

// mountPayments connects the module to the payments platform; whether a comune
// collects permit fees through pagoPA is its own setting (feesOnline).
func (m *Module) mountPayments(p *payments.Service) {
	if p == nil {
		return
	}
	m.pay = p
	p.OnPaid(PurposeFee, m.feePaid)
}

// feesOnline reports whether ctx's ente collects permit fees through pagoPA: its
// pagopa_fees setting is on and pagoPA is connected for it.
func (m *Module) feesOnline(ctx context.Context) bool {
	return m.pay != nil && m.settingsFor(ctx).PagoPAFees && m.pay.Enabled(ctx)
}

// holdForFee is called by grant for permit p of category c before it is written: if
// the fee is collected through pagoPA, p is granted unpaid and the fee's position is
// written in tx; it returns true when the whitelist lines must wait for the payment.
func (m *Module) holdForFee(ctx context.Context, tx *gorm.DB, p *Permit, c *Category, plates []Plate, now time.Time) (bool, error) {
	if c.FeeCents <= 0 || !m.feesOnline(ctx) {
		return false, nil
	}
	p.Status = StatusUnpaid
	payload, err := json.Marshal(feePayload{Permit: p.Code, Plates: plates})
	if err != nil {
		return false, err
	}
	_, err = m.pay.RequestTx(ctx, tx, payments.Request{
		Purpose: PurposeFee, Ref: p.Code, PayerCF: p.HolderCF, PayerName: p.HolderName, AmountCents: c.FeeCents,
		Causale: clip140(fmt.Sprintf("Permesso ZTL %s - %s - protocollo %s", c.NameIT, p.Code, p.Protocol)),
		DueDate: feeDueDate(p, now), Payload: string(payload),
	}, payments.Actor{Kind: audit.ActorSystem, ID: ID})
	if err != nil {
		return false, fmt.Errorf("ztl: fee of permit %s: %w", p.Code, err)
	}
	return true, nil
}

// feePaid activates the permit whose fee position pos was paid, in the payment's
// transaction. The change is conditional on the permit still waiting (a revoked
// permit stays revoked), so its lines are written once.
func (m *Module) feePaid(ctx context.Context, tx *gorm.DB, pos *payments.Position) error {
	var fp feePayload
	if err := json.Unmarshal([]byte(pos.Payload), &fp); err != nil || fp.Permit == "" {
		return fmt.Errorf("ztl: position %s carries no permit", pos.ID)
	}
	db := scoped(ctx, tx)
	now := m.clock()
	res := db.Model(&Permit{}).Where("code = ? AND status = ?", fp.Permit, StatusUnpaid).
		Updates(map[string]any{"status": StatusActive, "updated_at": now})
	if res.Error != nil {
		return res.Error
	}
	var p Permit
	if err := db.Where("code = ?", fp.Permit).Take(&p).Error; err != nil {
		return err
	}
	if res.RowsAffected == 0 {
		if p.Status != StatusRevoked {
			return nil // already active
		}
		// Paid for a permit revoked meanwhile: it stays revoked; the office sees the
		// payment to refund.
		return audit.Record(ctx, tx, audit.Entry{ActorKind: audit.ActorSystem, ActorID: ID, Action: "ztl.fee_paid_revoked",
			SubjectCF: p.HolderCF, ObjectType: "ztl_permit", ObjectID: p.Code,
			Details: map[string]any{"position": pos.ID, "amount_cents": pos.AmountCents}})
	}
	from := p.ValidFrom
	if from.Before(now) {
		from = now
	}
	if !p.ValidTo.After(from) || len(fp.Plates) == 0 {
		return nil // paid after the permit's end: nothing to let in
	}
	lines := accessLines(&p, fp.Plates, from, p.ValidTo, false, now)
	return db.Create(&lines).Error
}

// feeDueDate is when the fee of permit p granted at now is due: at the end (midnight
// in Europe/Rome) of the feeDueDays-th day after the approval, or the permit's end if
// it comes first. Pages and mails give the last day to pay, the day before this
// instant, so a citizen paying on that day in the evening is still in time (an
// instant feeDueDays*24h after the approval lapsed the permit in the morning of the
// day the page named).
func feeDueDate(p *Permit, now time.Time) time.Time {
	due := addDays(dayOf(now), feeDueDays+1)
	if p.ValidTo.Before(due) {
		due = p.ValidTo
	}
	return due
}

// Reasons the citizen reads on a withdrawn fee (payments shows cancel_reason).
const (
	reasonRevoked = "Permesso ZTL revocato: la tariffa non è più dovuta"
	reasonEnded   = "Permesso ZTL scaduto senza pagamento: la tariffa non è più dovuta"
	reasonLapsed  = "Tariffa non pagata entro la scadenza: il permesso ZTL è decaduto"
)

// feeActor is who withdraws fees and lapses permits.
var feeActor = payments.Actor{Kind: audit.ActorSystem, ID: ID + "/tariffe"}

// withdrawFees runs the job ztl/tariffe in every ente: it withdraws the open fees of
// revoked permits and of permits that ended unpaid, lapses the unpaid permits whose
// fee is past its due date (see the comment at the top), and reminds the holders of
// the fees falling due within fee_reminder_days (remindFees).
func (m *Module) withdrawFees(ctx context.Context, now time.Time) error {
	if m.pay == nil {
		return nil
	}
	return m.each(ctx, func(ctx context.Context) error {
		if !m.pay.Enabled(ctx) {
			return nil
		}
		db := m.store(ctx)
		// Only the fees to settle: of revoked permits or permits ended unpaid, or past due.
		gone := db.Model(&Permit{}).Select("code").
			Where("status = ? OR (status = ? AND valid_to <= ?)", StatusRevoked, StatusUnpaid, now)
		unpaid := db.Model(&Permit{}).Select("code").Where("status = ?", StatusUnpaid)
		// A fee already withdrawn while its permit still waits (a lapse whose
		// transaction failed after the withdrawal, or a withdrawal by the payments
		// office) still lets the permit lapse at the due date: nobody can pay it.
		running := db.Model(&Permit{}).Select("code").Where("status = ? AND valid_to > ?", StatusUnpaid, now)
		var ps []payments.Position
		if err := m.pay.Store(ctx).Where("purpose = ?", PurposeFee).
			Where("(state IN ? AND (ref IN (?) OR (due_date < ? AND ref IN (?)))) OR (state = ? AND due_date < ? AND ref IN (?))",
				[]payments.State{payments.Created, payments.Published, payments.Expired}, gone, now, unpaid,
				payments.Cancelled, now, running).
			Order("created_at").Limit(500).Find(&ps).Error; err != nil {
			return err
		}
		var errs []error
		for i := range ps {
			if err := m.settleFee(ctx, db, &ps[i], now); err != nil {
				errs = append(errs, err)
			}
		}
		if _, err := m.remindFees(ctx, db, now); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// remindFees queues one mail to the holder of each unpaid permit whose fee falls due
// within the ente's fee_reminder_days: the amount, the last day, what happens
// after it and where to pay. fee_reminded_at is set by a conditional UPDATE in the
// mail's transaction, so replicas running the job at once, or a run after a restart,
// send nothing twice; the condition on the permit's status means a permit paid or
// revoked meanwhile gets no reminder. It returns how many mails it queued.
func (m *Module) remindFees(ctx context.Context, db *gorm.DB, now time.Time) (int, error) {
	days := m.settingsFor(ctx).FeeReminderDays
	waiting := db.Model(&Permit{}).Select("code").
		Where("status = ? AND fee_reminded_at IS NULL AND email <> '' AND valid_to > ?", StatusUnpaid, now)
	var ps []payments.Position
	if err := m.pay.Store(ctx).Where("purpose = ? AND state IN ?", PurposeFee, []payments.State{payments.Created, payments.Published}).
		Where("due_date > ? AND due_date <= ? AND ref IN (?)", now, now.AddDate(0, 0, days), waiting).
		Order("due_date").Limit(500).Find(&ps).Error; err != nil {
		return 0, err
	}
	base := m.baseURL(ctx)
	i18n := m.render.I18n()
	sent := 0
	for i := range ps {
		pos := &ps[i]
		err := store.WithTx(ctx, db, func(tx *gorm.DB) error {
			res := tx.Model(&Permit{}).Where("code = ? AND status = ? AND fee_reminded_at IS NULL", pos.Ref, StatusUnpaid).
				Updates(map[string]any{"fee_reminded_at": now, "updated_at": now})
			if res.Error != nil || res.RowsAffected == 0 {
				return res.Error
			}
			var p Permit
			if err := tx.Where("code = ?", pos.Ref).Take(&p).Error; err != nil {
				return err
			}
			// Due at the instant DueDate: the last day to pay is the one before it ends.
			last := pos.DueDate.Add(-time.Second).In(rome).Format("02/01/2006")
			args := []any{"Name", p.HolderName, "Code", p.Code, "Euro", Euro(pos.AmountCents), "Date", last,
				"PayURL", base + payments.CitizenPath(pos.ID), "URL", base + "/servizi/ztl/permessi/" + p.Code}
			text := i18n.T("it", "ztl.mail.fee_reminder_text", args...) + "\n\n---\n\n" + i18n.T("en", "ztl.mail.fee_reminder_text", args...)
			if _, err := m.mail.Enqueue(ctx, tx, notify.Message{To: p.Email, ToName: p.HolderName,
				Subject: i18n.T("it", "ztl.mail.fee_reminder_subject", "Code", p.Code, "Date", last), Text: text,
				Kind: "ztl.fee_reminder", CitizenCF: p.HolderCF}); err != nil {
				return fmt.Errorf("ztl: fee reminder of %s: %w", p.Code, err)
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

// settleFee withdraws fee position pos if its permit no longer needs it, and lapses
// the permit if the fee is past due; nothing if the permit is still waiting in time.
func (m *Module) settleFee(ctx context.Context, db *gorm.DB, pos *payments.Position, now time.Time) error {
	var p Permit
	if err := db.Where("code = ?", pos.Ref).Take(&p).Error; err != nil {
		return err
	}
	reason, lapse := "", false
	switch {
	case p.Status == StatusRevoked:
		reason = reasonRevoked
	case p.Status != StatusUnpaid:
		return nil
	case !now.Before(p.ValidTo):
		reason = reasonEnded
	case now.After(pos.DueDate):
		reason, lapse = reasonLapsed, true
	default:
		return nil
	}
	if pos.State == payments.Cancelled {
		if !lapse {
			return nil
		}
	} else if _, err := m.pay.Cancel(ctx, pos.ID, reason, feeActor); err != nil {
		if errors.Is(err, payments.ErrState) {
			return nil // paid meanwhile (recorded by Cancel) or withdrawn by another run
		}
		return fmt.Errorf("ztl: withdraw fee of %s: %w", p.Code, err)
	}
	if !lapse {
		return nil
	}
	// The fee is withdrawn on pagoPA, so no payment can arrive any more: the permit
	// lapses and its household places are released.
	err := store.WithTx(ctx, db, func(tx *gorm.DB) error {
		if err := stop(ctx, tx, &p, StatusRevoked, feeActor.ID, reason, now); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, audit.Entry{ActorKind: audit.ActorSystem, ActorID: feeActor.ID, Action: "ztl.permit_lapse",
			SubjectCF: p.HolderCF, ObjectType: "ztl_permit", ObjectID: p.Code, Details: map[string]any{"reason": reason, "position": pos.ID}}); err != nil {
			return err
		}
		if p.Email == "" {
			return nil
		}
		// The citizen is told, in the lapse's transaction (the outbox sends it once).
		i18n := m.render.I18n()
		args := []any{"Name", p.HolderName, "Code", p.Code, "Date", pos.DueDate.Add(-time.Second).In(rome).Format("02/01/2006"),
			"URL", m.baseURL(ctx) + "/servizi/ztl/permessi/" + p.Code}
		text := i18n.T("it", "ztl.mail.lapse_text", args...) + "\n\n---\n\n" + i18n.T("en", "ztl.mail.lapse_text", args...)
		_, err := m.mail.Enqueue(ctx, tx, notify.Message{To: p.Email, ToName: p.HolderName,
			Subject: i18n.T("it", "ztl.mail.lapse_subject", "Code", p.Code), Text: text, Kind: "ztl.lapse", CitizenCF: p.HolderCF})
		return err
	})
	if errors.Is(err, errConflict) {
		return nil // changed meanwhile (revoked by the office, lapsed by another run)
	}
	return err
}

// withdrawFee is the direct attempt, right after an officer revoked permit code, to
// withdraw its unpaid fee; the job ztl/tariffe retries what fails here.
func (m *Module) withdrawFee(ctx context.Context, code string) {
	if m.pay == nil {
		return
	}
	pos, err := m.pay.ByRef(ctx, PurposeFee, code)
	if errors.Is(err, payments.ErrNotFound) {
		return
	}
	if err == nil && (pos.State.Open() || pos.State == payments.Expired) {
		_, err = m.pay.Cancel(ctx, pos.ID, reasonRevoked, feeActor)
		if errors.Is(err, payments.ErrState) {
			err = nil
		}
	}
	if err != nil {
		m.log.WarnContext(ctx, "ztl: withdraw the fee of a revoked permit (the job ztl/tariffe retries)", "permit", code, "err", err)
	}
}

func clip140(s string) string {
	r := []rune(s)
	if len(r) > 140 {
		return string(r[:140])
	}
	return s
}
