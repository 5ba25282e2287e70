package payments

import (
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// State is the state of a debt position.
type State string

// The states of a debt position. created: written here, not yet known to pagoPA;
// published: payable (on pagoPA's GPD, by notice or online); paid: a receipt
// confirmed it; expired: the due date passed unpaid; cancelled: withdrawn by the
// comune (staff, with a reason) or by the module that asked for it.
const (
	Created   State = "created"
	Published State = "published"
	Paid      State = "paid"
	Expired   State = "expired"
	Cancelled State = "cancelled"
)

// States lists every state, for filters.
var States = []State{Created, Published, Paid, Expired, Cancelled}

// Open reports whether a position in state s may still be paid.
func (s State) Open() bool { return s == Created || s == Published }

// Position is a debt position (posizione debitoria): one thing a citizen owes the
// comune, with its pagoPA notice number and, once paid, its receipt.
type Position struct {
	EnteID string `gorm:"primaryKey;size:40"`
	// ID is the IUPD, the position's identifier at pagoPA's GPD: unique per ente.
	ID string `gorm:"primaryKey;size:64"`
	// Purpose names the module's kind of payment ("certificates/bollo"); Ref is the
	// module's reference to the thing paid for (a certificate id). Hooks registered
	// with Service.OnPaid are chosen by Purpose.
	Purpose string `gorm:"size:60;not null"`
	Ref     string `gorm:"size:100;not null"`
	// PayerCF and PayerName are the payer's codice fiscale and full name.
	PayerCF   string `gorm:"column:payer_cf;size:16;not null"`
	PayerName string `gorm:"size:140;not null"`
	// AmountCents is the amount in euro cents (never floating point).
	AmountCents int64 `gorm:"not null"`
	// Causale is the reason of the payment shown to the payer (max 140 characters).
	Causale string    `gorm:"size:140;not null"`
	DueDate time.Time `gorm:"not null"`
	// IBAN is the comune's account the amount is transferred to.
	IBAN string `gorm:"column:iban;size:34;not null"`
	// CreditorCF is the comune's fiscal code at pagoPA (11 digits).
	CreditorCF string `gorm:"column:creditor_cf;size:16;not null"`
	// NoticeNumber is the 18-digit numero avviso (aux digit 3); IUV its last 17.
	NoticeNumber string `gorm:"size:18;not null"`
	IUV          string `gorm:"column:iuv;size:35;not null"`
	State        State  `gorm:"size:16;not null"`
	// StampHash is the base64 SHA-256 of the document a marca da bollo digitale is
	// bound to (empty for ordinary payments).
	StampHash string `gorm:"size:72;not null;default:''"`
	// StampProvince is the payer's province of residence (two letters), which
	// pagoPA asks for with a marca da bollo digitale.
	StampProvince string `gorm:"size:2;not null;default:''"`
	// Category is the transfer's pagoPA taxonomy code ("9/0301109AP/").
	Category string `gorm:"size:60;not null;default:''"`
	// Receipt: the receipt's identifier at pagoPA, the payment time, the payment
	// service provider and the raw receipt as received.
	ReceiptID   string `gorm:"size:64;not null;default:''"`
	PaidAt      *time.Time
	PSP         string `gorm:"column:psp;size:140;not null;default:''"`
	ReceiptJSON string `gorm:"type:text;not null;default:''"`
	// CancelReason is the staff's reason for a cancellation.
	CancelReason string `gorm:"size:300;not null;default:''"`
	// Payload is the module's own data for its hook (JSON, opaque here): what to do
	// once paid, such as the certificate to issue.
	Payload   string `gorm:"type:text;not null;default:''"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TableName fixes the table name.
func (Position) TableName() string { return "payment_positions" }

// Amount returns the amount in euro, Italian style ("16,00").
func (p *Position) Amount() string { return FormatEuro(p.AmountCents) }

// Tables are the ente-owned tables of this package, to register with the store's guard.
func Tables() []string { return []string{"payment_positions", "payment_iuv_counters"} }

// Migrations creates the payments tables.
func Migrations() []*store.Migration {
	type paymentPosition struct {
		EnteID        string `gorm:"primaryKey;size:40"`
		ID            string `gorm:"primaryKey;size:64"`
		Purpose       string `gorm:"size:60;not null"`
		Ref           string `gorm:"size:100;not null"`
		PayerCF       string `gorm:"column:payer_cf;size:16;not null"`
		PayerName     string `gorm:"size:140;not null"`
		AmountCents   int64  `gorm:"not null"`
		Causale       string `gorm:"size:140;not null"`
		DueDate       time.Time
		IBAN          string `gorm:"column:iban;size:34;not null"`
		CreditorCF    string `gorm:"column:creditor_cf;size:16;not null"`
		NoticeNumber  string `gorm:"size:18;not null"`
		IUV           string `gorm:"column:iuv;size:35;not null"`
		State         string `gorm:"size:16;not null"`
		StampHash     string `gorm:"size:72;not null;default:''"`
		StampProvince string `gorm:"size:2;not null;default:''"`
		Category      string `gorm:"size:60;not null;default:''"`
		ReceiptID     string `gorm:"size:64;not null;default:''"`
		PaidAt        *time.Time
		PSP           string `gorm:"column:psp;size:140;not null;default:''"`
		ReceiptJSON   string `gorm:"type:text;not null;default:''"`
		CancelReason  string `gorm:"size:300;not null;default:''"`
		CreatedAt     time.Time
		UpdatedAt     time.Time
	}
	type paymentIUVCounter struct {
		EnteID      string `gorm:"primaryKey;size:40"`
		Segregation int    `gorm:"primaryKey;autoIncrement:false"`
		Last        int64  `gorm:"not null"`
	}
	return []*store.Migration{{
		ID: "payments/0001_positions",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Table("payment_positions").AutoMigrate(&paymentPosition{}); err != nil {
				return err
			}
			if err := tx.Table("payment_iuv_counters").AutoMigrate(&paymentIUVCounter{}); err != nil {
				return err
			}
			for _, s := range []string{
				// The notice number and the IUV are unique per ente (ente first: Citus).
				`CREATE UNIQUE INDEX payment_positions_notice ON payment_positions (ente_id, notice_number)`,
				`CREATE UNIQUE INDEX payment_positions_iuv ON payment_positions (ente_id, iuv)`,
				// At most one live (open or paid) position per thing to pay: two
				// simultaneous requests for one certificate's stamp duty make one.
				`CREATE UNIQUE INDEX payment_positions_live ON payment_positions (ente_id, purpose, ref)
				 WHERE state IN ('created', 'published', 'paid')`,
				`CREATE INDEX payment_positions_payer ON payment_positions (ente_id, payer_cf, created_at)`,
				`CREATE INDEX payment_positions_state ON payment_positions (ente_id, state, due_date)`,
			} {
				if err := tx.Exec(s).Error; err != nil {
					return err
				}
			}
			return nil
		},
	}, {
		ID: "payments/0002_payload",
		Migrate: func(tx *gorm.DB) error {
			return tx.Exec(`ALTER TABLE payment_positions ADD COLUMN payload TEXT NOT NULL DEFAULT ''`).Error
		},
	}, devMigration()}
}
