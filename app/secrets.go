package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/idp"
	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
)

// SealedColumns are every column of the platform that holds values sealed with the
// system secret: the identity provider's signing keys and token secrets, the TOTP
// secrets. A future secret of the same kind (a pagoPA key kept in the database)
// adds its column here.
func SealedColumns() []secretbox.Column {
	return append(idp.SealedColumns(), accounts.SealedColumns()...)
}

// SystemSecrets returns the box of the configured system secrets (secrets.system,
// newest first). In development with none configured it uses the secret kept in
// <data_dir>/system-secret, generating it (mode 0600) on first start, and warns when
// that file is readable by group or others. Production requires the configuration
// (config.Validate refuses a start without it).
func SystemSecrets(cfg config.Config, log *slog.Logger) (*secretbox.Box, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	list := cfg.Secrets.System
	if len(list) == 0 {
		if cfg.Production() {
			return nil, fmt.Errorf("config: %s: is required in production", config.SystemSecretKey)
		}
		path := filepath.Join(cfg.DataDir, secretbox.DevFileName)
		secret, created, err := secretbox.LoadOrCreateFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w (or configure %s)", err, config.SystemSecretKey)
		}
		if created {
			log.Warn("generated a system secret for development: back it up apart from the database, or set secrets.system",
				"file", path)
		}
		if who, err := secretbox.ExposedTo(path); err == nil && who != "" {
			log.Warn("system secret file readable by "+who+": make it 0600", "file", path)
		}
		list = []string{secret}
	}
	box, err := secretbox.New(list)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", config.SystemSecretKey, err)
	}
	return box, nil
}

func (a *App) systemSecrets() (*secretbox.Box, error) { return SystemSecrets(a.cfg, a.log) }

// RotateSecrets seals again, with the newest system secret, every value sealed with
// an older one (and any value still in clear), column by column in batches of
// secretbox.BatchSize rows per transaction. The older secrets keep opening what is
// not yet done, so the portal keeps working during the rotation and an interrupted
// rotation is finished by running it again. It refuses, before changing anything,
// values sealed with a secret that is not configured. The rotation is audited. It
// writes a line per column to w.
func RotateSecrets(ctx context.Context, db *gorm.DB, box *secretbox.Box, w io.Writer) error {
	cols := SealedColumns()
	wrong := &secretbox.WrongSecretError{Unknown: map[string][]string{}, Configured: box.KeyIDs()}
	for _, c := range cols {
		st, err := secretbox.Inspect(ctx, db, c)
		if err != nil {
			return err
		}
		if u := box.Unknown(st); len(u) > 0 {
			wrong.Unknown[c.Name()] = u
		}
	}
	if len(wrong.Unknown) > 0 {
		return wrong
	}
	counts := map[string]any{}
	total := 0
	for _, c := range cols {
		n, err := secretbox.Reseal(ctx, db, box, c)
		if err != nil {
			return fmt.Errorf("secrets rotate: %w (run it again to finish: what is done stays done)", err)
		}
		counts[c.Name()] = n
		total += n
		fmt.Fprintf(w, "  %-32s %d value(s) sealed again\n", c.Name(), n)
	}
	fmt.Fprintf(w, "every secret in the database is now sealed with the system secret of key id %s.\n", box.KeyID())
	if len(box.KeyIDs()) > 1 {
		fmt.Fprintln(w, "Once every replica runs with this configuration, the older secrets can be removed from secrets.system.")
	}
	return audit.Record(ctx, db.WithContext(ctx), audit.Entry{ActorKind: audit.ActorSystem, Action: "secrets.rotate",
		ObjectType: "system_secret", ObjectID: box.KeyID(), Details: map[string]any{"resealed": counts, "total": total}})
}

// ForgetLostSecrets is the way out when a system secret is lost: it gives up every
// value sealed with a secret that box does not hold, in one transaction (audited as
// secrets.forget). The provider's signing keys and token secrets sealed with it are
// deleted (the next start makes new ones: open logins and tokens end, people log in
// again); TOTP secrets are emptied and TOTP turned off (citizens log in with their
// password and may enrol again; staff must be reset with `sportello staff reset`,
// and enrol again while activating). Nothing else changes. It writes what it did and
// the staff accounts to reset to w.
func ForgetLostSecrets(ctx context.Context, db *gorm.DB, box *secretbox.Box, w io.Writer) error {
	cols := SealedColumns()
	lost := map[string]bool{}
	for _, c := range cols {
		st, err := secretbox.Inspect(ctx, db, c)
		if err != nil {
			return err
		}
		for _, id := range box.Unknown(st) {
			lost[id] = true
		}
	}
	if len(lost) == 0 {
		fmt.Fprintln(w, "every sealed value opens with the configured system secrets: nothing to forget")
		return nil
	}
	ids := slices.Sorted(maps.Keys(lost))
	counts := map[string]any{}
	err := store.WithTx(ctx, db, func(tx *gorm.DB) error {
		for _, c := range cols {
			keys, err := secretbox.Forget(ctx, tx, c, ids)
			if err != nil {
				return err
			}
			counts[c.Name()] = len(keys)
			fmt.Fprintf(w, "  %-32s %d value(s) given up\n", c.Name(), len(keys))
		}
		return audit.Record(ctx, tx, audit.Entry{ActorKind: audit.ActorSystem, Action: "secrets.forget",
			ObjectType: "system_secret", ObjectID: strings.Join(ids, ","), Details: map[string]any{"forgotten": counts}})
	})
	if err != nil {
		return fmt.Errorf("secrets forget: %w", err)
	}
	var staff []string
	if err := db.WithContext(ctx).Table("accounts").Where("kind = ? AND status = ? AND totp_enabled = ?",
		string(accounts.KindStaff), string(accounts.StatusActive), false).Order("username").Pluck("username", &staff).Error; err != nil {
		return err
	}
	fmt.Fprintf(w, "values sealed with key id %s are gone; the next start makes new provider keys.\n", strings.Join(ids, ", "))
	if len(staff) > 0 {
		fmt.Fprintf(w, "Staff without TOTP cannot log in until reset (they enrol again while activating):\n")
		for _, u := range staff {
			fmt.Fprintf(w, "  sportello staff reset --username %s\n", u)
		}
	}
	return nil
}
