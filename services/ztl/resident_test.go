package ztl_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/services/ztl"
)

// TestResidentsHouseholdAndRenewal: residents share their household's cap of 2
// vehicles (a third is refused at approval, the case stays open); a permit renewed in
// its window continues from its end and takes over its household places (given
// back to it when the renewal is revoked before it ends); a wrong plate change is
// refused with 422 and changes nothing.
func TestResidentsHouseholdAndRenewal(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		pair := householdPair(t, e) // two living members of one household
		a := e.citizen(pair[0].FiscalCode, pair[0].Name)
		b := e.citizen(pair[1].FiscalCode, pair[1].Name)
		off := e.officer()
		permit := url.Values{"category": {"residenti"}, "start": {"2027-03-01"}, "days": {""}}
		id, r := apply(t, e, a, permit, url.Values{"plate1": {"AB123CD"}, "plate2": {"AB124CD"}}, url.Values{}, pdfDoc)
		want(t, r, http.StatusSeeOther)
		want(t, decide(t, e, off, id), http.StatusSeeOther)

		id2, r := apply(t, e, b, permit, url.Values{"plate1": {"XY987ZW"}}, url.Values{}, pdfDoc)
		want(t, r, http.StatusSeeOther)
		r = decide(t, e, off, id2)
		want(t, r, http.StatusUnprocessableEntity, "La famiglia anagrafica ha già il numero massimo di veicoli")
		var n int64
		e.scoped().Model(&ztl.Permit{}).Count(&n)
		if n != 1 {
			t.Fatalf("%d permits after the refused approval", n)
		}

		var p ztl.Permit
		if err := e.scoped().Where("holder_cf = ?", pair[0].FiscalCode).Take(&p).Error; err != nil {
			t.Fatal(err)
		}
		// A wrong plate change: 422, nothing written.
		var lines int64
		e.scoped().Model(&ztl.Access{}).Count(&lines)
		r = a.PostForm("/servizi/ztl/permessi/"+p.Code+"/targa", url.Values{"old": {"AB123CD"}, "plate": {"AB 123"}})
		want(t, r, http.StatusUnprocessableEntity, "La targa non ha un formato valido")
		var after int64
		e.scoped().Model(&ztl.Access{}).Count(&after)
		if after != lines {
			t.Fatalf("a refused plate change wrote %d lines", after-lines)
		}

		// A new car: the old plate leaves from now, the new one enters.
		want(t, a.PostForm("/servizi/ztl/permessi/"+p.Code+"/targa", url.Values{"old": {"AB124CD"}, "plate": {"ab-125-cd"}}), http.StatusSeeOther)
		want(t, a.Get("/servizi/ztl/permessi/"+p.Code), http.StatusOK, "AB125CD")

		// Not renewable yet; then within 60 days of the end it is.
		want(t, a.PostForm("/servizi/ztl/permessi/"+p.Code+"/rinnovo", nil), http.StatusConflict)
		e.clk.set(p.ValidTo.AddDate(0, 0, -30))
		r = a.PostForm("/servizi/ztl/permessi/"+p.Code+"/rinnovo", nil)
		want(t, r, http.StatusSeeOther)
		m := caseIDRE.FindStringSubmatch(r.Header.Get("Location") + "/")
		if m == nil {
			t.Fatalf("renewal went to %q", r.Header.Get("Location"))
		}
		want(t, a.Get("/servizi/ztl/domanda/"+m[1]+"/veicoli"), http.StatusOK, `value="AB123CD"`, `value="AB125CD"`)
		want(t, postMultipart(a, e.BaseURL, "/servizi/ztl/domanda/"+m[1]+"/invia", nil, pdfDoc), http.StatusSeeOther)
		want(t, decide(t, e, off, m[1]), http.StatusSeeOther)
		var renewed ztl.Permit
		if err := e.scoped().Where("renews_id = ?", p.ID).Take(&renewed).Error; err != nil {
			t.Fatal(err)
		}
		if !renewed.ValidFrom.Equal(p.ValidTo) || !renewed.SlotHeld {
			t.Errorf("renewal from %s (want %s), holds places %v", renewed.ValidFrom, p.ValidTo, renewed.SlotHeld)
		}
		var slots ztl.HouseholdSlots
		e.scoped().Where("category = ?", "residenti").Take(&slots)
		if slots.Used != 2 {
			t.Errorf("household places used %d after the renewal, want 2", slots.Used)
		}
		// Revoking the renewal while the permit it renews still runs hands the places
		// back to that permit (its two plates are still let in): the count stays 2
		// until the permit ends, then the expiry job frees them.
		want(t, off.PostForm("/backoffice/ztl/permessi/"+renewed.Code+"/revoca", url.Values{"reason": {"Trasferimento di residenza"}}), http.StatusSeeOther)
		e.scoped().Where("category = ?", "residenti").Take(&slots)
		var back ztl.Permit
		e.scoped().Where("id = ?", p.ID).Take(&back)
		if slots.Used != 2 || !back.SlotHeld || back.Slots != 2 {
			t.Errorf("after revoking the renewal: %d places used, the renewed permit holds %v (%d), want 2 held by it",
				slots.Used, back.SlotHeld, back.Slots)
		}
		e.clk.set(p.ValidTo.Add(time.Hour))
		e.job("ztl/scadenze", e.clk.now())
		e.scoped().Where("category = ?", "residenti").Take(&slots)
		if slots.Used != 0 {
			t.Errorf("household places used %d once the renewed permit ended, want 0", slots.Used)
		}
	})
}
