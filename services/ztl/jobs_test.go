package ztl_test

import (
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/services/ztl"
)

// TestJobs: photos older than the retention period are deleted (the transit stays);
// reminders are queued once per permit before it (or its badge) ends; an expired
// resident permit gives its household places back.
func TestJobs(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		db := e.scoped()
		now := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
		old := ztl.Transit{System: "varchi", RecordID: "old", Plate: "AB123CD", Gate: "G", Zone: "A", At: now.AddDate(0, 0, -31),
			Photo: jpegImg, PhotoType: "image/jpeg", CreatedAt: now}
		recent := ztl.Transit{System: "varchi", RecordID: "new", Plate: "AB123CD", Gate: "G", Zone: "A", At: now.AddDate(0, 0, -29),
			Photo: jpegImg, PhotoType: "image/jpeg", CreatedAt: now}
		for _, tr := range []*ztl.Transit{&old, &recent} {
			if err := db.Create(tr).Error; err != nil {
				t.Fatal(err)
			}
		}
		e.job("ztl/foto-transiti", now)
		e.job("ztl/foto-transiti", now)
		var got []ztl.Transit
		db.Order("record_id").Find(&got)
		if len(got) != 2 || got[1].RecordID != "old" || got[1].Photo != nil || got[1].PhotoDeletedAt == nil ||
			got[0].Photo == nil || got[0].PhotoDeletedAt != nil {
			t.Fatalf("after the retention job: %+v", got)
		}

		caseID := int64(0)
		mk := func(code string, to time.Time, badge *time.Time, slot bool) {
			caseID++
			p := ztl.Permit{Code: code, CaseID: caseID, Category: "residenti", HolderCF: "RSSMRA80A01H501U",
				HolderName: "Mario Rossi", Email: "mario.rossi@example.it", Household: "F0001", Zones: "A",
				ValidFrom: now.AddDate(-1, 0, 0), ValidTo: to, BadgeExpiry: badge, Status: ztl.StatusActive, SlotHeld: slot, Slots: map[bool]int{true: 1}[slot],
				CreatedAt: now, UpdatedAt: now}
			if err := db.Create(&p).Error; err != nil {
				t.Fatal(err)
			}
			l := ztl.Access{PermitID: p.ID, Plate: "EF" + code[len(code)-3:] + "GH", Country: "IT", Zone: "A", ValidFrom: p.ValidFrom, ValidTo: to, UpdatedAt: now}
			if err := db.Create(&l).Error; err != nil {
				t.Fatal(err)
			}
		}
		badge := ztl.DayStart(2027, 3, 19)
		mk("AAAA-AAAA-A001", ztl.DayStart(2027, 3, 20), nil, false)    // ends in 19 days: reminded
		mk("AAAA-AAAA-A002", ztl.DayStart(2027, 3, 20), &badge, false) // ends with the badge: badge reminder
		mk("AAAA-AAAA-A003", ztl.DayStart(2027, 6, 1), nil, false)     // far: not yet
		mk("AAAA-AAAA-A004", now.Add(-time.Hour), nil, true)           // expired, holds a place
		if err := db.Create(&ztl.HouseholdSlots{Category: "residenti", Household: "F0001", Used: 1}).Error; err != nil {
			t.Fatal(err)
		}
		e.job("ztl/scadenze", now)
		e.job("ztl/scadenze", now.Add(time.Hour))
		var mails []notify.Record
		e.All().Where("kind = ?", "ztl.expiry").Order("subject").Find(&mails)
		if len(mails) != 2 {
			t.Fatalf("%d reminders, want 2: %+v", len(mails), mails)
		}
		if mails[0].Subject != "Il permesso ZTL AAAA-AAAA-A001 scade il 19/03/2027" ||
			mails[1].Subject != "Il permesso ZTL AAAA-AAAA-A002 scade con il contrassegno il 19/03/2027" {
			t.Errorf("subjects: %q, %q", mails[0].Subject, mails[1].Subject)
		}
		var slots ztl.HouseholdSlots
		db.Where("household = ?", "F0001").Take(&slots)
		var held int64
		db.Model(&ztl.Permit{}).Where("slot_held = ?", true).Count(&held)
		if slots.Used != 0 || held != 0 {
			t.Errorf("after expiry: %d places used, %d permits holding places", slots.Used, held)
		}
	})
}
