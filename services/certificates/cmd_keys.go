package certificates

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/config"
)

const keysUsage = `Usage: sportello certificati keys [list|init|rotate|jwks] [--ente ID]

Manages the key ring of the digital stamp printed on certificates, in the directory
named by modules.settings.certificati.key_dir (default <data_dir>/keys/stamp). Every
comune signs with its own keys: those of the configured comune (comune.id) are in
key_dir, another ente's (--ente ID) in key_dir/enti/ID.

  list     show the key directory, the active signing key and the retired keys
  init     create the directory with a first key, if it holds none (production
           refuses to start without it)
  rotate   make a new key the active one; the old key is retired and keeps
           verifying the certificates it stamped. Every replica must share the
           directory and be restarted to sign with the new key.
  jwks     print the public keys (the document published at
           /.well-known/sportello-stamp-keys.json), for offline checks
`

// keysCommand runs `sportello certificati keys ...`.
func keysCommand(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	sub := "list"
	if len(args) > 0 {
		sub = args[0]
	}
	ente := ""
	if len(args) == 3 && (args[1] == "--ente" || args[1] == "-ente") {
		ente, args = args[2], args[:1]
	}
	if len(args) > 1 {
		fmt.Fprint(stdout, keysUsage)
		return fmt.Errorf("keys %s: unexpected arguments %s", sub, strings.Join(args[1:], " "))
	}
	s, err := LoadSettings(cfg)
	if err != nil {
		return err
	}
	dir := s.KeyDir
	if ente != "" && ente != cfg.Comune.ID {
		dir = EnteKeyDir(s.KeyDir, ente)
	}
	switch sub {
	case "list":
		ring, err := stamp.LoadDir(dir)
		if err != nil {
			return fmt.Errorf("keys list: %w (create the keys with `sportello certificati keys init`)", err)
		}
		fmt.Fprintf(stdout, "key directory: %s\n", dir)
		for _, kid := range ring.KIDs() {
			status := "retired (verifies only)"
			if kid == ring.ActiveKID() {
				status = "active (signs new certificates)"
			}
			fmt.Fprintf(stdout, "  %s  ES256 P-256  %s\n", kid, status)
		}
		fmt.Fprintf(stdout, "published at %s%s\n", strings.TrimSuffix(cfg.HTTP.BaseURL, "/"), KeysPath)
		return nil
	case "init":
		ring, created, err := stamp.LoadOrCreateDir(dir)
		if err != nil {
			return fmt.Errorf("keys init: %w", err)
		}
		if created {
			fmt.Fprintf(stdout, "created %s with the signing key %s\n", dir, ring.ActiveKID())
		} else {
			fmt.Fprintf(stdout, "%s already holds keys; active key %s\n", dir, ring.ActiveKID())
		}
		return nil
	case "rotate":
		old, err := stamp.LoadDir(dir)
		if err != nil {
			return fmt.Errorf("keys rotate: %w (create the keys with `sportello certificati keys init`)", err)
		}
		kid, err := stamp.Rotate(dir)
		if err != nil {
			return fmt.Errorf("keys rotate: %w", err)
		}
		fmt.Fprintf(stdout, "new active key %s; %s is retired and keeps verifying the certificates it stamped\n", kid, old.ActiveKID())
		fmt.Fprintln(stdout, "restart every replica (they load the key ring at start) to sign with the new key")
		return nil
	case "jwks":
		ring, err := stamp.LoadDir(dir)
		if err != nil {
			return fmt.Errorf("keys jwks: %w", err)
		}
		b, err := ring.PublicJWKS()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	case "help", "-h", "--help":
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	fmt.Fprint(stdout, keysUsage)
	return errors.New("keys: unknown subcommand " + sub)
}
