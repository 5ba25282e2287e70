package anagrafe

import (
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"

	"github.com/comuni-italiani/sportello/app/store"
)

// Migrations creates the register's tables. Each step uses its own frozen structs.
func Migrations() []*store.Migration {
	type anagrafePerson struct {
		ID            int64      `gorm:"primaryKey"`
		FiscalCode    string     `gorm:"size:16;not null;uniqueIndex"`
		Surname       string     `gorm:"size:100;not null;index"`
		Name          string     `gorm:"size:100;not null"`
		Sex           string     `gorm:"size:1;not null"`
		BirthDate     time.Time  `gorm:"not null"`
		BirthComune   string     `gorm:"size:100;not null;default:''"`
		BirthProvince string     `gorm:"size:2;not null;default:''"`
		BirthState    string     `gorm:"size:100;not null;default:''"`
		Citizenship   string     `gorm:"size:100;not null"`
		CivilStatus   string     `gorm:"size:40;not null"`
		DeceasedOn    *time.Time `gorm:""`
		UpdatedAt     time.Time  `gorm:"not null"`
	}
	type anagrafeHousehold struct {
		ID        int64     `gorm:"primaryKey"`
		Code      string    `gorm:"size:40;not null;uniqueIndex"`
		Kind      string    `gorm:"size:20;not null"`
		Name      string    `gorm:"size:200;not null;default:''"`
		Address   string    `gorm:"size:300;not null"`
		UpdatedAt time.Time `gorm:"not null"`
	}
	type anagrafeMember struct {
		ID          int64      `gorm:"primaryKey"`
		PersonID    int64      `gorm:"not null;index"`
		HouseholdID int64      `gorm:"not null;index"`
		Relation    string     `gorm:"size:40;not null"`
		StartedOn   time.Time  `gorm:"not null"`
		EndedOn     *time.Time `gorm:""`
	}
	type anagrafeResidence struct {
		ID        int64      `gorm:"primaryKey"`
		PersonID  int64      `gorm:"not null;index"`
		Address   string     `gorm:"size:300;not null"`
		Comune    string     `gorm:"size:100;not null;default:''"`
		Province  string     `gorm:"size:2;not null;default:''"`
		StartedOn time.Time  `gorm:"not null"`
		EndedOn   *time.Time `gorm:""`
	}
	type anagrafeEvent struct {
		ID          int64     `gorm:"primaryKey"`
		PersonID    int64     `gorm:"not null;uniqueIndex:anagrafe_events_person_kind_date,priority:1"`
		Kind        string    `gorm:"size:20;not null;uniqueIndex:anagrafe_events_person_kind_date,priority:2"`
		Date        time.Time `gorm:"not null;uniqueIndex:anagrafe_events_person_kind_date,priority:3"`
		Place       string    `gorm:"size:150;not null;default:''"`
		Year        int       `gorm:"not null;default:0"`
		Part        string    `gorm:"size:10;not null;default:''"`
		Series      string    `gorm:"size:10;not null;default:''"`
		Number      string    `gorm:"size:20;not null;default:''"`
		OtherCF     string    `gorm:"column:other_cf;size:16;not null;default:''"`
		OtherName   string    `gorm:"size:200;not null;default:''"`
		Annotations string    `gorm:"type:text;not null;default:''"`
	}
	return []*store.Migration{{
		ID: "anagrafe/0001_register",
		Migrate: func(tx *gorm.DB) error {
			steps := []struct {
				table string
				model any
			}{
				{"anagrafe_persons", &anagrafePerson{}},
				{"anagrafe_households", &anagrafeHousehold{}},
				{"anagrafe_members", &anagrafeMember{}},
				{"anagrafe_residences", &anagrafeResidence{}},
				{"anagrafe_events", &anagrafeEvent{}},
			}
			for _, s := range steps {
				if err := tx.Table(s.table).AutoMigrate(s.model); err != nil {
					return err
				}
			}
			// At most one current membership per person: a partial unique index,
			// supported alike by PostgreSQL and SQLite.
			return tx.Exec(`CREATE UNIQUE INDEX anagrafe_members_current ON anagrafe_members (person_id) WHERE ended_on IS NULL`).Error
		},
	}, {
		// Each comune has its own register: every row carries its ente, and a tax code
		// or a household code is unique within an ente (a person who moved is in two
		// registers).
		ID: "anagrafe/0002_ente",
		Migrate: func(tx *gorm.DB) error {
			if err := enti.AddColumn(tx, Tables...); err != nil {
				return err
			}
			if err := enti.ReplaceUnique(tx, "anagrafe_persons", "idx_anagrafe_persons_fiscal_code", "anagrafe_persons_ente_cf", "fiscal_code", ""); err != nil {
				return err
			}
			return enti.ReplaceUnique(tx, "anagrafe_households", "idx_anagrafe_households_code", "anagrafe_households_ente_code", "code", "")
		},
	}}
}

// Tables are the register's tables; each belongs to one ente (enti.Guard).
var Tables = []string{"anagrafe_persons", "anagrafe_households", "anagrafe_members", "anagrafe_residences", "anagrafe_events"}
