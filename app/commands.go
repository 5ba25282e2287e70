package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
)

// CommandOptions configure RunCommand.
type CommandOptions struct {
	Config         config.Config
	Log            *slog.Logger
	Stdout, Stderr io.Writer
	// Modules replaces the built-in module list (tests); nil means Builtin().
	Modules []services.Module
	// DB reuses an open, migrated database instead of opening one from the
	// configuration (tests); it is not closed.
	DB *gorm.DB
}

// ErrNoSuchModule is returned by RunCommand when args[0] names no enabled module.
var ErrNoSuchModule = errors.New("app: no such module")

// RunCommand runs `sportello <module id> <command> [args]`: args[0] is the module id,
// args[1] the command of its services.Commands. With no command, or "help", it lists
// the module's commands. A --config flag in args is dropped (cmd/sportello has read
// it). It returns ErrNoSuchModule when args[0] is not an enabled module, so that
// cmd/sportello needs no knowledge of modules.
func RunCommand(ctx context.Context, o CommandOptions, args []string) error {
	list := o.Modules
	if list == nil {
		list = Builtin()
	}
	modules := EnabledModules(o.Config, list)
	if len(args) == 0 {
		return ErrNoSuchModule
	}
	var mod services.Module
	for _, m := range modules {
		if m.Info().ID == args[0] {
			mod = m
		}
	}
	if mod == nil {
		return fmt.Errorf("%w: %q", ErrNoSuchModule, args[0])
	}
	id := args[0]
	var cmds []services.Command
	if c, ok := mod.(services.Commands); ok {
		cmds = c.Commands()
	}
	args = withoutConfigFlag(args[1:])
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		return commandHelp(o.Stdout, id, cmds)
	}
	var cmd *services.Command
	for i := range cmds {
		if cmds[i].Name == args[0] {
			cmd = &cmds[i]
		}
	}
	if cmd == nil {
		_ = commandHelp(o.Stderr, id, cmds)
		return fmt.Errorf("module %s has no command %q", id, args[0])
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var db *gorm.DB
	defer func() {
		if db != nil {
			_ = store.Close(db)
		}
	}()
	env := &services.CommandEnv{
		Config: o.Config, Log: log.With("module", id, "command", cmd.Name), Stdout: o.Stdout, Stderr: o.Stderr,
		Settings: func(out any) error { return o.Config.DecodeModule(id, out) },
		OpenDB: func(ctx context.Context) (*gorm.DB, error) {
			if o.DB != nil {
				return o.DB, nil
			}
			if db != nil {
				return db, nil
			}
			d, err := store.Open(ctx, store.Options{URL: o.Config.Database.URL, DataDir: o.Config.DataDir,
				MaxOpenConns: o.Config.Database.MaxOpenConns, Logger: log})
			if err != nil {
				return nil, err
			}
			if err := store.CheckCurrent(ctx, d, Migrations(modules)); err != nil {
				_ = store.Close(d)
				return nil, fmt.Errorf("%w: run `sportello migrate` first", err)
			}
			db = d
			return db, nil
		},
	}
	return cmd.Run(ctx, env, args[1:])
}

// CommandModules lists the ids of the enabled modules that have commands, with their
// commands' usage lines, for `sportello help`.
func CommandModules(cfg config.Config) map[string][]string {
	out := map[string][]string{}
	for _, m := range EnabledModules(cfg, Builtin()) {
		if c, ok := m.(services.Commands); ok {
			for _, cmd := range c.Commands() {
				out[m.Info().ID] = append(out[m.Info().ID], cmd.Usage)
			}
		}
	}
	return out
}

func commandHelp(w io.Writer, id string, cmds []services.Command) error {
	if len(cmds) == 0 {
		_, err := fmt.Fprintf(w, "Module %s has no commands.\n", id)
		return err
	}
	fmt.Fprintf(w, "Usage: sportello %s <command> [args]\n\nCommands:\n", id)
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-45s %s\n", c.Usage, c.Summary)
	}
	return nil
}

// withoutConfigFlag drops --config FILE and --config=FILE from args.
func withoutConfigFlag(args []string) []string {
	var out []string
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
