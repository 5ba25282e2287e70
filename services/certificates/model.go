package certificates

import (
	"encoding/json"
	"time"
)

// Certificate statuses as stored. Expiry is not a status: it follows from ExpiresAt
// and the clock.
const (
	StatusValid   = "valid"
	StatusRevoked = "revoked"
)

// Stamp-duty modes.
const (
	// BolloDue: the certificate is subject to stamp duty (imposta di bollo).
	BolloDue = "bollo"
	// BolloExempt: exempt, for the legal reason recorded with it.
	BolloExempt = "esente"
)

// Certificate is one issued certificate: a snapshot of the register at issue time
// (Data, JSON) with its digital stamp. The PDF is not stored: it is rebuilt from the
// record, byte for byte the file issued (PDFHash proves it).
type Certificate struct {
	// ID is the verification code printed on the certificate (stamp.NewCode).
	ID string `gorm:"primaryKey"`
	// EnteID is the comune that issued the certificate.
	EnteID string `gorm:"column:ente_id"`
	Type   string
	// HolderCF is whom the certificate is about; RequesterCF who asked for it (the
	// holder or a member of their household).
	HolderCF    string `gorm:"column:holder_cf"`
	HolderName  string
	RequesterCF string `gorm:"column:requester_cf"`
	IssuedAt    time.Time
	// ExpiresAt is the instant validity ends (the start of the day after the last
	// valid day, Europe/Rome); nil for unlimited validity.
	ExpiresAt *time.Time
	// Bollo is BolloDue or BolloExempt; BolloCents the duty due (0 when exempt);
	// Exemption the code of the exemption chosen ("" when due, "stato_civile" for
	// civil-status certificates, exempt by law).
	Bollo      string
	BolloCents int64
	Exemption  string
	// BolloReceipt is the identifier of the pagoPA receipt of the marca da bollo
	// digitale paid for this certificate ("" when not paid through pagoPA).
	BolloReceipt string `gorm:"column:bollo_receipt"`
	// Data is the JSON of the Data snapshot; DataHash its stamp.DataHash, hex.
	Data     string
	DataHash string
	// Stamp is the signed stamp message, in its QR text form (stamp.Encode); KeyID the
	// key that signed it.
	Stamp string
	KeyID string `gorm:"column:key_id"`
	// PDFHash is the SHA-256 (hex) of the PDF as issued, in layout PDFLayout
	// (a pdfdoc.Layout), in which it is rebuilt.
	PDFHash   string `gorm:"column:pdf_hash"`
	PDFLayout int    `gorm:"column:pdf_layout;default:1"`
	Status    string
	// RevokedAt, RevokedReason and RevokedBy record a revocation by staff.
	RevokedAt     *time.Time
	RevokedReason string
	RevokedBy     string
}

// TableName fixes the table name.
func (Certificate) TableName() string { return "certificates" }

// Snapshot decodes Data.
func (c *Certificate) Snapshot() (*Data, error) {
	var d Data
	if err := json.Unmarshal([]byte(c.Data), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// ExpiredAt reports whether the certificate's validity is over at t.
func (c Certificate) ExpiredAt(t time.Time) bool {
	return c.ExpiresAt != nil && !t.Before(*c.ExpiresAt)
}

// LastValidDay is the last day of validity in Europe/Rome, zero for unlimited
// validity.
func (c Certificate) LastValidDay() time.Time {
	if c.ExpiresAt == nil {
		return time.Time{}
	}
	return c.ExpiresAt.In(rome).AddDate(0, 0, -1)
}

// Verification records one check of a certificate: on the page the QR code opens,
// with the typed code, or through the API.
type Verification struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune of the certificate checked.
	EnteID        string `gorm:"column:ente_id"`
	CertificateID string
	At            time.Time
	// Channel is ChannelQR, ChannelCode or ChannelAPI.
	Channel string
	// IP is the client's address with its host part cleared (IPv4 /24, IPv6 /48):
	// enough to tell checks apart, not to identify who checked.
	IP string `gorm:"column:ip"`
}

// TableName fixes the table name.
func (Verification) TableName() string { return "certificate_verifications" }

// Verification channels.
const (
	ChannelQR   = "qr"
	ChannelCode = "codice"
	ChannelAPI  = "api"
)
