package certificates

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/stamp"
)

// PurposeBollo names the marca da bollo digitale of a certificate in app/payments.
const PurposeBollo = ID + "/bollo"

// bolloDueDays is how long the citizen has to pay the duty before the request lapses.
const bolloDueDays = 30

var provinceRE = regexp.MustCompile(`^[A-Z]{2}$`)

// mountBollo connects the module to the payments platform: the hook that issues a
// certificate in bollo once its marca da bollo digitale is paid.
func (m *Module) mountBollo(p *payments.Service) error {
	m.pay = p
	if p != nil {
		p.OnPaid(PurposeBollo, m.bolloPaid)
	}
	return nil
}

// bolloOnline reports whether ctx's ente collects the duty through pagoPA.
func (m *Module) bolloOnline(ctx context.Context) bool {
	return m.pay != nil && m.settingsFor(ctx).BolloProvince != "" && m.pay.Enabled(ctx)
}

// askBollo takes the snapshot the certificate will certify and asks the citizen to pay
// its marca da bollo digitale, bound to the SHA-256 of that snapshot (the hash the
// certificate's stamp signs). Nothing is issued now: bolloPaid issues exactly these
// data when pagoPA's receipt arrives.
func (m *Module) askBollo(ctx context.Context, req Request, payerName string) (*payments.Position, error) {
	pr, err := m.bolloRequest(ctx, req, payerName, m.settingsFor(ctx).BolloProvince)
	if err != nil {
		return nil, err
	}
	return m.pay.Request(ctx, pr, payments.Actor{Kind: audit.ActorCitizen, ID: req.RequesterCF, IP: req.IP, RequestID: req.RequestID})
}

// bolloRequest is the payment request of req's marca da bollo digitale, carrying the
// snapshot of the data to certify.
func (m *Module) bolloRequest(ctx context.Context, req Request, payerName, province string) (payments.Request, error) {
	t, data, err := m.prepare(ctx, req)
	if err != nil {
		return payments.Request{}, err
	}
	if data.Bollo.Mode != BolloDue {
		return payments.Request{}, fmt.Errorf("%w: no stamp duty on this certificate", ErrBollo)
	}
	req.Snapshot = &data
	payload, err := json.Marshal(req)
	if err != nil {
		return payments.Request{}, err
	}
	var ref [8]byte
	if _, err := rand.Read(ref[:]); err != nil {
		return payments.Request{}, err
	}
	title := m.tr("it")("certificati.type." + t.ID)
	if strings.TrimSpace(payerName) == "" {
		payerName = data.Holder.FullName()
	}
	return payments.Request{
		Purpose: PurposeBollo, Ref: hex.EncodeToString(ref[:]),
		PayerCF: req.RequesterCF, PayerName: strings.TrimSpace(payerName), AmountCents: data.Bollo.AmountCents,
		Causale:   clip140("Imposta di bollo - " + title + " - " + data.Holder.FullName()),
		DueDate:   m.now().Add(bolloDueDays * 24 * time.Hour),
		StampHash: base64.StdEncoding.EncodeToString(stamp.DataHash(data)), StampProvince: province,
		Category: m.settingsFor(ctx).BolloCategory, Payload: string(payload),
	}, nil
}

// demoProvince stands for the province of the fictional demo comune (which has no
// abbreviation) when bollo_province is not set.
const demoProvince = "RM"

// seedBolloDemo gives the demo citizen, when the ente has pagoPA (the development
// one in a demo), two marche da bollo digitali: one paid, with its demo receipt and
// the certificate in bollo it issued, and one still to pay (a stato di famiglia).
// The positions are written without calling pagoPA (the portal is not running
// during `sportello demo`): the payments job publishes the one to pay once it is.
// Idempotent: nothing is added when she already has a marca da bollo position.
func (m *Module) seedBolloDemo(ctx context.Context, db *gorm.DB) error {
	if m.pay == nil || !m.pay.Enabled(ctx) {
		return nil
	}
	var n int64
	if err := m.pay.Store(ctx).Model(&payments.Position{}).Where("purpose = ? AND payer_cf = ?", PurposeBollo,
		anagrafe.DemoCitizenCF).Count(&n).Error; err != nil || n > 0 {
		return err
	}
	province := m.settingsFor(ctx).BolloProvince
	if province == "" {
		province = demoProvince
	}
	var paid *payments.Position
	err := enti.For(ctx, db).Transaction(func(tx *gorm.DB) error {
		for _, typ := range []string{TypeResidence, TypeFamily} {
			pr, err := m.bolloRequest(ctx, Request{RequesterCF: anagrafe.DemoCitizenCF, HolderCF: anagrafe.DemoCitizenCF,
				Type: typ, Bollo: BolloDue, RequestID: "demo"}, "", province)
			if err != nil {
				return err
			}
			p, err := m.pay.RequestTx(ctx, tx, pr, payments.Actor{Kind: audit.ActorSystem, ID: "demo"})
			if err != nil {
				return err
			}
			if typ == TypeResidence {
				paid = p
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("certificates: demo marca da bollo: %w", err)
	}
	// The demo receipt: the hook issues the certificate bound to it.
	_, err = m.pay.Confirm(ctx, paid.ID, payments.Receipt{ID: "DEMO-" + paid.IUV, AmountCents: paid.AmountCents,
		PaidAt: m.now(), PSP: "PSP dimostrativo (nessun addebito)"})
	return err
}

func clip140(s string) string {
	r := []rune(s)
	if len(r) > 140 {
		return string(r[:140])
	}
	return s
}

// bolloPaid issues the certificate whose duty position p was paid, in the payment's
// transaction: the payments platform calls it once per position, and if issuing
// fails the payment is not recorded either and the next receipt retries both.
func (m *Module) bolloPaid(ctx context.Context, tx *gorm.DB, p *payments.Position) error {
	var req Request
	if err := json.Unmarshal([]byte(p.Payload), &req); err != nil || req.Snapshot == nil {
		return fmt.Errorf("certificates: position %s carries no certificate request", p.ID)
	}
	req.BolloReceipt, req.tx = p.ReceiptID, tx
	_, err := m.Issue(ctx, req)
	return err
}
