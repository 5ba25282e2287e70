package anagrafe

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"github.com/comuni-italiani/sportello/app/enti"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/codicefiscale"
	"github.com/comuni-italiani/sportello/app/store"
)

// ErrRejected is returned by Import when at least one row is wrong: nothing was
// written, and Report.Errors says what is wrong and where.
var ErrRejected = errors.New("anagrafe: import rejected")

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("anagrafe: dry run")

// MaxRowErrors caps the errors one import reports.
const MaxRowErrors = 200

// RowError is one problem in an import file.
type RowError struct {
	// Line is the line number in the file, from 1.
	Line int
	// Field is the column name ("codice_fiscale"), or "" for the whole row.
	Field string
	Msg   string
}

func (e RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Msg)
}

// Counts says how many records of one kind an import created and updated.
type Counts struct {
	Created, Updated, Unchanged int
}

// Report is the outcome of an import.
type Report struct {
	// DryRun is true when nothing was meant to be written.
	DryRun bool
	// Rows is the number of data rows read (comments and blank lines excluded).
	Rows                                    int
	Households, Persons, Events, Residences Counts
	// Errors are the rejected rows, in file order (at most MaxRowErrors).
	Errors []RowError
	// Truncated is true when there were more errors than listed.
	Truncated bool
}

// String summarizes the report for an operator.
func (r Report) String() string {
	var b strings.Builder
	verb := "imported"
	if r.DryRun {
		verb = "checked (dry run, nothing written)"
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "%d rows read: REJECTED, nothing written. Errors:\n", r.Rows)
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "  %s\n", e.Error())
		}
		if r.Truncated {
			fmt.Fprintf(&b, "  ... more errors not shown (the first %d are listed)\n", MaxRowErrors)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%d rows %s\n", r.Rows, verb)
	line := func(name string, c Counts) {
		fmt.Fprintf(&b, "  %-11s %d new, %d updated, %d unchanged\n", name+":", c.Created, c.Updated, c.Unchanged)
	}
	line("households", r.Households)
	line("persons", r.Persons)
	line("events", r.Events)
	line("residences", r.Residences)
	return b.String()
}

// Column lists, documented in the package comment. They are part of the file
// format: never reorder them; new columns go at the end.
var (
	householdColumns = []string{"tipo_record", "codice", "tipo", "denominazione", "indirizzo"}
	personColumns    = []string{"tipo_record", "codice_fiscale", "cognome", "nome", "sesso", "data_nascita",
		"comune_nascita", "provincia_nascita", "stato_nascita", "cittadinanza", "stato_civile", "data_morte",
		"famiglia", "relazione", "residente_dal"}
	eventColumns = []string{"tipo_record", "codice_fiscale", "tipo", "data", "luogo", "anno", "parte", "serie",
		"numero", "cf_altra_parte", "nominativo_altra_parte", "annotazioni"}
	residenceColumns = []string{"tipo_record", "codice_fiscale", "indirizzo", "comune", "provincia", "dal", "al"}
)

type householdRow struct {
	line int
	h    Household
}

type personRow struct {
	line      int
	p         Person
	household string
	relation  string
	since     time.Time
}

type eventRow struct {
	line int
	cf   string
	e    Event
}

type residenceRow struct {
	line int
	cf   string
	r    Residence
}

type parsed struct {
	households []householdRow
	persons    []personRow
	events     []eventRow
	residences []residenceRow
}

// rowReader reads one record's columns by name, collecting errors.
type rowReader struct {
	line   int
	today  time.Time
	cols   []string
	rec    []string
	errs   *[]RowError
	failed bool
}

func (r *rowReader) fail(field, format string, args ...any) {
	r.failed = true
	*r.errs = append(*r.errs, RowError{Line: r.line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (r *rowReader) get(name string) string {
	i := slices.Index(r.cols, name)
	if i < 0 || i >= len(r.rec) {
		return ""
	}
	return strings.TrimSpace(r.rec[i])
}

func (r *rowReader) required(name string) string {
	v := r.get(name)
	if v == "" {
		r.fail(name, "is required")
	}
	return v
}

func (r *rowReader) date(name string, required bool) (time.Time, bool) {
	v := r.get(name)
	if v == "" {
		if required {
			r.fail(name, "is required")
		}
		return time.Time{}, false
	}
	d, err := ParseDate(v)
	if err != nil {
		r.fail(name, "%q is not a date (use YYYY-MM-DD or DD/MM/YYYY)", v)
		return time.Time{}, false
	}
	if d.Before(oldestDate) {
		r.fail(name, "%s is before %d: not a plausible date", v, oldestDate.Year())
		return time.Time{}, false
	}
	if d.After(r.today) {
		r.fail(name, "%s is in the future", v)
		return time.Time{}, false
	}
	return d, true
}

// rome is the register's time zone: "today" is the day in Italy.
var rome = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Rome"); err == nil {
		return l
	}
	return time.UTC
}()

// oldestDate is the earliest date a register file may hold.
var oldestDate = Date(1850, time.January, 1)

// maxField caps any field of an import file, whatever its column.
const maxField = 2000

// fieldMax is the longest value of a column, in characters, where the register's
// column is narrower than maxField (the sizes of the migration).
var fieldMax = map[string]int{
	"tipo_record": 1, "codice": 40, "tipo": 20, "denominazione": 200, "indirizzo": 300,
	"codice_fiscale": 16, "cognome": 100, "nome": 100, "sesso": 1, "data_nascita": 10,
	"comune_nascita": 100, "provincia_nascita": 2, "stato_nascita": 100, "cittadinanza": 100,
	"stato_civile": 40, "data_morte": 10, "famiglia": 40, "relazione": 40, "residente_dal": 10,
	"data": 10, "luogo": 150, "anno": 4, "parte": 10, "serie": 10, "numero": 20,
	"cf_altra_parte": 16, "nominativo_altra_parte": 200, "comune": 100, "provincia": 2, "dal": 10, "al": 10,
}

// checkText refuses a row with a control character (other than tab and, inside
// quotes, line breaks) or a field longer than its column allows. It reports whether
// the row may be read further.
func (r *rowReader) checkText() bool {
	ok := true
	for i, f := range r.rec {
		name := ""
		if i < len(r.cols) {
			name = r.cols[i]
		}
		if i == 0 {
			name = "tipo_record"
		}
		if j := strings.IndexFunc(f, isControl); j >= 0 {
			r.fail(name, "column %d holds the control character U+%04X: only printable text is accepted", i+1, f[j])
			ok = false
			continue
		}
		limit := maxField
		if m, found := fieldMax[name]; found && name != "" {
			limit = m
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(f)); n > limit {
			r.fail(name, "column %d is %d characters long, at most %d allowed", i+1, n, limit)
			ok = false
		}
	}
	return ok
}

func isControl(c rune) bool {
	return c != '\t' && c != '\n' && c != '\r' && (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f))
}

// checkUTF8 reports the lines of data that are not UTF-8 (a file saved as Latin-1 or
// Windows-1252, or not text at all), at most MaxRowErrors of them.
func checkUTF8(data []byte) []RowError {
	if utf8.Valid(data) {
		return nil
	}
	var errs []RowError
	line := 1
	for len(data) > 0 && len(errs) <= MaxRowErrors {
		l, rest, _ := bytes.Cut(data, []byte{'\n'})
		if !utf8.Valid(l) {
			errs = append(errs, RowError{Line: line, Msg: "not UTF-8 text: save the file as UTF-8 (CSV UTF-8), not Latin-1 or Windows-1252"})
		}
		data = rest
		line++
	}
	return errs
}

func (r *rowReader) oneOf(name, v string, allowed []string) {
	if v != "" && !slices.Contains(allowed, v) {
		r.fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

func (r *rowReader) fiscalCode(name string, required bool) string {
	v := strings.ToUpper(r.get(name))
	if v == "" {
		if required {
			r.fail(name, "is required")
		}
		return ""
	}
	cf := codicefiscale.Normalize(v)
	if err := codicefiscale.Validate(cf); err != nil {
		r.fail(name, "%q is not a valid codice fiscale: %v", v, err)
	}
	return cf
}

// ParseDate reads a calendar date written YYYY-MM-DD or DD/MM/YYYY.
func ParseDate(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "02/01/2006", "2/1/2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("anagrafe: %q is not a date", s)
}

// parse reads the whole file and checks every row on its own and against the others.
// References to households and people that are not in the file are checked against
// the database later, in resolve.
func parse(r io.Reader) (parsed, int, []RowError) {
	var out parsed
	var errs []RowError
	data, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return out, 0, []RowError{{Line: 0, Msg: "cannot read the file: " + err.Error()}}
	}
	if len(data) == 256<<20 {
		return out, 0, []RowError{{Line: 0, Msg: "the file is larger than 256 MB: split it"}}
	}
	if errs := checkUTF8(data); len(errs) > 0 {
		return out, 0, errs
	}
	text := strings.TrimPrefix(string(data), "\ufeff") // Excel's byte-order mark
	cr := csv.NewReader(strings.NewReader(text))
	cr.Comma = detectComma(text)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	// Dates up to today in Italy (a birth registered this morning) are accepted.
	today := DateOf(time.Now(), rome)
	rows := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// FieldPos is only defined after a successful Read: the line of a
			// failed one is in the ParseError.
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			errs = append(errs, RowError{Line: line, Msg: "not valid CSV: " + err.Error()})
			// The reader cannot resynchronise reliably after a quoting error.
			break
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		rows++
		if len(errs) > MaxRowErrors {
			// Enough to show: stop checking, count the rest.
			continue
		}
		kind := strings.ToUpper(strings.TrimSpace(rec[0]))
		rr := &rowReader{line: line, rec: rec, errs: &errs, today: today}
		switch kind {
		case "F":
			rr.cols = householdColumns
		case "P":
			rr.cols = personColumns
		case "E":
			rr.cols = eventColumns
		case "R":
			rr.cols = residenceColumns
		}
		if !rr.checkText() {
			continue
		}
		switch kind {
		case "F":
			out.households = append(out.households, parseHousehold(rr))
		case "P":
			out.persons = append(out.persons, parsePerson(rr))
		case "E":
			out.events = append(out.events, parseEvent(rr))
		case "R":
			out.residences = append(out.residences, parseResidence(rr))
		default:
			rr.fail("tipo_record", "%q is not a record type (F, P, E or R)", rec[0])
			continue
		}
		if len(rec) > len(rr.cols) {
			rr.fail("", "%d columns, at most %d expected for a %s row", len(rec), len(rr.cols), kind)
		}
	}
	crossCheck(&out, &errs)
	return out, rows, errs
}

func detectComma(text string) rune {
	for line := range strings.SplitSeq(text, "\n") {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.Count(l, ";") > strings.Count(l, ",") {
			return ';'
		}
		return ','
	}
	return ';'
}

func parseHousehold(r *rowReader) householdRow {
	h := Household{Code: r.required("codice"), Kind: strings.ToLower(r.required("tipo")),
		Name: r.get("denominazione"), Address: r.required("indirizzo")}
	r.oneOf("tipo", h.Kind, []string{KindFamily, KindCohabitation})
	if h.Kind == KindCohabitation && h.Name == "" {
		r.fail("denominazione", "is required for a convivenza")
	}
	return householdRow{line: r.line, h: h}
}

func parsePerson(r *rowReader) personRow {
	p := Person{
		FiscalCode:    r.fiscalCode("codice_fiscale", true),
		Surname:       strings.ToUpper(r.required("cognome")),
		Name:          strings.ToUpper(r.required("nome")),
		Sex:           strings.ToUpper(r.required("sesso")),
		BirthComune:   strings.ToUpper(r.get("comune_nascita")),
		BirthProvince: strings.ToUpper(r.get("provincia_nascita")),
		BirthState:    strings.ToUpper(r.get("stato_nascita")),
		Citizenship:   strings.ToUpper(r.required("cittadinanza")),
		CivilStatus:   strings.ToLower(r.required("stato_civile")),
	}
	r.oneOf("sesso", p.Sex, []string{Male, Female})
	r.oneOf("stato_civile", p.CivilStatus, CivilStatuses)
	if p.BirthState == Italian {
		p.BirthState = ""
	}
	if p.BirthComune == "" && p.BirthState == "" {
		r.fail("comune_nascita", "give the comune of birth, or the state for people born abroad")
	}
	if len(p.BirthProvince) > 2 {
		r.fail("provincia_nascita", "%q is not a province abbreviation (two letters, such as TO)", p.BirthProvince)
	}
	birth, okBirth := r.date("data_nascita", true)
	p.BirthDate = birth
	if death, ok := r.date("data_morte", false); ok {
		p.DeceasedOn = &death
		if okBirth && death.Before(birth) {
			r.fail("data_morte", "is before the date of birth")
		}
	}
	row := personRow{line: r.line, p: p, household: r.get("famiglia"), relation: strings.ToLower(r.get("relazione"))}
	if row.household == "" && p.DeceasedOn == nil {
		r.fail("famiglia", "is required for a living resident")
	}
	if row.household != "" {
		if row.relation == "" {
			r.fail("relazione", "is required with famiglia")
		}
		r.oneOf("relazione", row.relation, Relations)
	}
	if since, ok := r.date("residente_dal", row.household != ""); ok {
		row.since = since
		if okBirth && since.Before(birth) {
			r.fail("residente_dal", "is before the date of birth")
		}
	}
	return row
}

func parseEvent(r *rowReader) eventRow {
	e := Event{Kind: strings.ToLower(r.required("tipo")), Place: r.get("luogo"), Part: r.get("parte"),
		Series: r.get("serie"), Number: r.get("numero"), OtherName: strings.ToUpper(r.get("nominativo_altra_parte")),
		Annotations: r.get("annotazioni")}
	cf := r.fiscalCode("codice_fiscale", true)
	r.oneOf("tipo", e.Kind, EventKinds)
	e.Date, _ = r.date("data", true)
	if y := r.get("anno"); y != "" {
		n, err := strconv.Atoi(y)
		if err != nil || n < 1800 || n > 2200 {
			r.fail("anno", "%q is not a year", y)
		}
		e.Year = n
	}
	e.OtherCF = r.fiscalCode("cf_altra_parte", false)
	if (e.Kind == EventMarriage || e.Kind == EventUnion) && e.OtherName == "" {
		r.fail("nominativo_altra_parte", "is required for a %s", e.Kind)
	}
	return eventRow{line: r.line, cf: cf, e: e}
}

func parseResidence(r *rowReader) residenceRow {
	res := Residence{Address: r.required("indirizzo"), Comune: strings.ToUpper(r.get("comune")),
		Province: strings.ToUpper(r.get("provincia"))}
	cf := r.fiscalCode("codice_fiscale", true)
	from, okFrom := r.date("dal", true)
	res.StartedOn = from
	to, okTo := r.date("al", true)
	if okTo {
		res.EndedOn = &to
		if okFrom && !to.After(from) {
			r.fail("al", "must be after dal")
		}
	}
	return residenceRow{line: r.line, cf: cf, r: res}
}

// crossCheck finds duplicates within the file.
func crossCheck(p *parsed, errs *[]RowError) {
	seenH := map[string]int{}
	for _, h := range p.households {
		if h.h.Code == "" {
			continue
		}
		if first, dup := seenH[h.h.Code]; dup {
			*errs = append(*errs, RowError{Line: h.line, Field: "codice", Msg: fmt.Sprintf("household %q is already defined on line %d", h.h.Code, first)})
			continue
		}
		seenH[h.h.Code] = h.line
	}
	seenP := map[string]int{}
	for _, r := range p.persons {
		if r.p.FiscalCode == "" {
			continue
		}
		if first, dup := seenP[r.p.FiscalCode]; dup {
			*errs = append(*errs, RowError{Line: r.line, Field: "codice_fiscale", Msg: fmt.Sprintf("person %s is already on line %d", r.p.FiscalCode, first)})
			continue
		}
		seenP[r.p.FiscalCode] = r.line
	}
}

// Import loads a register file (format in the package comment) in one transaction:
// either every row is applied or none is. Rows are checked first, each on its own and
// against the file and the database (a household reference must be defined in the
// file or already exist, an event's person likewise); any problem rejects the whole
// file with ErrRejected and the report lists every problem with its line number.
// With dryRun the file is checked and applied inside a transaction that is then rolled
// back, so the report counts what an import would do and nothing is written.
//
// Households are matched by code and people by tax code: importing the same file twice
// changes nothing the second time. A person whose household or relation changed leaves
// their old household on residente_dal and joins the new one; a change of address
// closes the old residence and opens a new one.
func Import(ctx context.Context, db *gorm.DB, r io.Reader, dryRun bool) (Report, error) {
	rep := Report{DryRun: dryRun}
	p, rows, errs := parse(r)
	rep.Rows = rows
	errs = append(errs, resolve(ctx, db, p)...)
	if len(errs) > 0 {
		return rejected(rep, errs)
	}
	var applyErr *RowError
	if !dryRun && store.DialectOf(db) == store.SQLite {
		only, err := insertOnly(ctx, db, p)
		if err != nil {
			return rep, fmt.Errorf("anagrafe: import: %w", err)
		}
		if only {
			rep, applyErr, err = importChunked(ctx, db, p, rep)
			if applyErr != nil {
				return rejected(rep, []RowError{*applyErr})
			}
			if err != nil {
				return rep, fmt.Errorf("anagrafe: import: %w", err)
			}
			return rep, nil
		}
	}
	err := store.WithTx(ctx, db, func(tx *gorm.DB) error {
		var err error
		rep, applyErr, err = apply(ctx, tx, p, rep)
		if err != nil {
			return err
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if applyErr != nil {
		return rejected(rep, []RowError{*applyErr})
	}
	if err != nil && !errors.Is(err, errDryRun) {
		return rep, fmt.Errorf("anagrafe: import: %w", err)
	}
	return rep, nil
}

func rejected(rep Report, errs []RowError) (Report, error) {
	slices.SortStableFunc(errs, func(a, b RowError) int { return a.Line - b.Line })
	if len(errs) > MaxRowErrors {
		errs, rep.Truncated = errs[:MaxRowErrors], true
	}
	rep.Errors = errs
	rep.Households, rep.Persons, rep.Events, rep.Residences = Counts{}, Counts{}, Counts{}, Counts{}
	return rep, fmt.Errorf("%w: %d errors, first: %s", ErrRejected, len(errs), errs[0].Error())
}

// resolve checks references that point outside the file against the database.
func resolve(ctx context.Context, db *gorm.DB, p parsed) []RowError {
	db = enti.For(ctx, db)
	var errs []RowError
	inFileH := map[string]bool{}
	for _, h := range p.households {
		inFileH[h.h.Code] = true
	}
	inFileP := map[string]bool{}
	for _, r := range p.persons {
		inFileP[r.p.FiscalCode] = true
	}
	var missingH []string
	for _, r := range p.persons {
		if r.household != "" && !inFileH[r.household] {
			missingH = append(missingH, r.household)
		}
	}
	knownH := map[string]bool{}
	if len(missingH) > 0 {
		var codes []string
		if err := db.Model(&Household{}).Where("code IN ?", missingH).Pluck("code", &codes).Error; err != nil {
			return []RowError{{Msg: "database: " + err.Error()}}
		}
		for _, c := range codes {
			knownH[c] = true
		}
	}
	for _, r := range p.persons {
		if r.household != "" && !inFileH[r.household] && !knownH[r.household] {
			errs = append(errs, RowError{Line: r.line, Field: "famiglia",
				Msg: fmt.Sprintf("unknown household %q: define it with an F row or import it first", r.household)})
		}
	}
	var missingP []string
	for _, e := range p.events {
		if !inFileP[e.cf] {
			missingP = append(missingP, e.cf)
		}
	}
	for _, res := range p.residences {
		if !inFileP[res.cf] {
			missingP = append(missingP, res.cf)
		}
	}
	knownP := map[string]bool{}
	if len(missingP) > 0 {
		var cfs []string
		if err := db.Model(&Person{}).Where("fiscal_code IN ?", missingP).Pluck("fiscal_code", &cfs).Error; err != nil {
			return []RowError{{Msg: "database: " + err.Error()}}
		}
		for _, c := range cfs {
			knownP[c] = true
		}
	}
	unknown := func(line int, cf string) {
		errs = append(errs, RowError{Line: line, Field: "codice_fiscale",
			Msg: fmt.Sprintf("unknown person %s: add a P row for them", cf)})
	}
	for _, e := range p.events {
		if !inFileP[e.cf] && !knownP[e.cf] {
			unknown(e.line, e.cf)
		}
	}
	for _, res := range p.residences {
		if !inFileP[res.cf] && !knownP[res.cf] {
			unknown(res.line, res.cf)
		}
	}
	return errs
}

// batchSize is the number of rows in one multi-row INSERT and in one IN (...) list:
// 1,000 persons are 12,000 parameters, inside SQLite's 32,766 and PostgreSQL's 65,535.
const batchSize = 1000

// chunks calls fn with successive slices of at most batchSize items of xs.
func chunks[T any](xs []T, fn func([]T) error) error {
	for len(xs) > 0 {
		n := min(len(xs), batchSize)
		if err := fn(xs[:n]); err != nil {
			return err
		}
		xs = xs[n:]
	}
	return nil
}

// insert writes rows with multi-row INSERTs; their ids are filled in (RETURNING).
func insert[T any](tx *gorm.DB, rows []*T) error {
	if len(rows) == 0 {
		return nil
	}
	return tx.CreateInBatches(rows, insertBatch(tx)).Error
}

// sqliteInsertBatch is the number of rows in one INSERT on SQLite. The driver of the
// time (glebarez/go-sqlite, replaced on 3 December 2026) bound each parameter by
// scanning the whole argument list, so a statement's cost grew with the square of its
// parameters; 50 rows (600 parameters for persons) kept that negligible while still
// saving most round trips. The current driver binds in linear time; 50 rows also keep
// each hold of the write lock short, and the size has not been measured again.
const sqliteInsertBatch = 50

func insertBatch(db *gorm.DB) int {
	if store.DialectOf(db) == store.SQLite {
		return sqliteInsertBatch
	}
	return batchSize
}

// apply writes the parsed rows. It reads what the register already holds in a few
// bulk queries (IN lists of batchSize), works out in memory what is new, changed or
// unchanged, and writes the new rows with multi-row INSERTs; only changed rows are
// updated one by one. A failure tied to a row is returned as a RowError (the
// transaction rolls back); any other failure as an error.
func apply(ctx context.Context, tx *gorm.DB, p parsed, rep Report) (Report, *RowError, error) {
	tx = enti.For(ctx, tx)
	now := time.Now().UTC()
	// On SQLite the transaction (store.WithTx) holds the write lock from BEGIN
	// IMMEDIATE, so reading first cannot make the later writes fail with
	// SQLITE_BUSY_SNAPSHOT when a login wrote in between.
	rowErr := func(line int, err error) *RowError {
		msg := err.Error()
		if errors.Is(err, store.ErrDuplicate) {
			msg = "conflicts with data already in the register: " + msg
		}
		return &RowError{Line: line, Msg: msg}
	}
	firstLine := func(lines []int) int {
		if len(lines) == 0 {
			return 0
		}
		return lines[0]
	}

	// Households: those in the file and those the persons refer to.
	var codes []string
	seenCode := map[string]bool{}
	addCode := func(c string) {
		if c != "" && !seenCode[c] {
			seenCode[c] = true
			codes = append(codes, c)
		}
	}
	for _, r := range p.households {
		addCode(r.h.Code)
	}
	for _, r := range p.persons {
		addCode(r.household)
	}
	hByCode := map[string]*Household{}
	if err := chunks(codes, func(c []string) error {
		var hs []*Household
		if err := tx.Where("code IN ?", c).Find(&hs).Error; err != nil {
			return err
		}
		for _, h := range hs {
			hByCode[h.Code] = h
		}
		return nil
	}); err != nil {
		return rep, nil, err
	}
	var newH []*Household
	var newHLines []int
	for _, r := range p.households {
		cur, ok := hByCode[r.h.Code]
		if !ok {
			h := r.h
			h.UpdatedAt = now
			newH = append(newH, &h)
			newHLines = append(newHLines, r.line)
			hByCode[h.Code] = &h
			rep.Households.Created++
			continue
		}
		if cur.Kind == r.h.Kind && cur.Name == r.h.Name && cur.Address == r.h.Address {
			rep.Households.Unchanged++
			continue
		}
		if err := tx.Model(&Household{}).Where("id = ?", cur.ID).Updates(map[string]any{
			"kind": r.h.Kind, "name": r.h.Name, "address": r.h.Address, "updated_at": now}).Error; err != nil {
			return rep, rowErr(r.line, err), nil
		}
		cur.Kind, cur.Name, cur.Address = r.h.Kind, r.h.Name, r.h.Address
		rep.Households.Updated++
	}
	if err := insert(tx, newH); err != nil {
		return rep, rowErr(firstLine(newHLines), err), nil
	}

	// Persons, with their current membership and residence.
	cfs := make([]string, 0, len(p.persons)+len(p.events))
	seenCF := map[string]bool{}
	addCF := func(cf string) {
		if !seenCF[cf] {
			seenCF[cf] = true
			cfs = append(cfs, cf)
		}
	}
	for _, r := range p.persons {
		addCF(r.p.FiscalCode)
	}
	for _, r := range p.events {
		addCF(r.cf)
	}
	for _, r := range p.residences {
		addCF(r.cf)
	}
	pByCF := map[string]*Person{}
	if err := chunks(cfs, func(c []string) error {
		var ps []*Person
		if err := tx.Where("fiscal_code IN ?", c).Find(&ps).Error; err != nil {
			return err
		}
		for _, x := range ps {
			pByCF[x.FiscalCode] = x
		}
		return nil
	}); err != nil {
		return rep, nil, err
	}
	var existingIDs []int64
	for _, r := range p.persons {
		if cur, ok := pByCF[r.p.FiscalCode]; ok {
			existingIDs = append(existingIDs, cur.ID)
		}
	}
	curM := map[int64]*Membership{}
	curR := map[int64]*Residence{}
	if err := chunks(existingIDs, func(ids []int64) error {
		var ms []*Membership
		if err := tx.Where("person_id IN ? AND ended_on IS NULL", ids).Find(&ms).Error; err != nil {
			return err
		}
		for _, m := range ms {
			curM[m.PersonID] = m
		}
		var rs []*Residence
		if err := tx.Where("person_id IN ? AND ended_on IS NULL", ids).Order("started_on").Find(&rs).Error; err != nil {
			return err
		}
		for _, r := range rs {
			curR[r.PersonID] = r // the latest start wins, as in syncResidence
		}
		return nil
	}); err != nil {
		return rep, nil, err
	}
	var newP []*Person
	var newPRows []personRow
	for _, r := range p.persons {
		cur, ok := pByCF[r.p.FiscalCode]
		if !ok {
			x := r.p
			x.UpdatedAt = now
			newP = append(newP, &x)
			newPRows = append(newPRows, r)
			pByCF[x.FiscalCode] = &x
			rep.Persons.Created++
			continue
		}
		changed := !samePerson(*cur, r.p)
		if changed {
			err := tx.Model(&Person{}).Where("id = ?", cur.ID).Updates(map[string]any{
				"surname": r.p.Surname, "name": r.p.Name, "sex": r.p.Sex, "birth_date": r.p.BirthDate,
				"birth_comune": r.p.BirthComune, "birth_province": r.p.BirthProvince, "birth_state": r.p.BirthState,
				"citizenship": r.p.Citizenship, "civil_status": r.p.CivilStatus, "deceased_on": r.p.DeceasedOn, "updated_at": now,
			}).Error
			if err != nil {
				return rep, rowErr(r.line, err), nil
			}
		}
		var hid int64
		var address string
		if r.household != "" {
			h := hByCode[r.household]
			hid, address = h.ID, h.Address
		}
		m, res := curM[cur.ID], curR[cur.ID]
		same := r.p.DeceasedOn == nil &&
			((m == nil && hid == 0) || (m != nil && m.HouseholdID == hid && m.Relation == r.relation)) &&
			((res == nil && address == "") || (res != nil && res.Here() && res.Address == address))
		var mChanged, rChanged bool
		if !same {
			// A move, a death or a new household: the rare path, row by row.
			var err error
			if mChanged, err = syncMembership(tx, cur.ID, hid, r.relation, r.since, r.p.DeceasedOn); err != nil {
				return rep, rowErr(r.line, err), nil
			}
			if rChanged, err = syncResidence(tx, cur.ID, address, r.since, r.p.DeceasedOn); err != nil {
				return rep, rowErr(r.line, err), nil
			}
		}
		if rChanged {
			rep.Residences.Created++
		}
		if changed || mChanged || rChanged {
			rep.Persons.Updated++
		} else {
			rep.Persons.Unchanged++
		}
	}
	if err := insert(tx, newP); err != nil {
		return rep, rowErr(firstLine(lineOf(newPRows)), err), nil
	}
	// New persons have no membership or residence yet: each gets the ones of the row.
	var newM []*Membership
	var newR []*Residence
	for i, x := range newP {
		r := newPRows[i]
		if r.household == "" {
			continue
		}
		h := hByCode[r.household]
		newM = append(newM, &Membership{PersonID: x.ID, HouseholdID: h.ID, Relation: r.relation, StartedOn: r.since, EndedOn: x.DeceasedOn})
		newR = append(newR, &Residence{PersonID: x.ID, Address: h.Address, StartedOn: r.since, EndedOn: x.DeceasedOn})
		rep.Residences.Created++
	}
	if err := insert(tx, newM); err != nil {
		return rep, rowErr(firstLine(lineOf(newPRows)), err), nil
	}
	if err := insert(tx, newR); err != nil {
		return rep, rowErr(firstLine(lineOf(newPRows)), err), nil
	}

	// Events, matched by person, kind and date.
	type eventKey struct {
		pid  int64
		kind string
		day  int64
	}
	var eventPIDs []int64
	seenPID := map[int64]bool{}
	for _, r := range p.events {
		if id := pByCF[r.cf].ID; !seenPID[id] {
			seenPID[id] = true
			eventPIDs = append(eventPIDs, id)
		}
	}
	events := map[eventKey]*Event{}
	if err := chunks(eventPIDs, func(ids []int64) error {
		var es []*Event
		if err := tx.Where("person_id IN ?", ids).Find(&es).Error; err != nil {
			return err
		}
		for _, e := range es {
			events[eventKey{e.PersonID, e.Kind, e.Date.Unix()}] = e
		}
		return nil
	}); err != nil {
		return rep, nil, err
	}
	var newE []*Event
	var newELines []int
	pending := map[*Event]bool{}
	for _, r := range p.events {
		e := r.e
		e.PersonID = pByCF[r.cf].ID
		k := eventKey{e.PersonID, e.Kind, e.Date.Unix()}
		cur, ok := events[k]
		switch {
		case !ok:
			ne := &e
			events[k] = ne
			pending[ne] = true
			newE = append(newE, ne)
			newELines = append(newELines, r.line)
			rep.Events.Created++
		case sameEvent(e, *cur):
			rep.Events.Unchanged++
		case pending[cur]:
			// The file repeats an event it creates: the later row wins.
			e.ID = 0
			*cur = e
			rep.Events.Updated++
		default:
			e.ID = cur.ID
			if err := tx.Save(&e).Error; err != nil {
				return rep, rowErr(r.line, err), nil
			}
			*cur = e
			rep.Events.Updated++
		}
	}
	if err := insert(tx, newE); err != nil {
		return rep, rowErr(firstLine(newELines), err), nil
	}

	// Past residences, matched by person and start date (after the current ones above
	// were written, as a row-by-row import would see them).
	type resKey struct {
		pid int64
		day int64
	}
	var resPIDs []int64
	seenPID = map[int64]bool{}
	for _, r := range p.residences {
		if id := pByCF[r.cf].ID; !seenPID[id] {
			seenPID[id] = true
			resPIDs = append(resPIDs, id)
		}
	}
	haveRes := map[resKey]bool{}
	if err := chunks(resPIDs, func(ids []int64) error {
		var rs []Residence
		if err := tx.Select("person_id", "started_on").Where("person_id IN ?", ids).Find(&rs).Error; err != nil {
			return err
		}
		for _, r := range rs {
			haveRes[resKey{r.PersonID, r.StartedOn.Unix()}] = true
		}
		return nil
	}); err != nil {
		return rep, nil, err
	}
	var pastR []*Residence
	var pastRLines []int
	for _, r := range p.residences {
		res := r.r
		res.PersonID = pByCF[r.cf].ID
		k := resKey{res.PersonID, res.StartedOn.Unix()}
		if haveRes[k] {
			rep.Residences.Unchanged++
			continue
		}
		haveRes[k] = true
		pastR = append(pastR, &res)
		pastRLines = append(pastRLines, r.line)
		rep.Residences.Created++
	}
	if err := insert(tx, pastR); err != nil {
		return rep, rowErr(firstLine(pastRLines), err), nil
	}
	return rep, nil, nil
}

func lineOf(rows []personRow) []int {
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = r.line
	}
	return out
}

func sameEvent(a, b Event) bool {
	return a.Kind == b.Kind && a.Date.Equal(b.Date) && a.Place == b.Place && a.Year == b.Year &&
		a.Part == b.Part && a.Series == b.Series && a.Number == b.Number && a.OtherCF == b.OtherCF &&
		a.OtherName == b.OtherName && a.Annotations == b.Annotations
}

func samePerson(a, b Person) bool {
	sameDeath := (a.DeceasedOn == nil && b.DeceasedOn == nil) ||
		(a.DeceasedOn != nil && b.DeceasedOn != nil && a.DeceasedOn.Equal(*b.DeceasedOn))
	return a.Surname == b.Surname && a.Name == b.Name && a.Sex == b.Sex && a.BirthDate.Equal(b.BirthDate) &&
		a.BirthComune == b.BirthComune && a.BirthProvince == b.BirthProvince && a.BirthState == b.BirthState &&
		a.Citizenship == b.Citizenship && a.CivilStatus == b.CivilStatus && sameDeath
}

// syncMembership makes the person's current membership the given one (householdID 0:
// none). A deceased person's membership ends on the day of death.
func syncMembership(tx *gorm.DB, personID, householdID int64, relation string, since time.Time, died *time.Time) (bool, error) {
	var cur Membership
	err := tx.Where("person_id = ? AND ended_on IS NULL", personID).Take(&cur).Error
	hasCur := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if died != nil {
		if hasCur {
			return true, tx.Model(&Membership{}).Where("id = ?", cur.ID).Update("ended_on", *died).Error
		}
		if householdID == 0 {
			return false, nil
		}
		// The file records the household the person belonged to when they died.
		var n int64
		if err := tx.Model(&Membership{}).Where("person_id = ? AND household_id = ?", personID, householdID).Count(&n).Error; err != nil || n > 0 {
			return false, err
		}
		return true, tx.Create(&Membership{PersonID: personID, HouseholdID: householdID, Relation: relation,
			StartedOn: since, EndedOn: died}).Error
	}
	if hasCur && cur.HouseholdID == householdID && cur.Relation == relation {
		return false, nil
	}
	if hasCur {
		end := since
		if !end.After(cur.StartedOn) {
			end = DateOf(time.Now(), time.UTC)
		}
		if err := tx.Model(&Membership{}).Where("id = ?", cur.ID).Update("ended_on", end).Error; err != nil {
			return false, err
		}
	}
	if householdID == 0 {
		return hasCur, nil
	}
	return true, tx.Create(&Membership{PersonID: personID, HouseholdID: householdID, Relation: relation, StartedOn: since}).Error
}

// syncResidence makes address (in this comune) the person's current residence since
// since. An empty address closes the current residence (on the day of death, if any).
func syncResidence(tx *gorm.DB, personID int64, address string, since time.Time, died *time.Time) (bool, error) {
	var cur Residence
	err := tx.Where("person_id = ? AND ended_on IS NULL", personID).Order("started_on DESC").Take(&cur).Error
	hasCur := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if died != nil {
		if hasCur {
			return true, tx.Model(&Residence{}).Where("id = ?", cur.ID).Update("ended_on", *died).Error
		}
		if address == "" {
			return false, nil
		}
		var n int64
		if err := tx.Model(&Residence{}).Where("person_id = ? AND started_on = ?", personID, since).Count(&n).Error; err != nil || n > 0 {
			return false, err
		}
		return true, tx.Create(&Residence{PersonID: personID, Address: address, StartedOn: since, EndedOn: died}).Error
	}
	if hasCur && cur.Here() && cur.Address == address {
		return false, nil
	}
	if hasCur {
		end := since
		if !end.After(cur.StartedOn) {
			end = DateOf(time.Now(), time.UTC)
		}
		if err := tx.Model(&Residence{}).Where("id = ?", cur.ID).Update("ended_on", end).Error; err != nil {
			return false, err
		}
	}
	if address == "" {
		return hasCur, nil
	}
	return true, tx.Create(&Residence{PersonID: personID, Address: address, StartedOn: since}).Error
}
