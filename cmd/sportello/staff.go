package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/templates"
)

const staffUsage = `Usage:
  sportello staff create --username U --given-name G --family-name F --email E --roles admin[,urp_operator,...] [--ente ID]
  sportello staff reset --username U
  sportello staff roles
  sportello staff grant  --account U --ente ID --role R
  sportello staff revoke --account U --ente ID --role R
  sportello staff grants --account U

create  makes a staff account and prints its activation code, once.
reset   puts a staff account back to pending with a new activation code (forgotten
        password or lost authenticator); the old password and TOTP stop working.

grant   gives a staff member a role in an ente other than their home: a union's staff
        in one of the union's member comuni (audited in that comune's log).
revoke  takes a granted role back; grants lists a staff member's grants. A change
        reaches running portals within 30 seconds.

Roles: those of the platform and of the enabled modules, listed by ` + "`sportello staff roles`" + `.
The activation code is printed only here: hand it over in person. The staff member
activates at <base_url>/idp/attiva, chooses a password and enrols an authenticator app.
`

// staffCommand runs `sportello staff ...`: it manages staff accounts from the command
// line, typically to create the first administrator. Actions are audited with the
// actor "cli" (kind system).
func staffCommand(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, staffUsage)
		return nil
	}
	portalRoles, err := app.Roles(app.EnabledModules(cfg, app.Builtin()))
	if err != nil {
		return err
	}
	if args[0] == "roles" {
		for _, id := range portalRoles.IDs() {
			fmt.Fprintln(stdout, id)
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("sportello staff "+sub, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() { fmt.Fprint(stdout, staffUsage) }
	// --config is read by main before the command runs; accept it here too.
	fs.String("config", "", "YAML configuration file")
	username := fs.String("username", "", "staff username (3-40 characters: a-z, 0-9, '.', '_', '-')")
	given := fs.String("given-name", "", "given name")
	family := fs.String("family-name", "", "family name")
	email := fs.String("email", "", "work email address")
	roles := fs.String("roles", "", "comma-separated roles")
	ente := fs.String("ente", "", "create: the comune or union whose staff the person is (required when the installation serves several); grant, revoke: the ente of the role")
	account := fs.String("account", "", "grant, revoke, grants: the staff member's username")
	role := fs.String("role", "", "grant, revoke: the role")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("staff %s: unexpected argument %q", sub, fs.Arg(0))
	}
	if sub != "create" && sub != "reset" && sub != "grant" && sub != "revoke" && sub != "grants" {
		fmt.Fprint(stdout, staffUsage)
		return fmt.Errorf("unknown staff command %q", sub)
	}

	db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL, DataDir: cfg.DataDir, MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer store.Close(db)
	need := append(audit.Migrations(), accounts.Migrations()...)
	if sub == "grant" || sub == "revoke" || sub == "grants" {
		need = append(enti.Migrations(), need...)
	}
	if cfg.Embedded() {
		// The embedded database is always migrated, as `serve` does.
		if err := store.Migrate(ctx, db, app.Migrations(app.EnabledModules(cfg, app.Builtin()))); err != nil {
			return err
		}
		if err := store.Migrate(ctx, db, need); err != nil {
			return err
		}
	}
	if pending, err := store.Pending(ctx, db, need); err != nil {
		return err
	} else if len(pending) > 0 {
		return fmt.Errorf("the accounts or enti tables are missing (%s): run `sportello migrate` first", strings.Join(pending, ", "))
	}
	if sub == "grant" || sub == "revoke" || sub == "grants" {
		return grantCommand(ctx, db, cfg, portalRoles, sub, *account, *ente, *role, stdout)
	}
	home, err := chooseEnte(ctx, db, cfg.Comune.ID, *ente)
	if err != nil {
		return fmt.Errorf("staff %s: %w", sub, err)
	}
	ctx = enti.WithEnte(ctx, &enti.Ente{ID: home})
	// The guard sets the ente of the audit entries written.
	if err := enti.NewGuard("audit_events").Install(db); err != nil {
		return err
	}
	svc := accounts.New(db, accounts.Options{BaseURL: cfg.HTTP.BaseURL, Issuer: cfg.Comune.Name, Roles: portalRoles})
	const actor = "system:cli"

	var (
		a    *accounts.Account
		cred accounts.Credentials
	)
	switch sub {
	case "create":
		var list []string
		for r := range strings.SplitSeq(*roles, ",") {
			if r = strings.TrimSpace(r); r != "" {
				list = append(list, r)
			}
		}
		a, cred, err = svc.CreateStaff(ctx, actor, accounts.StaffInput{Username: *username, GivenName: *given,
			FamilyName: *family, Email: *email, Roles: list})
		var ie *accounts.InputError
		if errors.As(err, &ie) {
			msgs, lerr := web.LoadI18n(templates.FS, "locales")
			for field, key := range ie.Fields {
				text := key
				if lerr == nil {
					text = msgs.T("en", key)
				}
				fmt.Fprintf(stdout, "  --%s: %s\n", strings.ReplaceAll(field, "_", "-"), text)
			}
			return errors.New("staff account not created")
		}
	case "reset":
		a, err = svc.ByUsername(ctx, *username)
		if errors.Is(err, accounts.ErrNotFound) || (err == nil && a.Kind != accounts.KindStaff) {
			return fmt.Errorf("no staff account %q", *username)
		}
		if err == nil {
			cred, err = svc.DeskResetPassword(ctx, actor, a.ID)
		}
		if errors.Is(err, accounts.ErrWrongState) {
			return fmt.Errorf("staff account %q is deactivated: reactivate it first", *username)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Staff account:    %s (%s)\n", a.Username, a.FullName())
	fmt.Fprintf(stdout, "Roles:            %s\n", strings.Join(a.Roles, ", "))
	fmt.Fprintf(stdout, "Activation code:  %s\n", cred.ActivationCode)
	fmt.Fprintf(stdout, "Valid until:      %s\n", cred.ExpiresAt.In(web.Rome).Format("02/01/2006 15:04"))
	fmt.Fprintf(stdout, "Activate at:      %s\n", svc.ActivationURL())
	fmt.Fprintln(stdout, "The code is shown only now and is not stored in clear: hand it over in person.")
	return nil
}

// grantCommand runs `sportello staff grant|revoke|grants`.
func grantCommand(ctx context.Context, db *gorm.DB, cfg config.Config, portalRoles roles.List, sub, account, ente, role string, stdout io.Writer) error {
	if account == "" || (sub != "grants" && (ente == "" || role == "")) {
		fmt.Fprint(stdout, staffUsage)
		return fmt.Errorf("staff %s: --account, --ente and --role are required", sub)
	}
	// The guard sets the ente of the audit entries written.
	if err := enti.NewGuard("audit_events").Install(db); err != nil {
		return err
	}
	g := app.StaffGrants{DB: db, Accounts: accounts.New(db, accounts.Options{BaseURL: cfg.HTTP.BaseURL, Roles: portalRoles}),
		Enti: enti.NewStore(db), Roles: portalRoles}
	if sub == "grants" {
		acc, list, err := g.List(ctx, account)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s, staff of %s, roles there: %s\n", acc.Username, acc.EnteID, strings.Join(acc.Roles, ", "))
		if len(list) == 0 {
			fmt.Fprintln(stdout, "No roles granted in other enti.")
		}
		for _, gr := range list {
			fmt.Fprintf(stdout, "%-24s %-24s granted %s by %s\n", gr.EnteID, gr.Role, gr.CreatedAt.In(web.Rome).Format("02/01/2006 15:04"), gr.GrantedBy)
		}
		return nil
	}
	changed, err := g.Change(ctx, "system:cli", sub == "revoke", account, ente, role)
	if err != nil {
		return fmt.Errorf("staff %s: %w", sub, err)
	}
	switch {
	case sub == "grant" && changed:
		fmt.Fprintf(stdout, "%s now holds %s in %s.\n", account, role, ente)
	case sub == "grant":
		fmt.Fprintf(stdout, "%s already held %s in %s: nothing changed.\n", account, role, ente)
	case changed:
		fmt.Fprintf(stdout, "%s no longer holds %s in %s.\n", account, role, ente)
	default:
		fmt.Fprintf(stdout, "%s held no grant of %s in %s: nothing changed.\n", account, role, ente)
	}
	return nil
}
