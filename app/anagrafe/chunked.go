package anagrafe

import (
	"context"
	"errors"
	"fmt"
	"github.com/comuni-italiani/sportello/app/enti"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/store"
)

// chunkRows is the number of rows one short transaction of a chunked import writes:
// one multi-row INSERT, about 2 ms of the write lock on an idle machine. A login that
// queues for the lock waits for at most one of them (see store's write gate). With
// 250 rows (five INSERTs) a transaction held the lock for 50-250 ms on a busy
// machine, and the slowest login-like write of the 150,000-person benchmark was 0.85 s.
const chunkRows = sqliteInsertBatch

// chunkHook, when set (tests only), runs before each chunk of a chunked import is
// written; an error it returns fails the import there.
var chunkHook func(table string) error

// insertOnly reports whether the file only adds to the register: none of its
// households or persons exists yet, and its events and past residences are all about
// persons of the file. This is the first import of a comune, the large one.
func insertOnly(ctx context.Context, db *gorm.DB, p parsed) (bool, error) {
	db = enti.For(ctx, db)
	codes := make([]string, 0, len(p.households))
	for _, r := range p.households {
		codes = append(codes, r.h.Code)
	}
	found := false
	if err := chunks(codes, func(c []string) error {
		var n int64
		err := db.Model(&Household{}).Where("code IN ?", c).Count(&n).Error
		found = found || n > 0
		return err
	}); err != nil || found {
		return false, err
	}
	inFile := make(map[string]bool, len(p.persons))
	cfs := make([]string, 0, len(p.persons))
	for _, r := range p.persons {
		inFile[r.p.FiscalCode] = true
		cfs = append(cfs, r.p.FiscalCode)
	}
	for _, e := range p.events {
		if !inFile[e.cf] {
			return false, nil
		}
	}
	for _, r := range p.residences {
		if !inFile[r.cf] {
			return false, nil
		}
	}
	if err := chunks(cfs, func(c []string) error {
		var n int64
		err := db.Model(&Person{}).Where("fiscal_code IN ?", c).Count(&n).Error
		found = found || n > 0
		return err
	}); err != nil || found {
		return false, err
	}
	return true, nil
}

// written remembers the ids a chunked import inserted, to delete them if it fails.
type written struct {
	households, persons, members, residences, events []int64
}

// importChunked writes a file that only adds to the register (see insertOnly) on
// SQLite in short transactions of at most chunkRows rows each, so that the single
// write lock is free between them and a login never waits for more than one chunk.
// Other readers may see part of the new register while it runs. If any chunk fails,
// every row already written is deleted again: a failed import changes nothing.
func importChunked(ctx context.Context, db *gorm.DB, p parsed, rep Report) (Report, *RowError, error) {
	db = enti.For(ctx, db)
	now := time.Now().UTC()
	var w written
	fail := func(line int, err error) (Report, *RowError, error) {
		if uerr := w.undo(ctx, db); uerr != nil {
			return rep, nil, fmt.Errorf("%w; and removing the rows already written failed: %v", err, uerr)
		}
		if errors.Is(err, store.ErrDuplicate) {
			return rep, &RowError{Line: line, Msg: "conflicts with data already in the register: " + err.Error()}, nil
		}
		return rep, nil, err
	}

	hByCode := map[string]*Household{}
	hs := make([]*Household, 0, len(p.households))
	for _, r := range p.households {
		h := r.h
		h.UpdatedAt = now
		hs = append(hs, &h)
		hByCode[h.Code] = &h
	}
	rep.Households.Created = len(hs)
	if line, err := writeChunks(db, "households", hs, lineOfH(p.households), func(h *Household) int64 { return h.ID }, &w.households); err != nil {
		return fail(line, err)
	}
	// Households the persons refer to that were imported before.
	var missing []string
	for _, r := range p.persons {
		if r.household != "" && hByCode[r.household] == nil {
			missing = append(missing, r.household)
			hByCode[r.household] = &Household{}
		}
	}
	if err := chunks(missing, func(c []string) error {
		var old []*Household
		if err := db.Where("code IN ?", c).Find(&old).Error; err != nil {
			return err
		}
		for _, h := range old {
			hByCode[h.Code] = h
		}
		return nil
	}); err != nil {
		return fail(0, err)
	}

	ps := make([]*Person, 0, len(p.persons))
	pLines := make([]int, 0, len(p.persons))
	pByCF := map[string]*Person{}
	for _, r := range p.persons {
		x := r.p
		x.UpdatedAt = now
		ps = append(ps, &x)
		pLines = append(pLines, r.line)
		pByCF[x.FiscalCode] = &x
	}
	rep.Persons.Created = len(ps)
	if line, err := writeChunks(db, "persons", ps, pLines, func(x *Person) int64 { return x.ID }, &w.persons); err != nil {
		return fail(line, err)
	}

	var ms []*Membership
	var rs []*Residence
	var mLines, rLines []int
	haveRes := map[[2]int64]bool{}
	for i, r := range p.persons {
		if r.household == "" {
			continue
		}
		x, h := ps[i], hByCode[r.household]
		ms = append(ms, &Membership{PersonID: x.ID, HouseholdID: h.ID, Relation: r.relation, StartedOn: r.since, EndedOn: x.DeceasedOn})
		rs = append(rs, &Residence{PersonID: x.ID, Address: h.Address, StartedOn: r.since, EndedOn: x.DeceasedOn})
		mLines, rLines = append(mLines, r.line), append(rLines, r.line)
		haveRes[[2]int64{x.ID, r.since.Unix()}] = true
		rep.Residences.Created++
	}
	for _, r := range p.residences {
		res := r.r
		res.PersonID = pByCF[r.cf].ID
		k := [2]int64{res.PersonID, res.StartedOn.Unix()}
		if haveRes[k] {
			rep.Residences.Unchanged++
			continue
		}
		haveRes[k] = true
		rs = append(rs, &res)
		rLines = append(rLines, r.line)
		rep.Residences.Created++
	}
	type eventKey struct {
		pid  int64
		kind string
		day  int64
	}
	byKey := map[eventKey]*Event{}
	var es []*Event
	var eLines []int
	for _, r := range p.events {
		e := r.e
		e.PersonID = pByCF[r.cf].ID
		k := eventKey{e.PersonID, e.Kind, e.Date.Unix()}
		if cur, ok := byKey[k]; ok {
			if sameEvent(e, *cur) {
				rep.Events.Unchanged++
			} else {
				*cur = e // the later row wins, as in a row-by-row import
				rep.Events.Updated++
			}
			continue
		}
		byKey[k] = &e
		es = append(es, &e)
		eLines = append(eLines, r.line)
		rep.Events.Created++
	}
	if line, err := writeChunks(db, "members", ms, mLines, func(m *Membership) int64 { return m.ID }, &w.members); err != nil {
		return fail(line, err)
	}
	if line, err := writeChunks(db, "residences", rs, rLines, func(r *Residence) int64 { return r.ID }, &w.residences); err != nil {
		return fail(line, err)
	}
	if line, err := writeChunks(db, "events", es, eLines, func(e *Event) int64 { return e.ID }, &w.events); err != nil {
		return fail(line, err)
	}
	return rep, nil, nil
}

// writeChunks inserts rows chunkRows at a time, each batch in its own transaction,
// appending the new ids to ids. On failure it returns the line of the batch's first row.
func writeChunks[T any](db *gorm.DB, table string, rows []*T, lines []int, id func(*T) int64, ids *[]int64) (int, error) {
	for start := 0; start < len(rows); start += chunkRows {
		end := min(start+chunkRows, len(rows))
		if chunkHook != nil {
			if err := chunkHook(table); err != nil {
				return lines[start], err
			}
		}
		if err := db.Transaction(func(tx *gorm.DB) error { return tx.CreateInBatches(rows[start:end], sqliteInsertBatch).Error }); err != nil {
			return lines[start], err
		}
		for _, r := range rows[start:end] {
			*ids = append(*ids, id(r))
		}
	}
	return 0, nil
}

// undo deletes the rows a failed chunked import wrote, dependants first, in one
// transaction.
func (w *written) undo(ctx context.Context, db *gorm.DB) error {
	return store.WithTx(context.WithoutCancel(ctx), db, func(tx *gorm.DB) error {
		for _, step := range []struct {
			model any
			ids   []int64
		}{{&Event{}, w.events}, {&Residence{}, w.residences}, {&Membership{}, w.members},
			{&Person{}, w.persons}, {&Household{}, w.households}} {
			if err := chunks(step.ids, func(ids []int64) error {
				return tx.Where("id IN ?", ids).Delete(step.model).Error
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

func lineOfH(rows []householdRow) []int {
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = r.line
	}
	return out
}
