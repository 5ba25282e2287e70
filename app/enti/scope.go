package enti

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Column is the name of the column that carries the ente in every ente-owned table.
// It is part of each such table's primary or unique keys, so that the schema can be
// distributed by ente (Citus) and no unique value is shared between two comuni.
const Column = "ente_id"

// ErrUnscoped is returned by any statement on an ente-owned table made through a
// handle that is neither scoped to an ente (Scoped) nor explicitly cross-ente
// (AllEnti). It means a bug: a query that forgot whose data it reads.
var ErrUnscoped = errors.New("enti: query on an ente-owned table without an ente scope")

// ErrWrongEnte is returned when a row created through a scoped handle names another
// ente than the scope.
var ErrWrongEnte = errors.New("enti: row belongs to another ente than the scope")

// ErrNoEnte is returned by code that needs the request's ente (a number it assigns per
// ente, a setting of the ente) when the context carries none.
var ErrNoEnte = errors.New("enti: no ente in the context")

// For returns db bound to ctx and, when ctx carries an ente (FromContext) and db is not
// already scoped (Scoped or AllEnti), scoped to that ente. Without an ente in ctx the
// handle is left unscoped: the guard then refuses its statements on ente-owned tables
// (ErrUnscoped) while tables that are not ente-owned work as before. Packages use it
// wherever they used db.WithContext(ctx).
func For(ctx context.Context, db *gorm.DB) *gorm.DB {
	db = db.WithContext(ctx)
	if _, ok := db.Get(settingAll); ok || ScopeOf(db) != "" || len(SetOf(db)) > 0 {
		return db
	}
	if e := FromContext(ctx); e != nil {
		return Scoped(db, e.ID)
	}
	return db
}

const (
	settingEnte = "sportello:ente"
	settingSet  = "sportello:ente:set"
	settingAll  = "sportello:ente:all"
)

// Scoped returns a handle whose every statement on an ente-owned table is confined to
// ente id: queries, updates and deletes get "<table>.ente_id = id" added, created rows
// get the ente set (and are refused if they name another). The handle is reusable
// (a new statement per call) and keeps the scope through WithContext and Transaction.
func Scoped(db *gorm.DB, id string) *gorm.DB {
	return db.Set(settingEnte, id).Session(&gorm.Session{})
}

// AllEnti returns a handle allowed to read and write ente-owned tables of every ente:
// for the Union's reports, migrations and maintenance commands. Every use is a
// decision, so it takes the reason, which the guard keeps for error messages.
func AllEnti(db *gorm.DB, reason string) *gorm.DB {
	return db.Set(settingAll, reason).Session(&gorm.Session{})
}

// ScopedSet returns a handle confined to the enti ids: statements on an ente-owned
// table get "<table>.ente_id IN (ids)" added, and a created row must name one of them.
// It is the one way a request spans enti: a Union's back office listing the records
// of the member comuni where its user holds a role (see Span). An empty set matches
// nothing, never everything.
func ScopedSet(db *gorm.DB, ids []string) *gorm.DB {
	set := slices.Clone(ids)
	slices.Sort(set)
	set = slices.Compact(set)
	if set == nil {
		set = []string{}
	}
	return db.Set(settingSet, set).Session(&gorm.Session{})
}

// SetOf returns the enti a handle made by ScopedSet is confined to, or nil.
func SetOf(db *gorm.DB) []string {
	if v, ok := db.Get(settingSet); ok {
		s, _ := v.([]string)
		return s
	}
	return nil
}

// ScopeOf returns the ente a handle is scoped to, or "".
func ScopeOf(db *gorm.DB) string {
	if v, ok := db.Get(settingEnte); ok {
		s, _ := v.(string)
		return s
	}
	return ""
}

// Guard knows which tables are ente-owned and checks every statement on them. One
// Guard is installed per database handle (Install) at start; modules and platform
// packages register their tables with Own.
type Guard struct {
	mu     sync.RWMutex
	tables map[string]bool
	// rawRE finds an owned table named in raw SQL (rebuilt when tables change).
	rawRE *regexp.Regexp
}

// NewGuard returns a guard for the given ente-owned tables.
func NewGuard(tables ...string) *Guard {
	g := &Guard{tables: map[string]bool{}}
	g.Own(tables...)
	return g
}

// Own registers more ente-owned tables.
func (g *Guard) Own(tables ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, t := range tables {
		g.tables[strings.ToLower(t)] = true
	}
	names := make([]string, 0, len(g.tables))
	for t := range g.tables {
		names = append(names, regexp.QuoteMeta(t))
	}
	slices.Sort(names)
	if len(names) == 0 {
		g.rawRE = nil
		return
	}
	g.rawRE = regexp.MustCompile(`(?i)(^|[^a-z0-9_])"?(` + strings.Join(names, "|") + `)"?([^a-z0-9_]|$)`)
}

// Tables lists the ente-owned tables, sorted.
func (g *Guard) Tables() []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]string, 0, len(g.tables))
	for t := range g.tables {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

func (g *Guard) owned(table string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.tables[strings.ToLower(strings.Trim(table, `"`))]
}

// rawTable returns the first ente-owned table raw SQL names, or "".
func (g *Guard) rawTable(sql string) string {
	g.mu.RLock()
	re := g.rawRE
	g.mu.RUnlock()
	if re == nil {
		return ""
	}
	if m := re.FindStringSubmatch(sql); m != nil {
		return strings.ToLower(m[2])
	}
	return ""
}

// Install registers the guard's callbacks on db. Statements are checked before GORM
// builds them; raw SQL (db.Raw, db.Exec) that names an owned table must come through
// a scoped or AllEnti handle and carry its own ente condition, which the guard cannot
// add to hand-written SQL.
func (g *Guard) Install(db *gorm.DB) error {
	cb := db.Callback()
	errs := []error{
		cb.Query().Before("gorm:query").Register("enti:scope_query", g.scopeWhere),
		cb.Update().Before("gorm:update").Register("enti:scope_update", g.scopeWhere),
		cb.Delete().Before("gorm:delete").Register("enti:scope_delete", g.scopeWhere),
		cb.Create().Before("gorm:create").Register("enti:scope_create", g.scopeCreate),
		cb.Row().Before("gorm:row").Register("enti:scope_row", g.scopeRow),
		cb.Raw().Before("gorm:raw").Register("enti:scope_raw", g.scopeRaw),
	}
	return errors.Join(errs...)
}

// scope reports what the statement's handle allows: an ente id, all enti, or nothing.
// A handle confined to a set of enti (ScopedSet) counts as scoped: its id is the
// marker setScope and its statements are confined by scopeSet.
func scope(db *gorm.DB) (id string, all bool) {
	if _, ok := db.Get(settingAll); ok {
		return "", true
	}
	if _, ok := db.Get(settingSet); ok {
		return setScope, false
	}
	return ScopeOf(db), false
}

// setScope is what scope returns for a ScopedSet handle (never a valid ente id).
const setScope = "\x00set"

func (g *Guard) refuse(db *gorm.DB, table string) {
	_ = db.AddError(fmt.Errorf("%w (table %s)", ErrUnscoped, table))
}

// table returns the statement's table, parsing the model when needed.
func table(db *gorm.DB) string {
	st := db.Statement
	if st.Table == "" && st.Model != nil {
		_ = st.Parse(st.Model)
	}
	return st.Table
}

func (g *Guard) scopeWhere(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	if db.Statement.SQL.Len() > 0 { // db.Raw(...).Find(...): hand-written SQL
		g.scopeRaw(db)
		return
	}
	t := table(db)
	owned := t != "" && g.owned(t)
	if st := db.Statement; st.TableExpr != nil {
		// Table("anagrafe_members AS m"): the statement's table is the alias.
		if real := g.rawTable(st.TableExpr.SQL); real != "" {
			owned = true
		}
	}
	if !owned {
		// A join naming an owned table needs a scope too; its ente condition is the
		// join's own (the guard cannot add it to hand-written join SQL).
		for _, j := range db.Statement.Joins {
			if jt := g.rawTable(j.Name); jt != "" {
				if id, all := scope(db); id == "" && !all {
					g.refuse(db, jt)
				}
				return
			}
		}
		return
	}
	id, all := scope(db)
	switch {
	case all:
		return
	case id == "":
		g.refuse(db, t)
	case id == setScope:
		set := SetOf(db)
		vals := make([]any, len(set))
		for i, v := range set {
			vals[i] = v
		}
		var cond clause.Expression = clause.IN{Column: clause.Column{Table: t, Name: Column}, Values: vals}
		if len(vals) == 0 {
			cond = clause.Expr{SQL: "1 = 0"} // an empty set matches nothing
		}
		db.Statement.AddClause(clause.Where{Exprs: []clause.Expression{cond}})
	default:
		db.Statement.AddClause(clause.Where{Exprs: []clause.Expression{
			clause.Eq{Column: clause.Column{Table: t, Name: Column}, Value: id},
		}})
	}
}

// scopeRow guards db.Rows/Row/Scan built from clauses (Table(...).Select(...)).
func (g *Guard) scopeRow(db *gorm.DB) { g.scopeWhere(db) }

func (g *Guard) scopeRaw(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	t := g.rawTable(db.Statement.SQL.String())
	if t == "" {
		return
	}
	if id, all := scope(db); id == "" && !all {
		g.refuse(db, t)
	}
}

func (g *Guard) scopeCreate(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	t := table(db)
	if t == "" || !g.owned(t) {
		return
	}
	id, all := scope(db)
	if id == "" && !all {
		g.refuse(db, t)
		return
	}
	if id == setScope {
		// Rows are created in one ente: through Scoped, never through a set.
		_ = db.AddError(fmt.Errorf("enti: a row of %s cannot be created through a handle spanning enti", t))
		return
	}
	sch := db.Statement.Schema
	if sch == nil {
		// Table("x").Create(map[string]any{...}): the ente is a key of each map.
		setMap := func(m map[string]any) {
			cur, _ := m[Column].(string)
			switch {
			case all && cur == "":
				_ = db.AddError(fmt.Errorf("enti: a row of %s created across enti must name its ente", t))
			case all:
			case cur == "":
				m[Column] = id
			case cur != id:
				_ = db.AddError(fmt.Errorf("%w (table %s: %v, scope %s)", ErrWrongEnte, t, cur, id))
			}
		}
		switch d := db.Statement.Dest.(type) {
		case map[string]any:
			setMap(d)
		case *map[string]any:
			setMap(*d)
		case []map[string]any:
			for _, m := range d {
				setMap(m)
			}
		case *[]map[string]any:
			for _, m := range *d {
				setMap(m)
			}
		default:
			_ = db.AddError(fmt.Errorf("enti: cannot set the ente of a %T created in %s", d, t))
		}
		return
	}
	f := sch.LookUpField(Column)
	if f == nil {
		_ = db.AddError(fmt.Errorf("enti: table %s is ente-owned but its model has no %s field", t, Column))
		return
	}
	rv := db.Statement.ReflectValue
	set := func(v reflect.Value) {
		cur, zero := f.ValueOf(db.Statement.Context, v)
		switch {
		case all && zero:
			_ = db.AddError(fmt.Errorf("enti: a row of %s created across enti must name its ente", t))
		case all:
		case zero:
			if err := f.Set(db.Statement.Context, v, id); err != nil {
				_ = db.AddError(err)
			}
		case cur != id:
			_ = db.AddError(fmt.Errorf("%w (table %s: %v, scope %s)", ErrWrongEnte, t, cur, id))
		}
	}
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		for i := 0; i < rv.Len(); i++ {
			set(reflect.Indirect(rv.Index(i)))
		}
	case reflect.Struct:
		set(rv)
	case reflect.Map:
		// Create from a map: the caller writes the column itself.
		m, ok := db.Statement.Dest.(map[string]any)
		if !ok {
			return
		}
		cur, present := m[Column]
		switch {
		case all && !present:
			_ = db.AddError(fmt.Errorf("enti: a row of %s created across enti must name its ente", t))
		case all:
		case !present:
			m[Column] = id
		case cur != id:
			_ = db.AddError(fmt.Errorf("%w (table %s: %v, scope %s)", ErrWrongEnte, t, cur, id))
		}
	}
}
