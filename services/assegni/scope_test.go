package assegni_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/services/assegni"
)

// TestEnteIsolation: an application written under one ente is invisible and
// unchangeable under another, the unscoped handle is refused, and a child's
// uniqueness holds per ente only.
func TestEnteIsolation(t *testing.T) {
	t.Parallel()
	apptest.Each(t, apptest.Options{NewModules: nil, Modules: nil}, func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		a, b := enti.Scoped(s.DB, "a"), enti.Scoped(s.DB, "b")
		row := func(caseID int64) *assegni.Application {
			return &assegni.Application{CaseID: caseID, SchemeID: "maternita-2026", Measure: "maternita", ApplicantCF: "BNCNNA90E50H501X",
				ChildCF: "BNCLCU26A01H501X", Event: "nascita", EventDate: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
				DSU: "INPS-ISEE-2026-00123456A-00", AmountCents: 206550, IBAN: "IT60X0542811101000000123456", Holder: "Anna",
				Active: true, Status: "submitted", SubmittedAt: time.Now().UTC()}
		}
		if err := a.WithContext(ctx).Create(row(1)).Error; err != nil {
			t.Fatal(err)
		}
		var n int64
		b.Model(&assegni.Application{}).Count(&n)
		if n != 0 {
			t.Fatalf("ente b sees %d of a's applications", n)
		}
		res := b.Model(&assegni.Application{}).Where("case_id = ?", 1).Update("amount_cents", 1)
		if res.Error != nil || res.RowsAffected != 0 {
			t.Fatalf("ente b changed a's application: %v %d", res.Error, res.RowsAffected)
		}
		if res := b.Where("case_id = ?", 1).Delete(&assegni.Application{}); res.RowsAffected != 0 {
			t.Fatal("ente b deleted a's application")
		}
		var got assegni.Application
		if err := a.Where("case_id = ?", 1).Take(&got).Error; err != nil || got.AmountCents != 206550 {
			t.Fatalf("a's application: %+v %v", got, err)
		}
		if err := s.DB.Model(&assegni.Application{}).Count(&n).Error; !errors.Is(err, enti.ErrUnscoped) {
			t.Fatalf("unscoped read: %v", err)
		}
		// The same child may have an application in each comune, but one per comune.
		if err := b.Create(row(1)).Error; err != nil {
			t.Fatalf("same child in another ente: %v", err)
		}
		if err := a.Create(row(2)).Error; !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("second active application in one ente: %v", err)
		}
	})
}

// TestReminders: a draft whose last day is near is reminded once, by mail through
// the outbox, in the ente of the draft; a second pass sends nothing.
func TestReminders(t *testing.T) {
	t.Parallel()
	portal(t, func(t *testing.T, s *apptest.Server, m *assegni.Module, p people) {
		anna := citizen(s, p.Anna, "Anna Bianchi", "anna.bianchi@example.it")
		startDraft(t, anna, p.Sofia) // last day in five days
		startDraft(t, anna, p.Luca)  // months left: no reminder yet
		mails := func() []notify.Record {
			var out []notify.Record
			s.All().Where("kind = ?", "assegni.reminder").Find(&out)
			return out
		}
		later := time.Now().Add(2 * time.Hour)
		if err := m.RunReminders(context.Background(), later); err != nil {
			t.Fatal(err)
		}
		got := mails()
		if len(got) != 1 || got[0].To != "anna.bianchi@example.it" || !strings.Contains(got[0].Text, "Assegno di maternità") ||
			!strings.Contains(got[0].Text, "/riepilogo") {
			t.Fatalf("reminders: %+v", got)
		}
		if err := m.RunReminders(context.Background(), later.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := len(mails()); n != 1 {
			t.Fatalf("%d reminders after a second pass", n)
		}
		var rows int64
		valdoria(s).Table("assegni_promemoria").Count(&rows)
		if rows != 1 {
			t.Fatalf("%d reminder rows", rows)
		}
	})
}
