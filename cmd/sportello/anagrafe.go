package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
)

const anagrafeUsage = `Usage: sportello anagrafe import [--dry-run] [--ente ID] FILE

Loads the population register from FILE (CSV; format in the documentation of package
app/anagrafe, example in app/anagrafe/testdata/esempio.csv), all or nothing. With
--dry-run the file is checked and what would change is reported; nothing is written.
Rejected rows are listed with their line numbers and the command exits with an error.
An installation that serves several enti needs --ente, the comune whose register it is.
`

// anagrafeCommand runs `sportello anagrafe ...`.
func anagrafeCommand(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprint(stdout, anagrafeUsage)
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errors.New("anagrafe: expected the subcommand import")
	}
	fs := flag.NewFlagSet("sportello anagrafe import", flag.ContinueOnError)
	fs.SetOutput(stdout)
	dry := fs.Bool("dry-run", false, "check the file and report, without writing")
	ente := fs.String("ente", "", "the comune whose register the file is (required when the installation serves several)")
	fs.String("config", "", "configuration file (read by the caller)")
	fs.Usage = func() { fmt.Fprint(stdout, anagrafeUsage) }
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("anagrafe import: give exactly one FILE")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("anagrafe import: %w", err)
	}
	defer f.Close()
	db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL, DataDir: cfg.DataDir, MaxOpenConns: cfg.Database.MaxOpenConns})
	if err != nil {
		return err
	}
	defer store.Close(db)
	if err := store.CheckCurrent(ctx, db, anagrafe.Migrations()); err != nil {
		return fmt.Errorf("anagrafe import: %w: run `sportello migrate` first", err)
	}
	id, err := chooseEnte(ctx, db, cfg.Comune.ID, *ente)
	if err != nil {
		return fmt.Errorf("anagrafe import: %w", err)
	}
	ctx = enti.WithEnte(ctx, &enti.Ente{ID: id})
	// The guard sets the ente of every row written (and refuses a query without it).
	if err := enti.NewGuard(append([]string{"audit_events"}, anagrafe.Tables...)...).Install(db); err != nil {
		return err
	}
	rep, err := anagrafe.Import(ctx, db, f, *dry)
	fmt.Fprint(stdout, rep.String())
	if err != nil {
		return fmt.Errorf("anagrafe import of %s: %w", fs.Arg(0), err)
	}
	return nil
}

// chooseEnte returns the ente a command works for (the register imported, the staff
// member created): the one given, which must exist, or the installation's only one.
func chooseEnte(ctx context.Context, db *gorm.DB, configured, given string) (string, error) {
	var ids []string
	if !db.Migrator().HasTable("enti") {
		// A database made by an older version (or only the register's tables): the
		// portal writes the configured ente at its next start.
		if given != "" && given != configured {
			return "", fmt.Errorf("no ente %q (the only one is %s)", given, configured)
		}
		return configured, nil
	}
	if err := db.WithContext(ctx).Table("enti").Order("id").Pluck("id", &ids).Error; err != nil {
		return "", err
	}
	switch {
	case given != "" && slices.Contains(ids, given):
		return given, nil
	case given != "":
		return "", fmt.Errorf("no ente %q (enti: %s)", given, strings.Join(ids, ", "))
	case len(ids) == 1:
		return ids[0], nil
	case len(ids) == 0:
		return configured, nil
	default:
		return "", fmt.Errorf("this installation serves several enti (%s): say whose register it is with --ente", strings.Join(ids, ", "))
	}
}
