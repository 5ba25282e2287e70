package ztl

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/payments"
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

// StatusUnpaid is a permit granted and waiting for its fee (stored).
const StatusUnpaid = "da_pagare"

// PurposeFee names a permit's fee in app/payments; the position's Ref is the permit's code.
const PurposeFee = ID + "/tariffa"

// feeDueDays is how long the citizen has to pay the fee of a granted permit.
const feeDueDays = 30

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
		DueDate: now.Add(feeDueDays * 24 * time.Hour), Payload: string(payload),
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
	if res.RowsAffected == 0 {
		return nil // revoked meanwhile, or already active
	}
	var p Permit
	if err := db.Where("code = ?", fp.Permit).Take(&p).Error; err != nil {
		return err
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

func clip140(s string) string {
	r := []rune(s)
	if len(r) > 140 {
		return string(r[:140])
	}
	return s
}
