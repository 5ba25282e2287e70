// Command sportello is the Sportello del Cittadino portal: one binary with embedded
// templates and static files.
//
//	sportello [serve]   start the portal (default)
//	sportello migrate   apply pending database migrations
//	sportello demo      load the fictional demo comune (idempotent)
//	sportello version   print the version
//	sportello staff     staff accounts (create the first admin, reset)
//	sportello anagrafe  population register (import from CSV)
//	sportello idp       embedded identity provider (clients, signing keys)
//	sportello <module> <command>  a module's own commands (services.Commands), such
//	                    as `sportello certificati keys` and `sportello certificati verify`
//
// Configuration: a YAML file (--config, or SPORTELLO_CONFIG) and SPORTELLO_* variables;
// see config/sportello.example.yaml.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	_ "time/tzdata" // Europe/Rome even on hosts without a zoneinfo database

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sportello:", err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: sportello [command] [flags]

Commands:
  serve     start the portal (default)
  migrate   apply pending database migrations
  demo      load the fictional demo comune (idempotent); demo codes: current TOTP codes of demo staff
  version   print the version
  staff     staff accounts: staff create --username U --given-name G --family-name F --email E --roles admin
  anagrafe  population register: anagrafe import [--dry-run] FILE.csv
  idp       embedded identity provider: idp clients add|list|remove, idp keys rotate

Module commands (sportello <module id> <command>; sportello <module id> lists them):
`)
	cfg, err := loadConfig(os.Getenv("SPORTELLO_CONFIG"))
	if err != nil {
		cfg = config.Default()
	}
	mods := app.CommandModules(cfg)
	ids := slices.Sorted(maps.Keys(mods))
	for _, id := range ids {
		for _, u := range mods[id] {
			fmt.Fprintf(w, "  %s %s\n", id, u)
		}
	}
	fmt.Fprint(w, `
Common flags:
  --config FILE   YAML configuration (default: $SPORTELLO_CONFIG, else built-in defaults)
`)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("sportello "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", os.Getenv("SPORTELLO_CONFIG"), "YAML configuration file")
	migrate := fs.Bool("migrate", false, "serve: apply pending migrations before starting")
	fs.Usage = func() { usage(stderr); fs.PrintDefaults() }
	switch cmd {
	case "help", "-h", "--help":
		usage(stdout)
		return nil
	case "version":
		fmt.Fprintln(stdout, "sportello", version)
		return nil
	case "serve", "migrate", "demo":
	case "staff", "anagrafe", "idp":
		// These parse their own flags; only --config is read here.
		cfg, err := loadConfig(configFromArgs(args))
		if err != nil {
			return err
		}
		switch cmd {
		case "staff":
			return staffCommand(ctx, cfg, args, stdout)
		case "idp":
			return idpCommand(ctx, cfg, args, stdout)
		}
		return anagrafeCommand(ctx, cfg, args, stdout)
	default:
		// `sportello <module id> ...`: the module's own commands (services.Commands).
		cfg, err := loadConfig(configFromArgs(args))
		if err != nil {
			return err
		}
		err = app.RunCommand(ctx, app.CommandOptions{Config: cfg, Log: newLogger(cfg, stderr), Stdout: stdout, Stderr: stderr},
			append([]string{cmd}, args...))
		if errors.Is(err, app.ErrNoSuchModule) {
			usage(stderr)
			return fmt.Errorf("unknown command %q", cmd)
		}
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	switch cmd {
	case "migrate":
		return runMigrate(ctx, cfg, log, stdout)
	case "demo":
		if fs.Arg(0) == "codes" {
			return runDemoCodes(ctx, cfg, log, stdout)
		}
		return runDemo(ctx, cfg, log, stdout)
	}
	return runServe(ctx, cfg, log, *migrate)
}

// loadConfig reads and validates the configuration.
func loadConfig(path string) (config.Config, error) {
	cfg, err := config.Load(path, os.Environ())
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// configFromArgs finds --config in the arguments of a command that parses its own
// flags, falling back to SPORTELLO_CONFIG.
func configFromArgs(args []string) string {
	path := os.Getenv("SPORTELLO_CONFIG")
	for i, a := range args {
		if (a == "--config" || a == "-config") && i+1 < len(args) {
			path = args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--config="); ok {
			path = v
		}
	}
	return path
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func runServe(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := app.New(ctx, app.Options{Config: cfg, Log: log, Migrate: migrate, Version: version})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (http.addr): %w", cfg.HTTP.Addr, err)
	}
	return a.Serve(ctx, ln)
}

func runMigrate(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL, DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return err
	}
	defer store.Close(db)
	migs := app.Migrations(app.EnabledModules(cfg, app.Builtin()))
	pending, err := store.Pending(ctx, db, migs)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		fmt.Fprintln(stdout, "database schema is current")
		return nil
	}
	if err := store.Migrate(ctx, db, migs); err != nil {
		return err
	}
	for _, id := range pending {
		fmt.Fprintln(stdout, "applied", id)
	}
	return nil
}

func runDemo(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	if cfg.Production() {
		return errors.New("demo data is fictional and is refused in production (env: production)")
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Log: log, Migrate: true, Version: version})
	if err != nil {
		return err
	}
	defer a.Close()
	report, err := a.SeedDemo(ctx)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, report)
	return nil
}

func runDemoCodes(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	a, err := app.New(ctx, app.Options{Config: cfg, Log: log, Version: version})
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintln(stdout, "Current TOTP codes of the demo staff accounts:")
	return a.DemoCodes(ctx, stdout)
}
