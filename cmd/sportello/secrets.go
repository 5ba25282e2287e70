package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/secretbox"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
)

const secretsUsage = `Usage: sportello secrets [status|rotate|forget --lost]

The system secrets (secrets.system, SPORTELLO_SECRETS_SYSTEM: a list, newest first)
encrypt what the database holds to sign or check credentials: the identity
provider's signing keys and token keys, the TOTP secrets.

  status   show the configured secrets' key ids and, for each encrypted column,
           which key ids its values name (never a secret)
  rotate   encrypt again, with the newest secret, every value encrypted with an
           older one (and any value still in clear). Safe to run again; the older
           secrets keep decrypting until it ends.
  forget --lost
           only when a system secret is lost for good: give up every value sealed
           with a secret that is not configured. The provider makes new keys at
           the next start (everyone logs in again); TOTP is turned off where its
           secret is lost (staff listed for sportello staff reset). Nothing else
           is lost. Audited.

Rotating the system secret:
  1. generate a new one (openssl rand -base64 32);
  2. configure secrets.system as NEW,OLD on every replica and restart them;
  3. run sportello secrets rotate;
  4. configure secrets.system as NEW alone and restart.
`

// secretsCommand runs `sportello secrets ...`.
func secretsCommand(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	var rest []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--config" || a == "-config":
			i++ // read by configFromArgs
		case strings.HasPrefix(a, "--config="):
		default:
			rest = append(rest, a)
		}
	}
	sub := "status"
	if len(rest) > 0 {
		sub = rest[0]
	}
	if sub == "forget" && (len(rest) != 2 || rest[1] != "--lost") {
		fmt.Fprint(stdout, secretsUsage)
		return fmt.Errorf("secrets forget: add --lost to confirm that the old system secret is lost for good")
	}
	if (len(rest) > 1 && sub != "forget") || (sub != "status" && sub != "rotate" && sub != "forget") {
		fmt.Fprint(stdout, secretsUsage)
		return fmt.Errorf("secrets: unknown command %q", strings.Join(rest, " "))
	}
	db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL, DataDir: cfg.DataDir, MaxOpenConns: cfg.Database.MaxOpenConns,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer store.Close(db)
	if err := store.CheckCurrent(ctx, db, app.Migrations(app.EnabledModules(cfg, app.Builtin()))); err != nil {
		return fmt.Errorf("secrets: %w: run `sportello migrate` first", err)
	}
	box, err := app.SystemSecrets(cfg, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "configured system secrets (newest first): key id %s\n", strings.Join(box.KeyIDs(), ", "))
	switch sub {
	case "rotate":
		return app.RotateSecrets(ctx, db, box, stdout)
	case "forget":
		return app.ForgetLostSecrets(ctx, db, box, stdout)
	}
	for _, c := range app.SealedColumns() {
		st, err := secretbox.Inspect(ctx, db, c)
		if err != nil {
			return err
		}
		var ids []string
		for _, id := range st.KeyIDs {
			switch {
			case id == box.KeyID():
				ids = append(ids, id+" (newest)")
			case box.Known(id):
				ids = append(ids, id+" (older: run rotate)")
			default:
				ids = append(ids, id+" (NOT CONFIGURED)")
			}
		}
		desc := "no sealed values"
		if len(ids) > 0 {
			desc = "key id " + strings.Join(ids, ", ")
		}
		fmt.Fprintf(stdout, "  %-32s %s; %d in clear\n", c.Name(), desc, st.Clear)
	}
	return nil
}
