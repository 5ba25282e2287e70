package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/idp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
)

const idpUsage = `Usage: sportello idp COMMAND

Administers the embedded identity provider (/idp).

  clients add --name NAME --redirect-uri URI [--redirect-uri URI ...]
              [--post-logout-uri URI ...] [--public]
      registers a client of the comune and prints its id and, unless --public, its
      secret: the only time the secret is shown (only a hash is kept). Public clients
      (apps that cannot keep a secret) have none and must use PKCE, like every client.
  clients list
      lists the registered clients.
  clients remove ID
      removes a client; its codes and tokens stop working at once.
  portal forget BASE_URL
      takes an address the portal is no longer reached at off the portal client's
      redirect and post-logout URIs (BASE_URL/auth/callback, BASE_URL/auth/uscita).
  keys rotate
      makes a new ID token signing key current. The previous key stays published in
      the JWKS for 8 hours, so tokens it signed still verify; every replica switches
      within a minute.

The portal's own client (id "sportello") is registered by ` + "`sportello serve`" + ` at start:
each serving replica adds its base URL's URIs (none replaces another's); other
commands never change it.
`

// stringList is a repeatable string flag.
type stringList []string

// String implements flag.Value.
func (s *stringList) String() string { return strings.Join(*s, ",") }

// Set implements flag.Value.
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// idpCommand runs `sportello idp ...`.
func idpCommand(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	args = withoutConfigFlag(args)
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, idpUsage)
		if len(args) == 0 {
			return errors.New("idp: expected a command (clients add|list|remove, keys rotate)")
		}
		return nil
	}
	if len(args) < 2 {
		fmt.Fprint(stdout, idpUsage)
		return fmt.Errorf("idp: %q needs a subcommand", args[0])
	}
	cmd := args[0] + " " + args[1]
	fs := flag.NewFlagSet("sportello idp "+cmd, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() { fmt.Fprint(stdout, idpUsage) }
	var redirects, logouts stringList
	var name *string
	var public *bool
	switch cmd {
	case "clients add":
		name = fs.String("name", "", "the client's name, as administrators see it")
		fs.Var(&redirects, "redirect-uri", "a redirect URI (repeatable)")
		fs.Var(&logouts, "post-logout-uri", "a post-logout redirect URI (repeatable)")
		public = fs.Bool("public", false, "a public client, with no secret")
	case "clients list", "clients remove", "keys rotate", "portal forget":
	default:
		fmt.Fprint(stdout, idpUsage)
		return fmt.Errorf("idp: unknown command %q", cmd)
	}
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	switch {
	case cmd == "clients remove" && fs.NArg() != 1:
		return errors.New("idp clients remove: give exactly one client ID")
	case cmd == "portal forget" && fs.NArg() != 1:
		return errors.New("idp portal forget: give exactly one base URL")
	case cmd != "clients remove" && cmd != "portal forget" && fs.NArg() != 0:
		return fmt.Errorf("idp %s: unexpected arguments %v", cmd, fs.Args())
	case cmd == "clients add" && (strings.TrimSpace(*name) == "" || len(redirects) == 0):
		return errors.New("idp clients add: --name and at least one --redirect-uri are required")
	}

	db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL, DataDir: cfg.DataDir, MaxOpenConns: cfg.Database.MaxOpenConns})
	if err != nil {
		return err
	}
	defer store.Close(db)
	migs := append(audit.Migrations(), idp.Migrations()...)
	if err := store.CheckCurrent(ctx, db, migs); err != nil {
		return fmt.Errorf("idp: %w: run `sportello migrate` first", err)
	}
	box, err := app.SystemSecrets(cfg, nil)
	if err != nil {
		return err
	}
	p, err := idp.New(ctx, idp.Options{DB: db, BaseURL: cfg.HTTP.BaseURL, Log: slog.New(slog.DiscardHandler), Box: box})
	if err != nil {
		return err
	}

	switch cmd {
	case "clients add":
		id, secret, err := p.AddClient(ctx, *name, redirects, *public)
		if err != nil {
			return err
		}
		if len(logouts) > 0 {
			if err := p.SetPostLogoutURIs(ctx, id, logouts); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "client_id:     %s\n", id)
		if *public {
			fmt.Fprintln(stdout, "client_secret: (none: public client, PKCE required)")
		} else {
			fmt.Fprintf(stdout, "client_secret: %s\n", secret)
			fmt.Fprintln(stdout, "The secret is shown only now: store it in the client's configuration.")
		}
		fmt.Fprintf(stdout, "issuer:        %s\n", p.Issuer())
	case "clients list":
		list, err := p.ListClients(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tTYPE\tREDIRECT URIS\tPOST-LOGOUT URIS\tCREATED")
		for _, c := range list {
			kind := "confidential"
			if c.Public {
				kind = "public"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, strings.Join(c.RedirectURIs, " "),
				strings.Join(c.PostLogoutRedirectURIs, " "), c.CreatedAt.Format("2006-01-02 15:04"))
		}
		return w.Flush()
	case "clients remove":
		if err := p.RemoveClient(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed client %s\n", fs.Arg(0))
	case "portal forget":
		base := strings.TrimSuffix(fs.Arg(0), "/")
		if err := p.RemovePortalURIs(ctx, []string{base + "/auth/callback", base + "/auth/uscita"}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "the portal client no longer accepts %s\n", base)
	case "keys rotate":
		kid, err := p.RotateKeys(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new signing key: %s (the previous key stays published for %s)\n", kid, idp.KeyRetention)
	}
	return nil
}

// withoutConfigFlag drops --config FILE (read by the caller) wherever it appears.
func withoutConfigFlag(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--config" || a == "-config":
			i++
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
		default:
			out = append(out, a)
		}
	}
	return out
}
