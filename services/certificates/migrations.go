package certificates

import (
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"

	"github.com/comuni-italiani/sportello/app/store"
)

// Migrations implements services.Migrator. The module reads the population register
// (app/anagrafe) but does not create it: the platform's migrations do.
func (*Module) Migrations() []*store.Migration {
	type certificate struct {
		ID            string     `gorm:"primaryKey;size:20"`
		Type          string     `gorm:"size:40;not null"`
		HolderCF      string     `gorm:"column:holder_cf;size:16;not null;index"`
		HolderName    string     `gorm:"size:200;not null"`
		RequesterCF   string     `gorm:"column:requester_cf;size:16;not null;index"`
		IssuedAt      time.Time  `gorm:"not null;index"`
		ExpiresAt     *time.Time `gorm:""`
		Bollo         string     `gorm:"size:10;not null"`
		BolloCents    int64      `gorm:"not null;default:0"`
		Exemption     string     `gorm:"size:40;not null;default:''"`
		Data          string     `gorm:"type:text;not null"`
		DataHash      string     `gorm:"size:64;not null"`
		Stamp         string     `gorm:"type:text;not null"`
		KeyID         string     `gorm:"column:key_id;size:40;not null"`
		PDFHash       string     `gorm:"column:pdf_hash;size:64;not null"`
		Status        string     `gorm:"size:10;not null;index"`
		RevokedAt     *time.Time `gorm:""`
		RevokedReason string     `gorm:"type:text;not null;default:''"`
		RevokedBy     string     `gorm:"size:100;not null;default:''"`
	}
	type verification struct {
		ID            int64     `gorm:"primaryKey"`
		CertificateID string    `gorm:"size:20;not null;index"`
		At            time.Time `gorm:"not null"`
		Channel       string    `gorm:"size:10;not null"`
		IP            string    `gorm:"column:ip;size:64;not null;default:''"`
	}
	return []*store.Migration{{
		ID: "certificati/0001_certificates",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Table("certificates").AutoMigrate(&certificate{}); err != nil {
				return err
			}
			return tx.Table("certificate_verifications").AutoMigrate(&verification{})
		},
	}, {
		// A certificate belongs to the comune that issued it; its code stays unique
		// across the installation (random, 60 bits), and a code is looked up only
		// within the ente of the host it is typed on.
		ID: "certificati/0002_ente",
		Migrate: func(tx *gorm.DB) error {
			return enti.AddColumn(tx, tables...)
		},
	}, {
		ID: "certificati/0003_bollo_receipt",
		Migrate: func(tx *gorm.DB) error {
			return tx.Exec(`ALTER TABLE certificates ADD COLUMN bollo_receipt VARCHAR(64) NOT NULL DEFAULT ''`).Error
		},
	}, {
		// ente_id first in the primary keys on PostgreSQL, so that Citus can distribute
		// both tables by ente (docs/ARCHITECTURE.md); codes stay random and unique in
		// practice, and every lookup is already scoped to the host's ente.
		ID: "certificati/0004_citus_keys",
		Migrate: func(tx *gorm.DB) error {
			return enti.KeyWithEnte(tx, tables...)
		},
	}, {
		// The layout a certificate's PDF was made in (pdfdoc.Layout), so that it is
		// rebuilt in the same one, byte for byte: 1 for every certificate issued
		// before layouts were numbered.
		ID: "certificati/0005_pdf_layout",
		Migrate: func(tx *gorm.DB) error {
			return tx.Exec(`ALTER TABLE certificates ADD COLUMN pdf_layout SMALLINT NOT NULL DEFAULT 1`).Error
		},
	}}
}

var tables = []string{"certificates", "certificate_verifications"}

// EnteTables implements services.EnteTables.
func (*Module) EnteTables() []string { return tables }
