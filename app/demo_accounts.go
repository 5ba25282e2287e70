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

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/roles"
)

// DemoPassword is the password of every demo account. Demo accounts exist only in
// development: `serve` refuses to start in production while any is active.
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
	var secret string
	err := a.db.WithContext(ctx).Table("accounts").Where("username = ? AND created_by = ?", username, demoActor).
		Pluck("totp_secret", &secret).Error
	return secret, err
}

// DemoCodes writes the current TOTP code of every demo staff account.
func (a *App) DemoCodes(ctx context.Context, w io.Writer) error {
	now := time.Now()
	for _, s := range a.DemoStaff() {
		var secret string
		if err := a.db.WithContext(ctx).Table("accounts").Where("username = ? AND created_by = ?", s.Username, demoActor).
			Pluck("totp_secret", &secret).Error; err != nil {
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

// refuseDemoInProduction stops a production start while demo accounts are active.
func (a *App) refuseDemoInProduction(ctx context.Context) error {
	if !a.cfg.Production() {
		return nil
	}
	var n int64
	if err := a.db.WithContext(ctx).Table("accounts").Where("created_by = ? AND status <> ?", demoActor, string(accounts.StatusBlocked)).
		Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("env is production but %d demo accounts (created_by=demo) are active: block them at /backoffice/personale or use a fresh database", n)
	}
	return nil
}
