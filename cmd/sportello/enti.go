package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/config"
)

const entiUsage = `Usage:
  sportello enti list
  sportello enti add --id ID --name NAME [fields]
  sportello enti update --id ID [fields]
  sportello enti citus

list    prints every ente with its host names.
add     creates an ente (a comune, or with --kind unione a union of comuni).
update  changes only the fields given.
citus   prints the statements that distribute this database by ente on a Citus
        cluster (PostgreSQL): reference tables and distributed tables.

Fields: --kind comune|unione, --parent UNION_ID, --name, --province, --istat-code,
--fiscal-code, --address, --phone, --email, --pec, --website, --coat-of-arms,
--theme-color #rrggbb, --mail-from, --hosts h1,h2 (replaces the list),
--disabled-modules m1,m2 (replaces the list; empty to offer every module),
--set module.key=value (repeatable: the ente's own setting of a module, laid over the
installation's modules.settings.<module>; an empty value removes it).

Enti listed in the configuration file are written again from it at every start: change
those in the file. This version serves one ente per installation (see README).
`

// entiCommand runs `sportello enti ...`.
func entiCommand(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, entiUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("sportello enti "+sub, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() { fmt.Fprint(stdout, entiUsage) }
	fs.String("config", "", "YAML configuration file")
	str := map[string]*string{}
	for _, name := range []string{"id", "kind", "parent", "name", "province", "istat-code", "fiscal-code", "address",
		"phone", "email", "pec", "website", "coat-of-arms", "theme-color", "mail-from", "hosts", "disabled-modules"} {
		str[name] = fs.String(name, "", name)
	}
	var sets settingFlags
	fs.Var(&sets, "set", "module.key=value: the ente's setting of a module (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("enti %s: unexpected argument %q", sub, fs.Arg(0))
	}
	if sub != "list" && sub != "add" && sub != "update" && sub != "citus" {
		fmt.Fprint(stdout, entiUsage)
		return fmt.Errorf("unknown enti command %q", sub)
	}

	db, err := store.Open(ctx, store.Options{URL: cfg.Database.URL, DataDir: cfg.DataDir, MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer store.Close(db)
	migs := app.Migrations(app.EnabledModules(cfg, app.Builtin()))
	if cfg.Embedded() {
		if err := store.Migrate(ctx, db, migs); err != nil {
			return err
		}
	}
	if pending, err := store.Pending(ctx, db, enti.Migrations()); err != nil {
		return err
	} else if len(pending) > 0 {
		return errors.New("the enti table is missing: run `sportello migrate` first")
	}
	st := enti.NewStore(db)

	if sub == "citus" {
		return citusStatements(ctx, db, app.EnteTables(app.EnabledModules(cfg, app.Builtin())), stdout)
	}
	if sub == "list" {
		list, err := st.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tPARENT\tISTAT\tNAME\tHOSTS")
		for _, e := range list {
			hosts := strings.Join(e.Hosts, ",")
			if hosts == "" {
				hosts = "(every host)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Kind, dash(e.ParentID), dash(e.IstatCode), e.Name, hosts)
		}
		return tw.Flush()
	}

	id := *str["id"]
	if id == "" {
		return errors.New("--id is required")
	}
	e := &enti.Ente{ID: id, Kind: enti.KindComune}
	if sub == "update" {
		if e, err = st.Get(ctx, id); err != nil {
			return err
		}
	} else if _, err := st.Get(ctx, id); err == nil {
		return fmt.Errorf("ente %s already exists: use `sportello enti update`", id)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fields := map[string]*string{
		"parent": &e.ParentID, "name": &e.Name, "province": &e.Province, "istat-code": &e.IstatCode,
		"fiscal-code": &e.FiscalCode, "address": &e.Address, "phone": &e.Phone, "email": &e.Email, "pec": &e.PEC,
		"website": &e.Website, "coat-of-arms": &e.CoatOfArms, "theme-color": &e.ThemeColor, "mail-from": &e.MailFrom,
	}
	for name, dst := range fields {
		if set[name] {
			*dst = strings.TrimSpace(*str[name])
		}
	}
	if set["kind"] {
		e.Kind = enti.Kind(*str["kind"])
	}
	if set["hosts"] {
		e.Hosts = splitList(*str["hosts"], enti.NormalizeHost)
	}
	if set["disabled-modules"] {
		e.DisabledModules = splitList(*str["disabled-modules"], strings.TrimSpace)
	}
	known := map[string]bool{}
	for _, m := range app.EnabledModules(cfg, app.Builtin()) {
		known[m.Info().ID] = true
	}
	for _, kv := range sets {
		k, v, _ := strings.Cut(kv, "=")
		module, key, ok := strings.Cut(strings.TrimSpace(k), ".")
		if !ok {
			return fmt.Errorf("--set %q: want module.key=value", kv)
		}
		if !known[module] {
			return fmt.Errorf("--set %q: no module %q in this portal", kv, module)
		}
		if err := e.SetModuleSetting(module, key, strings.TrimSpace(v)); err != nil {
			return fmt.Errorf("--set %q: %w", kv, err)
		}
	}
	if err := st.Put(ctx, e); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ente %s saved (%s)\n", e.ID, e.Name)
	return nil
}

func splitList(s string, norm func(string) string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = norm(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// settingFlags collects repeated --set flags.
type settingFlags []string

func (s *settingFlags) String() string     { return strings.Join(*s, " ") }
func (s *settingFlags) Set(v string) error { *s = append(*s, v); return nil }

// citusStatements prints the SQL that distributes the portal's tables on Citus: every
// ente-owned table by ente_id, co-located with the register; every other table of the
// schema as a reference table (copied to each node).
func citusStatements(ctx context.Context, db *gorm.DB, owned []string, w io.Writer) error {
	if store.DialectOf(db) != store.Postgres {
		return errors.New("Citus is PostgreSQL: point database.url at the PostgreSQL database to distribute")
	}
	var all []string
	if err := db.WithContext(ctx).Raw(`SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`).Scan(&all).Error; err != nil {
		return err
	}
	slices.Sort(owned)
	owned = slices.Compact(owned)
	fmt.Fprintln(w, "-- Run on the Citus coordinator, after `sportello migrate`, before opening to the public.")
	fmt.Fprintln(w, "CREATE EXTENSION IF NOT EXISTS citus;")
	fmt.Fprintln(w, "-- Installation-wide tables: a copy on every node.")
	for _, t := range all {
		if !slices.Contains(owned, t) {
			fmt.Fprintf(w, "SELECT create_reference_table('%s');\n", t)
		}
	}
	const anchor = "anagrafe_persons"
	fmt.Fprintln(w, "-- Ente-owned tables: sharded by ente_id, co-located, so that one ente's rows of every table are on one node.")
	fmt.Fprintf(w, "SELECT create_distributed_table('%s', 'ente_id');\n", anchor)
	for _, t := range owned {
		if t != anchor && slices.Contains(all, t) {
			fmt.Fprintf(w, "SELECT create_distributed_table('%s', 'ente_id', colocate_with => '%s');\n", t, anchor)
		}
	}
	return nil
}
