package certificates

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/comuni-italiani/sportello/app/enti"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
)

// Errors from Issue.
var (
	// ErrNotAllowed: the requester may only ask for themselves or a member of their
	// own household (famiglia anagrafica).
	ErrNotAllowed = errors.New("certificates: not the requester's own household")
	// ErrUnknownType: no certificate type with that id.
	ErrUnknownType = errors.New("certificates: unknown certificate type")
	// ErrBollo: the stamp-duty choice is missing or not one offered.
	ErrBollo = errors.New("certificates: invalid stamp-duty choice")
)

// NotAvailableError says why a certificate cannot be issued for a person.
type NotAvailableError struct {
	Type string
	// Reason is a message key.
	Reason string
}

func (e *NotAvailableError) Error() string {
	return fmt.Sprintf("certificates: %s not available: %s", e.Type, e.Reason)
}

// Request asks for a certificate.
type Request struct {
	// RequesterCF is the logged-in citizen; HolderCF whom the certificate is about.
	RequesterCF, HolderCF string
	Type                  string
	// Bollo is BolloDue or BolloExempt; Exemption the exemption's code when exempt.
	// Both are ignored for civil-status certificates, always exempt by law.
	Bollo, Exemption string
	// IP and RequestID go into the audit entry.
	IP, RequestID string
	// Snapshot, when set, is the register data to issue as they were when the
	// citizen asked (a certificate in bollo issued once the marca da bollo digitale
	// is paid: the duty is bound to the hash of exactly these data).
	Snapshot *Data `json:"snapshot,omitempty"`
	// BolloReceipt is the pagoPA receipt of the duty paid.
	BolloReceipt string `json:"-"`
	// tx, when set, is the transaction to issue in (the payment's, see bollo.go).
	tx *gorm.DB
}

// CanRequest reports whether requesterCF may ask for certificates about holderCF:
// themselves, or a member of their own famiglia anagrafica.
func CanRequest(ctx context.Context, db *gorm.DB, requesterCF, holderCF string) (bool, error) {
	return anagrafe.SameHousehold(ctx, db, requesterCF, holderCF)
}

// bolloFor resolves the stamp-duty choice for type t in ctx's ente.
func (m *Module) bolloFor(ctx context.Context, t Type, mode, code string) (BolloData, error) {
	if t.CivilStatus {
		e := CivilStatusExemption
		return BolloData{Mode: BolloExempt, Exemption: e.Code, Reason: e.Text, Reference: e.Reference}, nil
	}
	switch mode {
	case BolloDue:
		return BolloData{Mode: BolloDue, AmountCents: m.settingsFor(ctx).BolloCents}, nil
	case BolloExempt:
		e, ok := m.settingsFor(ctx).exemption(code)
		if !ok {
			return BolloData{}, fmt.Errorf("%w: unknown exemption %q", ErrBollo, code)
		}
		return BolloData{Mode: BolloExempt, Exemption: e.Code, Reason: e.Text, Reference: e.Reference}, nil
	}
	return BolloData{}, fmt.Errorf("%w: %q", ErrBollo, mode)
}

// validity returns when a certificate of type t issued at issued stops being valid
// (nil: never) and its last valid day. Certificates of facts not subject to change
// are valid without limit; the others six months from the date of issue (art. 41,
// comma 1, DPR 445/2000), month periods reckoned by the calendar (art. 2963 c.c.: to
// the same day of the month, or the month's last day when it has no such day).
func validity(t Type, issued time.Time) (expires *time.Time, lastDay time.Time) {
	if t.Unlimited {
		return nil, time.Time{}
	}
	lastDay = addMonths(issued.In(rome), 6)
	y, mo, d := lastDay.Date()
	end := time.Date(y, mo, d+1, 0, 0, 0, 0, rome).UTC()
	return &end, time.Date(y, mo, d, 0, 0, 0, 0, rome)
}

// addMonths adds n calendar months to t's date, clamping to the last day of the
// target month (31 August + 6 months = 28 or 29 February).
func addMonths(t time.Time, n int) time.Time {
	y, mo, d := t.Date()
	first := time.Date(y, mo+time.Month(n), 1, 0, 0, 0, 0, t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, last), 0, 0, 0, 0, t.Location())
}

// UnlimitedStampExpiry is the expiry date written in the stamp of a certificate with
// unlimited validity: the stamp format requires a date, and this one (31/12/2199)
// stands for "no expiry". Verifiers show it as unlimited validity.
var UnlimitedStampExpiry = time.Date(2199, 12, 31, 0, 0, 0, 0, time.UTC)

// Issue issues a certificate: it checks that the requester may ask for the holder,
// reads the register, applies the type's rules, resolves the stamp duty, signs the
// stamp, lays out the PDF (to fix its hash) and stores the record with an audit entry,
// in one transaction. It returns ErrNotAllowed, ErrUnknownType, ErrBollo or a
// *NotAvailableError for requests it refuses.
func (m *Module) Issue(ctx context.Context, req Request) (*Certificate, error) {
	t, data, err := m.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.Snapshot != nil {
		data = *req.Snapshot
	}
	b := data.Bollo
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	hash := stamp.DataHash(data)
	issued := m.now().UTC().Truncate(time.Second)
	expires, _ := validity(t, issued)

	for attempt := 0; ; attempt++ {
		id, err := m.newCode()
		if err != nil {
			return nil, err
		}
		c := &Certificate{
			ID: id, Type: t.ID, HolderCF: data.Holder.FiscalCode, HolderName: data.Holder.FullName(),
			RequesterCF: req.RequesterCF, IssuedAt: issued, ExpiresAt: expires,
			Bollo: b.Mode, BolloCents: b.AmountCents, Exemption: b.Exemption, BolloReceipt: req.BolloReceipt,
			Data: string(raw), DataHash: hex.EncodeToString(hash), Status: StatusValid,
			PDFLayout: int(pdfdoc.LayoutCurrent),
			EnteID:    enti.ScopeOf(enti.For(ctx, m.db)),
		}
		ring, err := m.ringOf(c.EnteID)
		if err != nil {
			return nil, err
		}
		msg, err := ring.Sign(m.payload(c, t, hash))
		if err != nil {
			return nil, err
		}
		c.Stamp, c.KeyID = stamp.Encode(msg), ring.ActiveKID()
		pdf, err := m.renderPDF(ctx, c, &data)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(pdf)
		c.PDFHash = hex.EncodeToString(sum[:])
		db := enti.For(ctx, m.db)
		if req.tx != nil {
			db = req.tx // nested: a savepoint in the payment's transaction
		}
		err = store.WithTx(ctx, db, func(tx *gorm.DB) error {
			if err := tx.Create(c).Error; err != nil {
				return err
			}
			return audit.Record(ctx, tx, audit.Entry{
				ActorKind: audit.ActorCitizen, ActorID: req.RequesterCF, Action: "certificates.issue",
				SubjectCF: c.HolderCF, ObjectType: "certificate", ObjectID: c.ID, IP: req.IP, RequestID: req.RequestID,
				Details: map[string]any{"type": t.ID, "bollo": b.Mode, "exemption": b.Exemption},
			})
		})
		if errors.Is(err, store.ErrDuplicate) && attempt < 3 {
			continue // a code collision (60 random bits): draw again
		}
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// prepare checks a request and takes the snapshot of the register it would issue.
func (m *Module) prepare(ctx context.Context, req Request) (Type, Data, error) {
	t, ok := TypeByID(req.Type)
	if !ok {
		return Type{}, Data{}, ErrUnknownType
	}
	if req.Snapshot != nil {
		// Inside the payment's transaction (req.tx) every read goes through it: waiting
		// for a second connection while holding one could exhaust the pool when many
		// receipts arrive at once.
		db := m.db
		if req.tx != nil {
			db = req.tx
		}
		allowed, err := CanRequest(ctx, db, req.RequesterCF, req.HolderCF)
		if err != nil {
			return Type{}, Data{}, err
		}
		if !allowed {
			return Type{}, Data{}, ErrNotAllowed
		}
		return t, *req.Snapshot, nil
	}
	s, err := LoadSubject(ctx, m.db, req.HolderCF)
	if anagrafe.IsNotFound(err) {
		return Type{}, Data{}, ErrNotAllowed // an unknown holder is nobody's household
	}
	if err != nil {
		return Type{}, Data{}, err
	}
	if !s.requestableBy(req.RequesterCF) {
		return Type{}, Data{}, ErrNotAllowed
	}
	if why := t.Check(s); why != "" {
		return Type{}, Data{}, &NotAvailableError{Type: t.ID, Reason: why}
	}
	b, err := m.bolloFor(ctx, t, req.Bollo, req.Exemption)
	if err != nil {
		return Type{}, Data{}, err
	}
	return t, snapshot(t, s, b), nil
}

// payload is the stamp payload of c.
func (m *Module) payload(c *Certificate, t Type, hash []byte) stamp.Payload {
	exp := UnlimitedStampExpiry
	if c.ExpiresAt != nil {
		exp = c.LastValidDay()
	}
	return stamp.Payload{
		Issuer: m.comune(c).Name, CertID: c.ID, Type: t.ID, Holder: c.HolderCF,
		IssuedAt: c.IssuedAt.In(rome), ExpiresAt: exp, DataHash: hash,
	}
}

// verificationURL is the URL in c's QR code.
func (m *Module) verificationURL(c *Certificate) (string, error) {
	msg, err := stamp.Decode(c.Stamp)
	if err != nil {
		return "", err
	}
	return stamp.VerificationURL(m.base(c), c.ID, msg), nil
}

// comune is the comune that issued c (its name, address and contacts).
func (m *Module) comune(c *Certificate) config.Comune {
	if m.comuneOf == nil {
		return m.cfg.Comune
	}
	return m.comuneOf(c.EnteID)
}

// base is the address of the portal of the comune that issued c, where its QR code
// leads.
func (m *Module) base(c *Certificate) string {
	if m.baseURLOf == nil {
		return m.baseURL
	}
	return m.baseURLOf(c.EnteID)
}
