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

	"github.com/comuni-italiani/sportello/app/audit"
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
	if m.settings.BolloProvince != "" && !provinceRE.MatchString(m.settings.BolloProvince) {
		return fmt.Errorf("config: modules.settings.%s.bollo_province: must be a province abbreviation such as RM", ID)
	}
	if m.settings.BolloCategory != "" && !payments.ValidCategory(m.settings.BolloCategory) {
		return fmt.Errorf("config: modules.settings.%s.bollo_category: must be a pagoPA taxonomy code such as 9/0101002IM/", ID)
	}
	m.pay = p
	if p != nil {
		p.OnPaid(PurposeBollo, m.bolloPaid)
	}
	return nil
}

// bolloOnline reports whether ctx's ente collects the duty through pagoPA.
func (m *Module) bolloOnline(ctx context.Context) bool {
	return m.pay != nil && m.settings.BolloProvince != "" && m.pay.Enabled(ctx)
}

// askBollo takes the snapshot the certificate will certify and asks the citizen to pay
// its marca da bollo digitale, bound to the SHA-256 of that snapshot (the hash the
// certificate's stamp signs). Nothing is issued now: bolloPaid issues exactly these
// data when pagoPA's receipt arrives.
func (m *Module) askBollo(ctx context.Context, req Request, payerName string) (*payments.Position, error) {
	t, data, err := m.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	if data.Bollo.Mode != BolloDue {
		return nil, fmt.Errorf("%w: no stamp duty on this certificate", ErrBollo)
	}
	req.Snapshot = &data
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var ref [8]byte
	if _, err := rand.Read(ref[:]); err != nil {
		return nil, err
	}
	title := m.tr("it")("certificati.type." + t.ID)
	return m.pay.Request(ctx, payments.Request{
		Purpose: PurposeBollo, Ref: hex.EncodeToString(ref[:]),
		PayerCF: req.RequesterCF, PayerName: strings.TrimSpace(payerName), AmountCents: data.Bollo.AmountCents,
		Causale:   clip140("Imposta di bollo - " + title + " - " + data.Holder.FullName()),
		DueDate:   m.now().Add(bolloDueDays * 24 * time.Hour),
		StampHash: base64.StdEncoding.EncodeToString(stamp.DataHash(data)), StampProvince: m.settings.BolloProvince,
		Category: m.settings.BolloCategory, Payload: string(payload),
	}, payments.Actor{Kind: audit.ActorCitizen, ID: req.RequesterCF, IP: req.IP, RequestID: req.RequestID})
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
