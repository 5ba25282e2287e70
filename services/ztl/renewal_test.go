package ztl_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/services/ztl"
)

// householdPair returns two living members of one household of the demo register
// (loaded here).
func householdPair(t *testing.T, e *env) []anagrafe.Person {
	t.Helper()
	if err := anagrafe.SeedDemo(e.Ctx(bg), e.DB); err != nil {
		t.Fatal(err)
	}
	var pair []anagrafe.Person
	err := e.All().Raw(`SELECT p.* FROM anagrafe_persons p JOIN anagrafe_members m ON m.person_id = p.id AND m.ended_on IS NULL
		WHERE p.deceased_on IS NULL AND m.household_id = (SELECT m2.household_id FROM anagrafe_members m2 JOIN anagrafe_persons p2 ON p2.id = m2.person_id
		WHERE m2.ended_on IS NULL AND p2.deceased_on IS NULL GROUP BY m2.household_id HAVING COUNT(*) >= 2 ORDER BY m2.household_id LIMIT 1)
		ORDER BY p.id LIMIT 2`).Scan(&pair).Error
	if err != nil || len(pair) != 2 {
		t.Fatalf("no household of two in the demo register: %v %d", err, len(pair))
	}
	return pair
}

// renewal is a household whose first member holds a paid residents' permit (P) and
// has renewed it (R, granted "da pagare", its fee published on pagoPA).
type renewal struct {
	e      *env
	ctx    context.Context
	pair   []anagrafe.Person
	holder *apptest.Client
	off    *apptest.Client
	P, R   ztl.Permit
	fee    *payments.Position // R's
}

// plateValues fills the vehicles step: plate1..plate3, the unused ones empty.
func plateValues(plates []string) url.Values {
	v := url.Values{}
	for i := range ztl.MaxPlates {
		n := ""
		if i < len(plates) {
			n = plates[i]
		}
		v.Set(fmt.Sprintf("plate%d", i+1), n)
		v.Set(fmt.Sprintf("country%d", i+1), "")
	}
	return v
}

// newRenewal grants P with plates and pays it, then, before days before P's end,
// the holder renews it with renewPlates and the office approves the renewal.
func newRenewal(t *testing.T, e *env, plates, renewPlates []string, before int) *renewal {
	t.Helper()
	rn := &renewal{e: e, ctx: enti.WithEnte(bg, e.App.Enti().All(bg)[0]), pair: householdPair(t, e), off: e.officer()}
	rn.holder = e.citizenWithEmail(rn.pair[0], "titolare@example.it")
	pay := e.App.Payments()
	id, r := apply(t, e, rn.holder, url.Values{"category": {"residenti"}, "start": {"2027-03-01"}, "days": {""}},
		plateValues(plates), url.Values{}, pdfDoc)
	want(t, r, http.StatusSeeOther)
	want(t, decide(t, e, rn.off, id), http.StatusSeeOther)
	if err := e.scoped().Where("case_id = ?", id).Take(&rn.P).Error; err != nil {
		t.Fatal(err)
	}
	pos, err := pay.Publish(rn.ctx, mustPos(t, pay, rn.ctx, rn.P.Code).ID, payments.System)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pay.Confirm(rn.ctx, pos.ID, payments.Receipt{ID: "RICEVUTA-" + rn.P.Code, AmountCents: pos.AmountCents, PSP: "Banca di prova"}); err != nil {
		t.Fatal(err)
	}

	e.clk.set(rn.P.ValidTo.AddDate(0, 0, -before))
	r = rn.holder.PostForm("/servizi/ztl/permessi/"+rn.P.Code+"/rinnovo", nil)
	want(t, r, http.StatusSeeOther)
	m := caseIDRE.FindStringSubmatch(r.Header.Get("Location") + "/")
	if m == nil {
		t.Fatalf("renewal went to %q", r.Header.Get("Location"))
	}
	want(t, rn.holder.PostForm("/servizi/ztl/domanda/"+m[1]+"/veicoli", plateValues(renewPlates)), http.StatusSeeOther)
	want(t, postMultipart(rn.holder, e.BaseURL, "/servizi/ztl/domanda/"+m[1]+"/invia", nil, pdfDoc), http.StatusSeeOther)
	want(t, decide(t, e, rn.off, m[1]), http.StatusSeeOther)
	if err := e.scoped().Where("renews_id = ?", rn.P.ID).Take(&rn.R).Error; err != nil || rn.R.Status != ztl.StatusUnpaid {
		t.Fatalf("renewal %+v %v", rn.R, err)
	}
	if rn.fee, err = pay.Publish(rn.ctx, mustPos(t, pay, rn.ctx, rn.R.Code).ID, payments.System); err != nil {
		t.Fatal(err)
	}
	return rn
}

// used is the household's count of residents' places.
func (rn *renewal) used(t *testing.T) int {
	t.Helper()
	var s ztl.HouseholdSlots
	if err := rn.e.scoped().Where("category = ? AND household = ?", "residenti", rn.P.Household).Take(&s).Error; err != nil {
		t.Fatal(err)
	}
	return s.Used
}

// held is what the permit with id holds in the count now (0 when it holds nothing).
func (rn *renewal) held(t *testing.T, id int64) int {
	t.Helper()
	var p ztl.Permit
	if err := rn.e.scoped().Where("id = ?", id).Take(&p).Error; err != nil {
		t.Fatal(err)
	}
	if !p.SlotHeld {
		return 0
	}
	return p.Slots
}

// check compares the household's count and what P and R hold with want.
func (rn *renewal) check(t *testing.T, when string, used, p, r int) {
	t.Helper()
	if u, hp, hr := rn.used(t), rn.held(t, rn.P.ID), rn.held(t, rn.R.ID); u != used || hp != p || hr != r {
		t.Fatalf("%s: %d places used, the permit holds %d, its renewal %d; want %d, %d, %d", when, u, hp, hr, used, p, r)
	}
}

// status is the stored status of the permit with id.
func (rn *renewal) status(t *testing.T, id int64) string {
	t.Helper()
	var p ztl.Permit
	if err := rn.e.scoped().Where("id = ?", id).Take(&p).Error; err != nil {
		t.Fatal(err)
	}
	return p.Status
}

// atOnce runs every fn at the same time and fails t on any error.
func atOnce(t *testing.T, fns ...func() error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, len(fns))
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := fn(); err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// runs is n runs of the module's job name at now, for atOnce.
func (e *env) runs(name string, n int, now time.Time) []func() error {
	var run func(context.Context, time.Time) error
	for _, j := range e.m.Jobs() {
		if j.Name == name {
			run = j.Run
		}
	}
	fns := make([]func() error, n)
	for i := range fns {
		fns[i] = func() error { return run(bg, now) }
	}
	return fns
}

// TestLapsedRenewalHandsPlacesBack: a renewal granted 50 days before the end of the
// permit it renews is due within 30 days, so it lapses unpaid while that permit still
// runs with its two cars in the whitelist. Its places go back to that permit (20 runs
// of the job at once hand them back once): the household count stays at the cap and
// the other member's application for a third car is refused. When the permit ends,
// 20 runs of the expiry job at once free its places once, and the same application is
// then approved.
func TestLapsedRenewalHandsPlacesBack(t *testing.T) {
	t.Parallel()
	eachWithFees(t, func(t *testing.T, e *env) {
		rn := newRenewal(t, e, []string{"AB123CD", "AB124CD"}, []string{"AB123CD", "AB124CD"}, 50)
		rn.check(t, "after the renewal", 2, 0, 2)
		// The renewal's page says where its places go if it lapses.
		want(t, rn.holder.Get("/servizi/ztl/permessi/"+rn.R.Code), http.StatusOK, "il permesso decade",
			"i posti che ha preso dal permesso che rinnova tornano a quel permesso fino alla sua scadenza")

		e.clk.set(rn.fee.DueDate.Add(time.Hour))
		if !e.clk.now().Before(rn.P.ValidTo) {
			t.Fatalf("the renewal's fee is due %s, after the renewed permit's end %s", rn.fee.DueDate, rn.P.ValidTo)
		}
		atOnce(t, e.runs("ztl/tariffe", 20, e.clk.now())...)
		if s := rn.status(t, rn.R.ID); s != ztl.StatusRevoked {
			t.Fatalf("renewal past its due date: %s", s)
		}
		rn.check(t, "after the lapse", 2, 2, 0)

		// The cap is still enforced: a third car of the household is refused.
		other := e.citizenWithEmail(rn.pair[1], "familiare@example.it")
		id, r := apply(t, e, other, url.Values{"category": {"residenti"}, "start": {"2027-03-01"}, "days": {""}},
			plateValues([]string{"XY987ZW"}), url.Values{}, pdfDoc)
		want(t, r, http.StatusSeeOther)
		want(t, decide(t, e, rn.off, id), http.StatusUnprocessableEntity, "La famiglia anagrafica ha già il numero massimo di veicoli")
		rn.check(t, "after the refused approval", 2, 2, 0)

		// The renewed permit ends: its places are freed once, and the car fits.
		e.clk.set(rn.P.ValidTo.Add(time.Hour))
		atOnce(t, e.runs("ztl/scadenze", 20, e.clk.now())...)
		rn.check(t, "after the end of the renewed permit", 0, 0, 0)
		want(t, postMultipart(rn.off, e.BaseURL, "/backoffice/ztl/pratiche/"+id+"/azione/approve", nil), http.StatusSeeOther)
		if u := rn.used(t); u != 1 {
			t.Fatalf("%d places used after the other member's permit, want 1", u)
		}
	})
}

// TestRenewalPlacesReleasedOnce: whatever the order of the events (the renewed permit
// ends first or the renewal lapses first, the office revokes one or the other, the
// renewal has fewer or more cars, the jobs and a revocation at the same moment), each
// place is held by exactly one permit at a time and freed exactly once: the count is
// right at each step and 0 at the end.
func TestRenewalPlacesReleasedOnce(t *testing.T) {
	t.Parallel()
	two, one := []string{"AB123CD", "AB124CD"}, []string{"AB123CD"}
	revoke := func(t *testing.T, rn *renewal, code string) {
		t.Helper()
		want(t, rn.off.PostForm("/backoffice/ztl/permessi/"+code+"/revoca", url.Values{"reason": {"Trasferimento di residenza"}}), http.StatusSeeOther)
	}
	for _, sc := range []struct {
		name          string
		plates, renew []string
		before        int // days before the renewed permit's end the renewal is granted
		after         [3]int
		run           func(t *testing.T, e *env, rn *renewal)
	}{
		{"predecessor ends, then the renewal lapses", two, two, 10, [3]int{2, 0, 2}, func(t *testing.T, e *env, rn *renewal) {
			e.clk.set(rn.P.ValidTo.Add(time.Hour))
			atOnce(t, e.runs("ztl/scadenze", 20, e.clk.now())...)
			rn.check(t, "the renewed permit ended", 2, 0, 2)
			e.clk.set(rn.fee.DueDate.Add(time.Hour))
			atOnce(t, e.runs("ztl/tariffe", 20, e.clk.now())...)
			if s := rn.status(t, rn.R.ID); s != ztl.StatusRevoked {
				t.Fatalf("renewal past its due date: %s", s)
			}
		}},
		{"office revokes the renewal, then the predecessor ends", two, two, 50, [3]int{2, 0, 2}, func(t *testing.T, e *env, rn *renewal) {
			revoke(t, rn, rn.R.Code)
			rn.check(t, "the renewal revoked", 2, 2, 0)
			e.clk.set(rn.fee.DueDate.Add(time.Hour))
			atOnce(t, e.runs("ztl/tariffe", 20, e.clk.now())...)
			rn.check(t, "the renewal's due date passed", 2, 2, 0)
			e.clk.set(rn.P.ValidTo.Add(time.Hour))
			atOnce(t, e.runs("ztl/scadenze", 20, e.clk.now())...)
		}},
		{"office revokes the predecessor, then the renewal lapses", two, two, 50, [3]int{2, 0, 2}, func(t *testing.T, e *env, rn *renewal) {
			revoke(t, rn, rn.P.Code)
			rn.check(t, "the renewed permit revoked", 2, 0, 2)
			e.clk.set(rn.fee.DueDate.Add(time.Hour))
			atOnce(t, e.runs("ztl/tariffe", 20, e.clk.now())...)
			if s := rn.status(t, rn.R.ID); s != ztl.StatusRevoked {
				t.Fatalf("renewal past its due date: %s", s)
			}
		}},
		{"renewal with one car of two lapses, the predecessor keeps both", two, one, 50, [3]int{2, 1, 1}, func(t *testing.T, e *env, rn *renewal) {
			e.clk.set(rn.fee.DueDate.Add(time.Hour))
			atOnce(t, e.runs("ztl/tariffe", 20, e.clk.now())...)
			rn.check(t, "the renewal lapsed", 2, 2, 0)
			e.clk.set(rn.P.ValidTo.Add(time.Hour))
			atOnce(t, e.runs("ztl/scadenze", 20, e.clk.now())...)
		}},
		{"renewal with two cars of one lapses, the added place is freed", one, two, 50, [3]int{2, 0, 2}, func(t *testing.T, e *env, rn *renewal) {
			e.clk.set(rn.fee.DueDate.Add(time.Hour))
			atOnce(t, e.runs("ztl/tariffe", 20, e.clk.now())...)
			rn.check(t, "the renewal lapsed", 1, 1, 0)
			e.clk.set(rn.P.ValidTo.Add(time.Hour))
			atOnce(t, e.runs("ztl/scadenze", 20, e.clk.now())...)
		}},
		{"lapse, expiry job and the office's revocation at once", two, one, 50, [3]int{2, 1, 1}, func(t *testing.T, e *env, rn *renewal) {
			e.clk.set(rn.fee.DueDate.Add(time.Hour))
			fns := append(e.runs("ztl/tariffe", 10, e.clk.now()), e.runs("ztl/scadenze", 10, e.clk.now())...)
			fns = append(fns, func() error {
				r := rn.off.PostForm("/backoffice/ztl/permessi/"+rn.P.Code+"/revoca", url.Values{"reason": {"Trasferimento di residenza"}})
				if r.Status != http.StatusSeeOther {
					return fmt.Errorf("revocation: %d", r.Status)
				}
				return nil
			})
			atOnce(t, fns...)
			if s, sr := rn.status(t, rn.P.ID), rn.status(t, rn.R.ID); s != ztl.StatusRevoked || sr != ztl.StatusRevoked {
				t.Fatalf("after the lapse and the revocation: %s, %s", s, sr)
			}
		}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			eachWithFees(t, func(t *testing.T, e *env) {
				rn := newRenewal(t, e, sc.plates, sc.renew, sc.before)
				rn.check(t, "after the renewal", sc.after[0], sc.after[1], sc.after[2])
				sc.run(t, e, rn)
				rn.check(t, "at the end", 0, 0, 0)
			})
		})
	}
}

// TestRenewalPlacesMigration: a renewal granted before ztl/0003 took over all of its
// predecessor's places without recording it; the migration records what it took over
// (at most its own cars) and leaves the predecessor holding nothing, so revoking the
// renewal while the predecessor runs hands the places back instead of freeing them.
// A renewal whose predecessor has ended frees its places when revoked.
func TestRenewalPlacesMigration(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		db := e.scoped()
		now := e.clk.now()
		mk := func(code string, caseID int64, status string, from, to time.Time, held bool, slots int, renews int64) ztl.Permit {
			t.Helper()
			p := ztl.Permit{Code: code, CaseID: caseID, Category: "residenti", HolderCF: cfMario, HolderName: "Mario Rossi",
				Household: "F0001", Zones: "A", ValidFrom: from, ValidTo: to, Status: status, SlotHeld: held, Slots: slots,
				RenewsID: renews, CreatedAt: now, UpdatedAt: now}
			if err := db.Create(&p).Error; err != nil {
				t.Fatal(err)
			}
			return p
		}
		// As the old code left them: the predecessor (two cars) no longer holding, its
		// renewal (one car) holding 1, the difference already freed.
		old := mk("AAAA-AAAA-B001", 1, ztl.StatusActive, now.AddDate(-2, 0, 0), now.AddDate(0, 0, 40), false, 2, 0)
		renewal := mk("AAAA-AAAA-B002", 2, ztl.StatusUnpaid, old.ValidTo, old.ValidTo.AddDate(2, 0, 0), true, 1, old.ID)
		ended := mk("AAAA-AAAA-B003", 3, ztl.StatusActive, now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1), false, 1, 0)
		later := mk("AAAA-AAAA-B004", 4, ztl.StatusActive, ended.ValidTo, ended.ValidTo.AddDate(2, 0, 0), true, 1, ended.ID)
		if err := db.Create(&ztl.HouseholdSlots{Category: "residenti", Household: "F0001", Used: 2}).Error; err != nil {
			t.Fatal(err)
		}
		ran := false
		for _, m := range e.m.Migrations() {
			if m.ID == "ztl/0003_renewal_places_fee_reminder" {
				if err := m.Migrate(e.All()); err != nil {
					t.Fatal(err)
				}
				ran = true
			}
		}
		if !ran {
			t.Fatal("no migration ztl/0003_renewal_places_fee_reminder")
		}
		get := func(id int64) ztl.Permit {
			t.Helper()
			var p ztl.Permit
			if err := db.Where("id = ?", id).Take(&p).Error; err != nil {
				t.Fatal(err)
			}
			return p
		}
		if r, o := get(renewal.ID), get(old.ID); r.SlotsTakenOver != 1 || o.Slots != 0 || o.SlotHeld {
			t.Fatalf("after the migration: the renewal took over %d, the predecessor holds %v (%d)", r.SlotsTakenOver, o.SlotHeld, o.Slots)
		}
		want(t, e.officer().PostForm("/backoffice/ztl/permessi/"+renewal.Code+"/revoca", url.Values{"reason": {"Domanda presentata per errore"}}), http.StatusSeeOther)
		var s ztl.HouseholdSlots
		db.Where("household = ?", "F0001").Take(&s)
		if o := get(old.ID); !o.SlotHeld || o.Slots != 1 || s.Used != 2 {
			t.Fatalf("after revoking the renewal: the predecessor holds %v (%d), %d places used; want 1 held, 2 used", o.SlotHeld, o.Slots, s.Used)
		}
		// The renewal of a permit already ended frees its place: nothing to hand back to.
		want(t, e.officer().PostForm("/backoffice/ztl/permessi/"+later.Code+"/revoca", url.Values{"reason": {"Trasferimento di residenza"}}), http.StatusSeeOther)
		db.Where("household = ?", "F0001").Take(&s)
		if o := get(ended.ID); o.SlotHeld || s.Used != 1 {
			t.Fatalf("after revoking the renewal of an ended permit: it holds %v, %d places used; want none, 1", o.SlotHeld, s.Used)
		}
	})
}
