package appuntamenti

import (
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// Migrations implements services.Migrator. Every table carries ente_id first in its
// primary key and in every foreign key (see services.EnteTables).
func (*Module) Migrations() []*store.Migration {
	// Frozen SQL of the first schema: never edit, add a new step instead. Plain SQL
	// (instead of AutoMigrate) because the composite foreign keys, the CHECK that keeps
	// booked within capacity and the partial unique index must be the same on both
	// dialects.
	ts := map[string]string{"sqlite": "DATETIME", "postgres": "TIMESTAMPTZ"}
	stmts := func(tsType string) []string {
		return []string{
			`CREATE TABLE appt_offices (
				ente_id TEXT NOT NULL, id VARCHAR(60) NOT NULL, name VARCHAR(200) NOT NULL,
				address VARCHAR(300) NOT NULL DEFAULT '', horizon_days INTEGER NOT NULL DEFAULT 60,
				sort INTEGER NOT NULL DEFAULT 0,
				PRIMARY KEY (ente_id, id))`,
			`CREATE TABLE appt_office_services (
				ente_id TEXT NOT NULL, office_id VARCHAR(60) NOT NULL, service VARCHAR(20) NOT NULL,
				slot_minutes INTEGER NOT NULL CHECK (slot_minutes BETWEEN 5 AND 240),
				desks INTEGER NOT NULL CHECK (desks BETWEEN 1 AND 100),
				PRIMARY KEY (ente_id, office_id, service),
				FOREIGN KEY (ente_id, office_id) REFERENCES appt_offices (ente_id, id))`,
			`CREATE TABLE appt_hours (
				ente_id TEXT NOT NULL, office_id VARCHAR(60) NOT NULL, service VARCHAR(20) NOT NULL,
				weekday INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
				opens VARCHAR(5) NOT NULL, closes VARCHAR(5) NOT NULL,
				PRIMARY KEY (ente_id, office_id, service, weekday, opens),
				FOREIGN KEY (ente_id, office_id, service) REFERENCES appt_office_services (ente_id, office_id, service))`,
			`CREATE TABLE appt_closures (
				ente_id TEXT NOT NULL, id VARCHAR(40) NOT NULL, office_id VARCHAR(60) NOT NULL,
				starts_at ` + tsType + ` NOT NULL, ends_at ` + tsType + ` NOT NULL,
				reason VARCHAR(300) NOT NULL DEFAULT '', created_by VARCHAR(100) NOT NULL DEFAULT '',
				created_at ` + tsType + ` NOT NULL,
				PRIMARY KEY (ente_id, id),
				FOREIGN KEY (ente_id, office_id) REFERENCES appt_offices (ente_id, id))`,
			`CREATE INDEX appt_closures_office ON appt_closures (ente_id, office_id, ends_at)`,
			`CREATE TABLE appt_slots (
				ente_id TEXT NOT NULL, office_id VARCHAR(60) NOT NULL, service VARCHAR(20) NOT NULL,
				starts_at ` + tsType + ` NOT NULL,
				capacity INTEGER NOT NULL, booked INTEGER NOT NULL DEFAULT 0,
				CHECK (booked >= 0 AND booked <= capacity),
				PRIMARY KEY (ente_id, office_id, service, starts_at),
				FOREIGN KEY (ente_id, office_id, service) REFERENCES appt_office_services (ente_id, office_id, service))`,
			`CREATE TABLE appt_bookings (
				ente_id TEXT NOT NULL, id VARCHAR(20) NOT NULL, office_id VARCHAR(60) NOT NULL,
				service VARCHAR(20) NOT NULL, starts_at ` + tsType + ` NOT NULL, ends_at ` + tsType + ` NOT NULL,
				citizen_cf VARCHAR(16) NOT NULL, name VARCHAR(200) NOT NULL DEFAULT '',
				email VARCHAR(254) NOT NULL DEFAULT '', status VARCHAR(16) NOT NULL,
				created_at ` + tsType + ` NOT NULL, first_free_at ` + tsType + `,
				cancelled_at ` + tsType + `, cancel_reason VARCHAR(300) NOT NULL DEFAULT '',
				cancelled_by VARCHAR(100) NOT NULL DEFAULT '',
				reminded_at ` + tsType + `, checked_in_at ` + tsType + `,
				PRIMARY KEY (ente_id, id),
				FOREIGN KEY (ente_id, office_id, service, starts_at) REFERENCES appt_slots (ente_id, office_id, service, starts_at))`,
			// One active booking per citizen and service (partial index: both dialects).
			`CREATE UNIQUE INDEX appt_bookings_one_active ON appt_bookings (ente_id, citizen_cf, service) WHERE status = 'booked'`,
			`CREATE INDEX appt_bookings_citizen ON appt_bookings (ente_id, citizen_cf, starts_at)`,
			`CREATE INDEX appt_bookings_day ON appt_bookings (ente_id, office_id, starts_at)`,
		}
	}
	return []*store.Migration{{
		ID: "appuntamenti/0001_schema",
		Migrate: func(tx *gorm.DB) error {
			for _, s := range stmts(ts[tx.Dialector.Name()]) {
				if err := tx.Exec(s).Error; err != nil {
					return err
				}
			}
			return nil
		},
	}, {
		ID: "appuntamenti/0002_waiting_list",
		Migrate: func(tx *gorm.DB) error {
			t := ts[tx.Dialector.Name()]
			for _, s := range []string{
				`CREATE TABLE appt_waiters (
					ente_id TEXT NOT NULL, id VARCHAR(20) NOT NULL, office_id VARCHAR(60) NOT NULL,
					service VARCHAR(20) NOT NULL, citizen_cf VARCHAR(16) NOT NULL,
					name VARCHAR(200) NOT NULL DEFAULT '', email VARCHAR(254) NOT NULL,
					status VARCHAR(16) NOT NULL, created_at ` + t + ` NOT NULL,
					offer_start ` + t + `, offer_expires ` + t + `, offers INTEGER NOT NULL DEFAULT 0,
					PRIMARY KEY (ente_id, id),
					FOREIGN KEY (ente_id, office_id, service) REFERENCES appt_office_services (ente_id, office_id, service))`,
				// One place in line per citizen, office and service.
				`CREATE UNIQUE INDEX appt_waiters_one ON appt_waiters (ente_id, citizen_cf, office_id, service) WHERE status IN ('waiting', 'offered')`,
				`CREATE INDEX appt_waiters_line ON appt_waiters (ente_id, office_id, service, status, created_at)`,
			} {
				if err := tx.Exec(s).Error; err != nil {
					return err
				}
			}
			return nil
		},
	}, {
		ID: "appuntamenti/0003_confirm_lang",
		Migrate: func(tx *gorm.DB) error {
			t := ts[tx.Dialector.Name()]
			for _, s := range []string{
				`ALTER TABLE appt_bookings ADD COLUMN confirm_by ` + t,
				`ALTER TABLE appt_bookings ADD COLUMN confirmed_at ` + t,
				`ALTER TABLE appt_bookings ADD COLUMN confirm_asked_at ` + t,
				// The citizen's language, for the mails sent later by jobs.
				`ALTER TABLE appt_bookings ADD COLUMN lang VARCHAR(5) NOT NULL DEFAULT 'it'`,
				`ALTER TABLE appt_waiters ADD COLUMN lang VARCHAR(5) NOT NULL DEFAULT 'it'`,
				// The confirmation job's scan: active bookings by deadline.
				`CREATE INDEX appt_bookings_confirm ON appt_bookings (ente_id, status, confirm_by)`,
			} {
				if err := tx.Exec(s).Error; err != nil {
					return err
				}
			}
			return nil
		},
	}, {
		ID: "appuntamenti/0004_guests",
		Migrate: func(tx *gorm.DB) error {
			t := ts[tx.Dialector.Name()]
			for _, s := range []string{
				`ALTER TABLE appt_bookings ADD COLUMN guest BOOLEAN NOT NULL DEFAULT FALSE`,
				// Links mailed to citizens without an account: only the SHA-256 of the token
				// is stored. "confirm" carries the request until it is confirmed (single use);
				// "manage" opens one booking until it is over.
				`CREATE TABLE appt_guest_tokens (
					ente_id TEXT NOT NULL, hash VARCHAR(64) NOT NULL, kind VARCHAR(10) NOT NULL,
					booking_id VARCHAR(20) NOT NULL DEFAULT '', office_id VARCHAR(60) NOT NULL,
					service VARCHAR(20) NOT NULL, starts_at ` + t + ` NOT NULL,
					citizen_cf VARCHAR(16) NOT NULL, name VARCHAR(200) NOT NULL, email VARCHAR(254) NOT NULL,
					lang VARCHAR(5) NOT NULL DEFAULT 'it', created_at ` + t + ` NOT NULL,
					expires_at ` + t + ` NOT NULL, used_at ` + t + `,
					PRIMARY KEY (ente_id, hash),
					FOREIGN KEY (ente_id, office_id, service) REFERENCES appt_office_services (ente_id, office_id, service))`,
				// Fixed-window counters of the requests without an account (per address, per
				// email), taken with one conditional UPDATE.
				`CREATE TABLE appt_guest_limits (
					ente_id TEXT NOT NULL, limit_key VARCHAR(300) NOT NULL, window_start ` + t + ` NOT NULL,
					n INTEGER NOT NULL DEFAULT 0,
					PRIMARY KEY (ente_id, limit_key))`,
			} {
				if err := tx.Exec(s).Error; err != nil {
					return err
				}
			}
			return nil
		},
	}, {
		ID: "appuntamenti/0005_named_desks",
		Migrate: func(tx *gorm.DB) error {
			for _, s := range []string{
				// The names of an office's desks for a service ("Sportello 2 - piano terra");
				// a desk without a row is "Sportello <n>".
				`CREATE TABLE appt_desks (
					ente_id TEXT NOT NULL, office_id VARCHAR(60) NOT NULL, service VARCHAR(20) NOT NULL,
					number INTEGER NOT NULL CHECK (number BETWEEN 1 AND 100), name VARCHAR(60) NOT NULL,
					PRIMARY KEY (ente_id, office_id, service, number),
					FOREIGN KEY (ente_id, office_id, service) REFERENCES appt_office_services (ente_id, office_id, service))`,
				// The desk of each booking (0: booked before desks were numbered); two active
				// bookings of one slot never share a desk.
				`ALTER TABLE appt_bookings ADD COLUMN desk INTEGER NOT NULL DEFAULT 0`,
				`CREATE UNIQUE INDEX appt_bookings_desk ON appt_bookings (ente_id, office_id, service, starts_at, desk) WHERE status = 'booked' AND desk > 0`,
			} {
				if err := tx.Exec(s).Error; err != nil {
					return err
				}
			}
			return nil
		},
	}}
}
