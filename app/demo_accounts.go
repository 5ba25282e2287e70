package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/store"
)

// DemoPassword is the password of every demo account. Demo accounts exist only in
// development: `serve` refuses to start in production while any demo data is present.
const DemoPassword = "Valdoria-Demo-2026"

// demoActor marks demo accounts (created_by) so production can refuse them.
const demoActor = "demo"

// DemoStaffMember is one demo staff account.
type DemoStaffMember struct{ Username, Given, Family, Role string }

// demoNames are fictional names for the demo staff, in role order.
var demoNames = map[string][2]string{roles.URP: {"Paola", "Conti"}, roles.Admin: {"Franca", "Neri"}}

// demoModuleNames name the demo staff of module roles, in turn.
var demoModuleNames = [][2]string{{"Marco", "Ferri"}, {"Elena", "Riva"}, {"Davide", "Sala"}, {"Sara", "Longo"}, {"Luca", "Greco"}}

// DemoStaff are the demo staff accounts, one per role of the portal (the platform's
// and the enabled modules'): the username is "demo." and the role id up to its first
// underscore (demo.urp, demo.anagrafe, demo.admin), with a number added if two roles
// would share it.
func (a *App) DemoStaff() []DemoStaffMember {
	var out []DemoStaffMember
	taken := map[string]bool{}
	next := 0
	for _, d := range a.roles {
		base, _, _ := strings.Cut(d.ID, "_")
		name := "demo." + base
		for i := 2; taken[name]; i++ {
			name = "demo." + base + strconv.Itoa(i)
		}
		taken[name] = true
		n, ok := demoNames[d.ID]
		if !ok {
			n = demoModuleNames[next%len(demoModuleNames)]
			next++
		}
		out = append(out, DemoStaffMember{name, n[0], n[1], d.ID})
	}
	return out
}

// DemoCitizenUsername is the username of the demo citizen (Giulia Bianchi, the
// register's demo resident).
const DemoCitizenUsername = "giulia.bianchi"

// seedDemoAccounts creates the demo citizen and staff (idempotent) and writes their
// credentials to w. Staff need TOTP: their secrets are printed so that a tester can add
// them to an authenticator app (or read the current codes with `sportello demo codes`).
func (a *App) seedDemoAccounts(ctx context.Context, w io.Writer) error {
	acc := a.accounts
	if _, err := acc.ByUsername(ctx, DemoCitizenUsername); errors.Is(err, accounts.ErrNotFound) {
		c, err := acc.RegisterCitizen(ctx, demoActor, accounts.CitizenInput{
			FiscalCode: anagrafe.DemoCitizenCF, GivenName: "Giulia", FamilyName: "Bianchi",
			BirthDate: time.Date(1985, 3, 12, 0, 0, 0, 0, time.UTC), Email: "giulia.bianchi@example.org",
			IDDocType: accounts.DocCIE, IDDocNumber: "CA00000AA", DocumentSeen: true,
		})
		if err != nil {
			return fmt.Errorf("demo citizen: %w", err)
		}
		cred, err := acc.IssueCredentials(ctx, demoActor, c.ID)
		if err != nil {
			return err
		}
		if cred.Username != DemoCitizenUsername {
			return fmt.Errorf("demo citizen got username %q, expected %q", cred.Username, DemoCitizenUsername)
		}
		if _, err := acc.Activate(ctx, cred.Username, cred.ActivationCode, DemoPassword, "127.0.0.1"); err != nil {
			return fmt.Errorf("demo citizen activation: %w", err)
		}
	} else if err != nil {
		return err
	}
	fmt.Fprintf(w, "Demo accounts (password %q for all; demo only, refused in production):\n", DemoPassword)
	fmt.Fprintf(w, "  citizen  %-16s Giulia Bianchi, codice fiscale %s\n", DemoCitizenUsername, anagrafe.DemoCitizenCF)
	for _, s := range a.DemoStaff() {
		secret, err := a.demoStaff(ctx, s.Username, s.Given, s.Family, s.Role)
		if err != nil {
			return fmt.Errorf("demo staff %s: %w", s.Username, err)
		}
		fmt.Fprintf(w, "  staff    %-16s role %-17s TOTP secret %s\n", s.Username, s.Role, secret)
	}
	fmt.Fprintln(w, "  Staff log in with a TOTP code: add the secret to an authenticator app, or run `sportello demo codes`.")
	return nil
}

// demoStaff makes sure one demo staff account is active with TOTP and returns its
// TOTP secret.
func (a *App) demoStaff(ctx context.Context, username, given, family, role string) (string, error) {
	acc := a.accounts
	if _, err := acc.ByUsername(ctx, username); errors.Is(err, accounts.ErrNotFound) {
		s, cred, err := acc.CreateStaff(ctx, demoActor, accounts.StaffInput{Username: username, GivenName: given,
			FamilyName: family, Email: username + "@comune.valdoria.example", Roles: []string{role}})
		if err != nil {
			return "", err
		}
		if _, err := acc.CheckActivation(ctx, cred.Username, cred.ActivationCode, "127.0.0.1"); err != nil {
			return "", err
		}
		secret, _, err := acc.BeginTOTP(ctx, s.ID)
		if err != nil {
			return "", err
		}
		code, err := totp.GenerateCode(secret, time.Now())
		if err != nil {
			return "", err
		}
		if err := acc.ConfirmTOTP(ctx, s.ID, code); err != nil {
			return "", err
		}
		if _, err := acc.Activate(ctx, cred.Username, cred.ActivationCode, DemoPassword, "127.0.0.1"); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	// The secret is stored sealed with the system secret; only demo accounts can be
	// read back, for printing.
	return acc.DemoTOTPSecret(ctx, username, demoActor)
}

// DemoCodes writes the current TOTP code of every demo staff account.
func (a *App) DemoCodes(ctx context.Context, w io.Writer) error {
	now := time.Now()
	for _, s := range a.DemoStaff() {
		secret, err := a.accounts.DemoTOTPSecret(ctx, s.Username, demoActor)
		if err != nil && !errors.Is(err, accounts.ErrNotFound) {
			return err
		}
		if secret == "" {
			fmt.Fprintf(w, "  %-16s (no demo account: run `sportello demo`)\n", s.Username)
			continue
		}
		code, err := totp.GenerateCode(secret, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-16s %s (valid for %d more seconds)\n", s.Username, code, 30-now.Unix()%30)
	}
	return nil
}

// demoSeedRow records that `sportello demo` loaded the demo data of one part of the
// portal ("anagrafe", "accounts" or a module id). Module data (offices,
// certificates...) carries no mark of its own: this row is the mark, so a production
// start can refuse whatever the demo loaded, whatever the module.
type demoSeedRow struct {
	Part     string `gorm:"primaryKey"`
	SeededAt time.Time
}

// TableName fixes the table name.
func (demoSeedRow) TableName() string { return "demo_seeds" }

// demoMigrations creates demo_seeds.
func demoMigrations() []*store.Migration {
	type demoSeed struct {
		Part     string    `gorm:"primaryKey;size:60"`
		SeededAt time.Time `gorm:"not null"`
	}
	return []*store.Migration{{
		ID:      "app/0001_demo_seeds",
		Migrate: func(tx *gorm.DB) error { return tx.Table("demo_seeds").AutoMigrate(&demoSeed{}) },
	}}
}

// markDemo records that the demo data of part was loaded.
func (a *App) markDemo(ctx context.Context, part string) error {
	return a.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&demoSeedRow{Part: part, SeededAt: time.Now().UTC()}).Error
}

// refuseDemoInProduction stops a production start while the database holds any demo
// data, and says what it found: demo accounts (created_by = demo, blocked ones too),
// demo residents (the fictional tax codes of the demo register) and the parts
// `sportello demo` marked as loaded (demo_seeds: offices, certificates...).
func (a *App) refuseDemoInProduction(ctx context.Context) error {
	if !a.cfg.Production() {
		return nil
	}
	db := a.db.WithContext(ctx)
	var found []string
	var n int64
	if err := db.Table("accounts").Where("created_by = ?", demoActor).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		found = append(found, fmt.Sprintf("%d demo accounts (created_by=demo, blocked ones included)", n))
	}
	cfs, err := anagrafe.DemoFiscalCodes()
	if err != nil {
		return err
	}
	if err := enti.AllEnti(db, "demo data check").Table("anagrafe_persons").Where("fiscal_code IN ?", cfs).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		found = append(found, fmt.Sprintf("%d demo residents in the population register", n))
	}
	var parts []string
	if err := db.Model(&demoSeedRow{}).Order("part").Pluck("part", &parts).Error; err != nil {
		return err
	}
	if len(parts) > 0 {
		found = append(found, "demo data loaded by `sportello demo` for: "+strings.Join(parts, ", "))
	}
	if len(found) > 0 {
		return fmt.Errorf("env is production but the database holds demo data: %s. Use a fresh database for production",
			strings.Join(found, "; "))
	}
	return nil
}
