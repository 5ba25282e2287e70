package feedback_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/comuni-italiani/sportello/app/apptest"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/feedback"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/web"
)

// Thirty status changes of one report at once, from three URP officers, to every
// status, each with its own note, and ten more that all ask for the same status and
// note: every request answers 303; the audit log holds one row for each change that
// took effect and none for the others: read in order, each row starts from the
// status the previous one left and changes the status or the note; every distinct
// note is there exactly once (none lost, none doubled); the report ends as the last
// row says. On both databases (on PostgreSQL two changes that read the report before
// either wrote used to log the same "from" and the second overwrote the first
// unseen).
func TestDisserviceStatusRace(t *testing.T) {
	t.Parallel()
	apptest.Each(t, noModules, func(t *testing.T, s *apptest.Server) {
		ref := seedReports(t, s, 1)[0]
		officers, tokens := make([]*apptest.Client, 3), make([]string, 3)
		for i := range officers {
			officers[i] = s.Client()
			s.LoginAs(officers[i], web.Viewer{Kind: "staff", ID: fmt.Sprintf("urp%d", i+1), Roles: []string{roles.URP}})
			tokens[i] = officers[i].CSRF()
		}
		const distinct, same = 30, 10
		type change struct{ status, note string }
		changes := make([]change, 0, distinct+same)
		for i := range distinct {
			changes = append(changes, change{feedback.DisserviceStatuses[i%3], fmt.Sprintf("Nota %d: verificato con l'ufficio.", i)})
		}
		for range same {
			changes = append(changes, change{feedback.StatusClosed, "Chiusa: risposto alla cittadina."})
		}
		action := s.BaseURL + feedback.DisserviceStaffPath + "/" + ref + "/stato"
		status := make([]int, len(changes))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, ch := range changes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := officers[i%len(officers)]
				form := url.Values{"stato": {ch.status}, "nota": {ch.note}, "_csrf": {tokens[i%len(officers)]}}
				<-start
				req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res, err := c.HTTP.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				status[i] = res.StatusCode
			}()
		}
		close(start)
		wg.Wait()
		for i, st := range status {
			if st != http.StatusSeeOther {
				t.Fatalf("change %d (%v): status %d", i, changes[i], st)
			}
		}

		var evs []audit.Event
		if err := s.All().Where("action = ? AND object_id = ?", "urp.disservice_status", ref).Order("id").Find(&evs).Error; err != nil {
			t.Fatal(err)
		}
		// The same status and note ten times take effect at least once and at most
		// ten times (another change in between makes the next one a change again).
		if len(evs) < distinct+1 || len(evs) > distinct+same {
			t.Fatalf("%d status changes audited, want %d to %d", len(evs), distinct+1, distinct+same)
		}
		prev := change{feedback.StatusNew, ""} // the seeded report: new, no note
		notes := map[string]int{}
		for i, e := range evs {
			var d map[string]string
			if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
				t.Fatal(err)
			}
			if d["from"] != prev.status {
				t.Fatalf("audit row %d starts from %q, but the row before left %q: a change read a stale report", i, d["from"], prev.status)
			}
			cur := change{d["to"], d["note"]}
			if cur == prev {
				t.Fatalf("audit row %d changes nothing (%v): a change that took no effect was logged", i, cur)
			}
			notes[cur.note]++
			prev = cur
		}
		for _, ch := range changes[:distinct] {
			if notes[ch.note] != 1 {
				t.Errorf("note %q in %d audit rows, want 1", ch.note, notes[ch.note])
			}
		}
		var got feedback.Report
		if err := s.All().Where("reference = ?", ref).Take(&got).Error; err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		if got.Status != prev.status || got.StatusNote != prev.note || got.StatusBy != last.ActorID {
			t.Fatalf("the report ends as %q %q by %s, the last audited change is %v by %s", got.Status, got.StatusNote, got.StatusBy, prev, last.ActorID)
		}
		// The list shows the final state.
		if r := officers[0].Get(feedback.DisserviceStaffPath); r.Status != http.StatusOK ||
			!strings.Contains(r.Body, strings.ReplaceAll(got.StatusNote, "'", "&#39;")) {
			t.Fatalf("the list does not show the final note: %d", r.Status)
		}
	})
}
