package feedback_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/feedback"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services"
)

var noModules = apptest.Options{Modules: []services.Module{}, Configure: func(c *config.Config) {
	c.Comune.Email = "urp@comune.valdoria.example"
}}

func reports(t *testing.T, s *apptest.Server) []feedback.Report {
	t.Helper()
	var out []feedback.Report
	if err := s.All().Order("created_at").Find(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

var refOnPage = regexp.MustCompile(`id="disservice-reference">(DS-\d{4}-[A-Z0-9]{6})<`)

func goodReport() url.Values {
	return url.Values{"categoria": {"servizio_online"}, "descrizione": {"Il pagamento della mensa non va a buon fine dal 3 marzo."},
		"luogo": {"/servizi/mensa"}, "nome": {"Anna Neri"}, "email": {"anna.neri@example.org"}}
}

// Bad input gets 422 with the message by its field and stores nothing; a good report
// is stored for the ente, mailed to the URP (and acknowledged to the sender) through
// the outbox, and its number shown; the URP works it in the back office.
func TestDisserviceReport(t *testing.T) {
	apptest.Each(t, noModules, func(t *testing.T, s *apptest.Server) {
		c := s.Client()
		if r := c.Get(feedback.DisservicePath); r.Status != http.StatusOK || !strings.Contains(r.Body, `name="descrizione"`) {
			t.Fatalf("form: %d", r.Status)
		}
		for _, bad := range []struct {
			form url.Values
			want string
		}{
			{url.Values{"descrizione": {"Il pagamento non funziona."}}, "Scegli la categoria del disservizio."},
			{url.Values{"categoria": {"altro"}, "descrizione": {"Rotto"}}, "almeno 10 caratteri"},
			{url.Values{"categoria": {"inventata"}, "descrizione": {"Il pagamento non funziona."}}, "Scegli la categoria"},
			{url.Values{"categoria": {"altro"}, "descrizione": {"Il pagamento non funziona."}, "email": {"anna@"}}, "indirizzo email valido"},
			{url.Values{"categoria": {"altro"}, "descrizione": {strings.Repeat("a", 4001)}}, "al massimo 4000 caratteri"},
		} {
			r := c.PostForm(feedback.DisservicePath, bad.form)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, bad.want) || !strings.Contains(r.Body, `id="error-summary"`) {
				t.Errorf("bad report %v: %d, want 422 with %q", bad.form, r.Status, bad.want)
			}
		}
		if n := len(reports(t, s)); n != 0 {
			t.Fatalf("bad reports stored %d rows", n)
		}

		r := c.PostForm(feedback.DisservicePath, goodReport())
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), feedback.DisservicePath+"/inviata?rif=DS-") {
			t.Fatalf("report: %d %s", r.Status, r.Header.Get("Location"))
		}
		r = c.Follow(r)
		m := refOnPage.FindStringSubmatch(r.Body)
		if r.Status != http.StatusOK || m == nil {
			t.Fatalf("sent page: %d", r.Status)
		}
		ref := m[1]
		list := reports(t, s)
		ente := s.App.Enti().All(context.Background())[0].ID
		if len(list) != 1 || list[0].Reference != ref || list[0].EnteID != ente || list[0].Status != feedback.StatusNew ||
			list[0].Email != "anna.neri@example.org" || list[0].CitizenCF != "" {
			t.Fatalf("stored: %+v", list)
		}
		if r := c.Get(feedback.DisservicePath + "/inviata?rif=<script>"); r.Status != http.StatusNotFound {
			t.Errorf("sent page with a malformed number: %d", r.Status)
		}
		var mails []notify.Record
		if err := s.All().Order("id").Find(&mails).Error; err != nil {
			t.Fatal(err)
		}
		if len(mails) != 2 || mails[0].To != "urp@comune.valdoria.example" || mails[0].Kind != "urp.disservice" ||
			!strings.Contains(mails[0].Subject, ref) || !strings.Contains(mails[0].Text, "Il pagamento della mensa non va a buon fine dal 3 marzo.") ||
			mails[1].To != "anna.neri@example.org" || !strings.Contains(mails[1].Text, ref) {
			t.Fatalf("outbox: %+v", mails)
		}

		// A logged-in citizen: the name is filled in and the report carries the tax code.
		cit := s.Client()
		s.LoginAs(cit, web.Viewer{Kind: "citizen", ID: "RSSMRA80A01H501U", FiscalCode: "RSSMRA80A01H501U", DisplayName: "Mario Rossi"})
		if r := cit.Get(feedback.DisservicePath); !strings.Contains(r.Body, `value="Mario Rossi"`) {
			t.Error("the logged-in citizen's name is not filled in")
		}
		form := goodReport()
		form.Del("email")
		if r := cit.PostForm(feedback.DisservicePath, form); r.Status != http.StatusSeeOther {
			t.Fatalf("citizen's report: %d", r.Status)
		}
		if list := reports(t, s); len(list) != 2 || list[1].CitizenCF != "RSSMRA80A01H501U" {
			t.Fatalf("citizen's report stored: %+v", list)
		}
		// The English pages have every text.
		for _, path := range []string{feedback.DisservicePath, feedback.DisservicePath + "/inviata?rif=" + ref} {
			if r := c.GetLang(path, "en"); r.Status != http.StatusOK || strings.Contains(r.Body, "[disservice.") ||
				(path == feedback.DisservicePath && !strings.Contains(r.Body, "Send the report")) {
				t.Errorf("%s in English: %d", path, r.Status)
			}
		}
		if r := cit.Get(feedback.DisserviceStaffPath); r.Status != http.StatusForbidden {
			t.Errorf("citizen on the staff list: %d", r.Status)
		}

		// The URP's list and the status workflow.
		op := s.Client()
		s.LoginAs(op, web.Viewer{Kind: "staff", ID: "urp1", Roles: []string{roles.URP}})
		r = op.Get(feedback.DisserviceStaffPath)
		if r.Status != http.StatusOK || !strings.Contains(r.Body, ref) || !strings.Contains(r.Body, "Nuova (2)") || strings.Contains(r.Body, "[disservice.") {
			t.Fatalf("staff list: %d", r.Status)
		}
		if r := op.GetLang(feedback.DisserviceStaffPath, "en"); !strings.Contains(r.Body, "Problem reports") || strings.Contains(r.Body, "[disservice.") {
			t.Error("staff list in English")
		}
		if r := op.PostForm(feedback.DisserviceStaffPath+"/"+ref+"/stato", url.Values{"stato": {"in_lavorazione"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("status change: %d", r.Status)
		}
		r = op.Get(feedback.DisserviceStaffPath + "?stato=in_lavorazione")
		if !strings.Contains(r.Body, ref) || !strings.Contains(r.Body, "Stato aggiornato.") || !strings.Contains(r.Body, "In lavorazione (1)") {
			t.Error("list after the status change")
		}
		if r := op.PostForm(feedback.DisserviceStaffPath+"/"+ref+"/stato", url.Values{"stato": {"sparita"}}); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("unknown status: %d", r.Status)
		}
		if r := op.Get(feedback.DisserviceStaffPath + "?stato=sparita"); r.Status != http.StatusBadRequest {
			t.Errorf("unknown status filter: %d", r.Status)
		}
		// Another comune's report: 404 and a security event.
		foreign := feedback.Report{ID: 99, Reference: "DS-2026-AAAAAA", Category: "altro", Description: "Di un altro comune", Status: feedback.StatusNew}
		if err := enti.Scoped(s.DB, "altro-comune").Create(&foreign).Error; err != nil {
			t.Fatal(err)
		}
		if r := op.PostForm(feedback.DisserviceStaffPath+"/DS-2026-AAAAAA/stato", url.Values{"stato": {"chiusa"}}); r.Status != http.StatusNotFound {
			t.Errorf("another comune's report: %d", r.Status)
		}
		if r := op.Get(feedback.DisserviceStaffPath); strings.Contains(r.Body, "Di un altro comune") {
			t.Error("the list shows another comune's report")
		}
		ctx := s.Ctx(context.Background())
		if ev, _, _ := audit.List(ctx, s.DB, audit.Filter{Action: "security.foreign_object"}); len(ev) != 1 || ev[0].ObjectID != "DS-2026-AAAAAA" {
			t.Errorf("security event: %+v", ev)
		}
		if ev, _, _ := audit.List(ctx, s.DB, audit.Filter{Action: "urp.disservice_status"}); len(ev) != 1 || ev[0].ActorID != "urp1" {
			t.Errorf("status change audit: %+v", ev)
		}
	})
}

// Twenty simultaneous reports from one address: DisserviceLimit are stored, the rest
// get 429 with the message and store nothing.
func TestDisserviceRateLimit(t *testing.T) {
	apptest.Each(t, noModules, func(t *testing.T, s *apptest.Server) {
		const n = 20
		clients := make([]*apptest.Client, n)
		forms := make([]url.Values, n)
		for i := range clients {
			clients[i] = s.Client()
			forms[i] = goodReport()
			forms[i].Set("_csrf", clients[i].CSRF())
		}
		var wg sync.WaitGroup
		status := make([]int, n)
		bodies := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, s.BaseURL+feedback.DisservicePath, strings.NewReader(forms[i].Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res, err := clients[i].HTTP.Do(req)
				if err != nil {
					return
				}
				defer res.Body.Close()
				b := make([]byte, 1<<16)
				k, _ := res.Body.Read(b)
				status[i], bodies[i] = res.StatusCode, string(b[:k])
			}()
		}
		wg.Wait()
		ok, limited := 0, 0
		for i, st := range status {
			switch st {
			case http.StatusSeeOther:
				ok++
			case http.StatusTooManyRequests:
				limited++
			default:
				t.Errorf("request %d: status %d", i, st)
			}
		}
		if ok != feedback.DisserviceLimit || limited != n-feedback.DisserviceLimit {
			t.Fatalf("%d accepted and %d limited, want %d and %d", ok, limited, feedback.DisserviceLimit, n-feedback.DisserviceLimit)
		}
		if got := len(reports(t, s)); got != feedback.DisserviceLimit {
			t.Fatalf("%d reports stored, want %d", got, feedback.DisserviceLimit)
		}
		r := s.Client().PostForm(feedback.DisservicePath, goodReport())
		if r.Status != http.StatusTooManyRequests || !strings.Contains(r.Body, "troppe segnalazioni") || !strings.Contains(r.Body, "Anna Neri") {
			t.Errorf("over the limit: %d", r.Status)
		}
	})
}
