package assegni_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/services/assegni"
)

// TestRejectThenApplyAgain: a rejection needs its reason, mails it to the citizen,
// frees the child for a new application and stays out of the export for INPS.
func TestRejectThenApplyAgain(t *testing.T) {
	t.Parallel()
	portal(t, func(t *testing.T, s *apptest.Server, m *assegni.Module, p people) {
		giulia := citizen(s, p.Giulia, "Giulia Verdi", "giulia.verdi@example.it")
		form := startDraft(t, giulia, p.Marco)
		fill(t, giulia, form, p.Marco, "0", "9.000")
		want(t, submit(t, s, giulia, form), http.StatusSeeOther)
		id := strings.TrimPrefix(form, "/servizi/assegni/domanda/")
		off := officer(s)
		staffCase := "/backoffice/assegni/pratiche/" + id
		want(t, postMultipart(off, s.BaseURL, staffCase+"/azione/take", nil), http.StatusSeeOther)
		want(t, postMultipart(off, s.BaseURL, staffCase+"/azione/reject", url.Values{"reason": {" "}}),
			http.StatusUnprocessableEntity, "motivazione")
		reason := "L'attestazione ISEE allegata è scaduta."
		want(t, postMultipart(off, s.BaseURL, staffCase+"/azione/reject", url.Values{"reason": {reason}}), http.StatusSeeOther)
		want(t, giulia.Get("/area-personale/pratiche/"+id), 200, "Respinta")
		var mail notify.Record
		s.All().Where("to_addr = ?", "giulia.verdi@example.it").Order("id DESC").Take(&mail)
		if !strings.Contains(mail.Text, reason) {
			t.Fatalf("the rejection mail lacks the reason: %s", mail.Text)
		}
		var app assegni.Application
		valdoria(s).Where("child_cf = ?", p.Marco).Take(&app)
		if app.Active || app.Status != "rejected" {
			t.Fatalf("rejected application: %+v", app)
		}
		today := assegni.Day(time.Now()).Format(time.DateOnly)
		ex := off.Get("/backoffice/assegni/esportazione.csv?dal=" + today + "&al=" + today)
		if want := strings.Join(assegni.CSVHeader, ";"); strings.TrimSpace(ex.Body) != want {
			t.Fatalf("a rejected case in the export:\n%s", ex.Body)
		}
		// The child is free again: a new application goes through.
		again := startDraft(t, giulia, p.Marco)
		fill(t, giulia, again, p.Marco, "0", "9.000")
		want(t, submit(t, s, giulia, again), http.StatusSeeOther)
		var n int64
		valdoria(s).Table("assegni_domande").Where("child_cf = ? AND active", p.Marco).Count(&n)
		if n != 1 {
			t.Fatalf("%d active applications for the child", n)
		}
	})
}
