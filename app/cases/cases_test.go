package cases_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// force puts case id in state st directly (test set-up only).
func force(t *testing.T, db *gorm.DB, id int64, st cases.State) {
	t.Helper()
	if err := db.Model(&cases.Case{}).Where("id = ?", id).Update("state", st).Error; err != nil {
		t.Fatal(err)
	}
}

func draft(t *testing.T, s *cases.Service, form any) *cases.Case {
	t.Helper()
	c, err := s.Create(ctx(), applicant, probeModule, probeType, form)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTransitionTable tries every transition of the probe type from every state by
// every kind of actor: it succeeds exactly when the state is one the transition
// leaves and the actor is the one it admits; a refusal leaves the case, its history,
// thread, documents, the outbox and the audit log as they were.
func TestTransitionTable(t *testing.T) {
	t.Parallel()
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		s := newService(t, db, nil)
		typ, _ := s.Type(probeModule, probeType)
		states := append(slices.Clone(cases.CommonStates), Suspended)
		actors := map[string]cases.Actor{"applicant": applicant, "stranger": stranger, "officer": officer,
			"outsider": outsider, "system": system}
		allowed, refused := 0, 0
		for _, tr := range typ.Transitions {
			for _, st := range states {
				for an, a := range actors {
					c := draft(t, s, map[string]any{"motivo": "prova"})
					force(t, db, c.ID, st)
					before := snap(t, db, c.ID)
					in := cases.Input{Reason: "motivazione", Message: "messaggio"}
					got, err := s.Apply(ctx(), a, c.ID, tr.Name, in)
					rightActor := tr.By == a.Kind && (a.Kind != cases.Officer || slices.Contains(a.Roles, probeRole)) &&
						(a.Kind != cases.Citizen || a.ID == applicant.ID)
					rightState := slices.Contains(tr.From, st)
					name := fmt.Sprintf("%s from %s by %s", tr.Name, st, an)
					if rightActor && rightState {
						allowed++
						if err != nil {
							t.Errorf("%s: %v", name, err)
							continue
						}
						after := snap(t, db, c.ID)
						stored, _ := s.Get(ctx(), c.ID)
						if got.State != tr.To || stored.State != tr.To || after.History != before.History+1 {
							t.Errorf("%s: state %s (stored %s), history %d→%d", name, got.State, stored.State, before.History, after.History)
						}
						if after.Au != before.Au+1 {
							t.Errorf("%s: audit %d→%d", name, before.Au, after.Au)
						}
						continue
					}
					refused++
					var want error
					switch {
					case a.Kind == cases.Citizen && a.ID != applicant.ID:
						want = cases.ErrNotFound
					case !rightActor:
						want = cases.ErrNotAllowed
					default:
						want = cases.ErrConflict
					}
					if !errors.Is(err, want) {
						t.Errorf("%s: err %v, want %v", name, err, want)
					}
					if after := snap(t, db, c.ID); after != before {
						t.Errorf("%s: refused but changed:\n%+v\n%+v", name, before, after)
					}
				}
			}
		}
		if allowed < 10 || refused < 100 {
			t.Fatalf("table too small: %d allowed, %d refused", allowed, refused)
		}
	})
}

// TestLife walks a case from draft to approval and checks what each step leaves:
// protocol number, deadline, assignee, history, thread, documents, mails.
func TestLife(t *testing.T) {
	t.Parallel()
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		clk := &clock{t: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)}
		s := newService(t, db, clk)
		c := draft(t, s, map[string]any{"targa": "AB123CD"})
		if c.State != cases.Draft || c.Protocol != "" || c.Code == "" {
			t.Fatalf("draft: %+v", c)
		}
		if err := s.SaveDraft(ctx(), applicant, c.ID, map[string]any{"targa": "EF456GH"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveDraft(ctx(), stranger, c.ID, map[string]any{"x": 1}); !errors.Is(err, cases.ErrNotFound) {
			t.Fatalf("stranger saves draft: %v", err)
		}
		if err := s.SaveDraft(ctx(), applicant, c.ID, "not an object"); !errors.Is(err, cases.ErrFormData) {
			t.Fatalf("bad form: %v", err)
		}
		c, err := s.Apply(ctx(), applicant, c.ID, "submit", cases.Input{Documents: []cases.Upload{{Name: "doc.pdf", Content: pdfDoc}}})
		if err != nil {
			t.Fatal(err)
		}
		if c.Protocol != "2026/000001" || c.State != cases.Submitted || c.FormData != `{"targa":"EF456GH"}` {
			t.Fatalf("submitted: %+v", c)
		}
		if want := clk.Now().Add(30 * 24 * time.Hour); c.Deadline == nil || !c.Deadline.Equal(want) {
			t.Fatalf("deadline %v, want %v", c.Deadline, want)
		}
		mails, _, err := notify.List(ctx(), db, notify.ListFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var to []string
		for _, m := range mails {
			to = append(to, m.To)
			if !strings.Contains(m.Text, "2026/000001") {
				t.Errorf("mail to %s lacks the protocol: %s", m.To, m.Text)
			}
		}
		sort.Strings(to)
		if !slices.Equal(to, []string{"mario.rossi@example.it", "ufficio@comune.example.it"}) {
			t.Fatalf("submission mails to %v", to)
		}

		clk.Set(clk.Now().Add(48 * time.Hour))
		if c, err = s.Apply(ctx(), officer, c.ID, "take", cases.Input{}); err != nil || c.Assignee != "operatore1" {
			t.Fatalf("take: %v %+v", err, c)
		}
		// In review the deadline still counts from the submission.
		if want := clk.Now().Add(28 * 24 * time.Hour); !c.Deadline.Equal(want) {
			t.Fatalf("in review deadline %v, want %v", c.Deadline, want)
		}
		if _, err := s.Apply(ctx(), officer, c.ID, "request_integration", cases.Input{}); !errors.Is(err, cases.ErrMessageRequired) {
			t.Fatalf("integration without message: %v", err)
		}
		if _, err := s.Apply(ctx(), officer, c.ID, "request_integration", cases.Input{Message: "Manca la carta di circolazione."}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(ctx(), applicant, c.ID, "reply", cases.Input{Message: "Ecco il documento.",
			Documents: []cases.Upload{{Name: "libretto.png", Content: pngDoc}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(ctx(), officer, c.ID, "reject", cases.Input{}); !errors.Is(err, cases.ErrReasonRequired) {
			t.Fatalf("reject without reason: %v", err)
		}
		if c, err = s.Apply(ctx(), officer, c.ID, "approve", cases.Input{}); err != nil {
			t.Fatal(err)
		}
		if c.State != cases.Approved || c.DecidedAt == nil || c.Deadline != nil {
			t.Fatalf("approved: %+v", c)
		}
		h, _ := s.History(ctx(), c.ID)
		var steps []string
		for _, e := range h {
			steps = append(steps, fmt.Sprintf("%s:%s>%s:%s", e.Transition, e.FromState, e.ToState, e.ActorID))
		}
		want := []string{"create:>draft:RSSMRA80A01H501U", "submit:draft>submitted:RSSMRA80A01H501U",
			"take:submitted>in_review:operatore1", "request_integration:in_review>waiting_for_citizen:operatore1",
			"reply:waiting_for_citizen>in_review:RSSMRA80A01H501U", "approve:in_review>approved:operatore1"}
		if !slices.Equal(steps, want) {
			t.Fatalf("history\n%v\nwant\n%v", steps, want)
		}
		msgs, _ := s.Messages(ctx(), c.ID)
		if len(msgs) != 2 || msgs[0].AuthorKind != cases.Officer || msgs[1].Body != "Ecco il documento." {
			t.Fatalf("thread: %+v", msgs)
		}
		atts, _ := s.Attachments(ctx(), c.ID)
		if len(atts) != 2 || atts[0].ContentType != "application/pdf" || atts[1].ContentType != "image/png" ||
			atts[1].MessageID != msgs[1].ID || len(atts[0].SHA256) != 64 {
			t.Fatalf("attachments: %+v", atts)
		}
		a, content, err := s.Content(ctx(), c.ID, atts[1].ID)
		if err != nil || string(content) != string(pngDoc) || a.Size != int64(len(pngDoc)) {
			t.Fatalf("content: %v %d", err, len(content))
		}
		if _, _, err := s.Content(ctx(), c.ID+1000, atts[1].ID); !errors.Is(err, cases.ErrNotFound) {
			t.Fatalf("attachment of another case: %v", err)
		}
		// The submission's receipt: authentic as stored, not once the data changes.
		v, err := s.VerifyReceipt(ctx(), strings.ToLower(strings.ReplaceAll(c.Code, "-", "")))
		if err != nil || !v.Authentic || v.Case.ID != c.ID || len(v.Documents) != 1 || v.Documents[0].Name != "doc.pdf" {
			t.Fatalf("receipt: %v %+v", err, v)
		}
		db.Model(&cases.Case{}).Where("id = ?", c.ID).Update("form_data", `{"targa":"ZZ999ZZ"}`)
		if v, err = s.VerifyReceipt(ctx(), c.Code); err != nil || v.Authentic {
			t.Fatalf("receipt of changed data: %v %+v", err, v)
		}
		db.Model(&cases.Case{}).Where("id = ?", c.ID).Update("form_data", `{"targa":"EF456GH"}`)
		db.Model(&cases.Attachment{}).Where("id = ?", atts[0].ID).Update("sha256", strings.Repeat("0", 64))
		if v, err = s.VerifyReceipt(ctx(), c.Code); err != nil || v.Authentic {
			t.Fatalf("receipt of a changed document: %v %+v", err, v)
		}
		if _, err := s.VerifyReceipt(ctx(), "0000-0000-0000-0"); !errors.Is(err, cases.ErrNotFound) {
			t.Fatalf("unknown code: %v", err)
		}
		var citizenMails int64
		db.Table("outbox_messages").Where("to_addr = ?", "mario.rossi@example.it").Count(&citizenMails)
		// submit (receipt), take, request_integration, approve: not the reply.
		if citizenMails != 4 {
			t.Fatalf("citizen mails: %d", citizenMails)
		}
	})
}

var protocolRE = regexp.MustCompile(`^2026/\d{6}$`)

// TestProtocolConcurrent submits 200 drafts at once: 200 distinct, consecutive numbers.
func TestProtocolConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
		s := newService(t, db, clk)
		const n = 200
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = draft(t, s, map[string]any{"n": i}).ID
		}
		got := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := s.Apply(ctx(), applicant, ids[i], "submit", cases.Input{})
				errs[i] = err
				if err == nil {
					got[i] = c.Protocol
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("submission %d: %v", i, err)
			}
		}
		sort.Strings(got)
		for i, p := range got {
			if want := cases.FormatProtocol(2026, int64(i+1)); p != want || !protocolRE.MatchString(p) {
				t.Fatalf("protocol %d is %q, want %q", i, p, want)
			}
		}
		var stored int64
		db.Model(&cases.Case{}).Where("protocol <> ''").Distinct("protocol").Count(&stored)
		if stored != n {
			t.Fatalf("%d distinct protocols stored", stored)
		}
	})
}

// TestProtocolNoGap: a submission vetoed by the module's hook rolls back its number;
// the counter restarts at 1 in a new year (Europe/Rome).
func TestProtocolNoGap(t *testing.T) {
	t.Parallel()
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		clk := &clock{t: time.Date(2026, 12, 31, 22, 30, 0, 0, time.UTC)}
		s := newService(t, db, clk)
		bad := draft(t, s, map[string]any{"veto": true})
		before := snap(t, db, bad.ID)
		if _, err := s.Apply(ctx(), applicant, bad.ID, "submit", cases.Input{Documents: []cases.Upload{{Name: "a.pdf", Content: pdfDoc}}}); !errors.Is(err, errVeto) {
			t.Fatalf("veto: %v", err)
		}
		if after := snap(t, db, bad.ID); after != before {
			t.Fatalf("vetoed submission changed data:\n%+v\n%+v", before, after)
		}
		var receipts int64
		db.Table("case_receipts").Count(&receipts)
		if receipts != 0 {
			t.Fatalf("vetoed submission left %d receipts", receipts)
		}
		c, err := s.Apply(ctx(), applicant, draft(t, s, nil).ID, "submit", cases.Input{})
		if err != nil || c.Protocol != "2026/000001" {
			t.Fatalf("after veto: %v %+v", err, c)
		}
		clk.Set(time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC)) // 00:30 on 1 January in Rome
		if c, err = s.Apply(ctx(), applicant, draft(t, s, nil).ID, "submit", cases.Input{}); err != nil || c.Protocol != "2027/000001" {
			t.Fatalf("new year: %v %+v", err, c)
		}
	})
}

// TestOfficersDecideAtOnce: officers approving and rejecting the same case at once:
// exactly one wins, every other gets ErrConflict, one decision is recorded.
func TestOfficersDecideAtOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		s := newService(t, db, nil)
		for round := 0; round < 5; round++ {
			c := draft(t, s, nil)
			if _, err := s.Apply(ctx(), applicant, c.ID, "submit", cases.Input{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Apply(ctx(), officer, c.ID, "take", cases.Input{}); err != nil {
				t.Fatal(err)
			}
			const n = 20
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a, name := officer, "approve"
					if i%2 == 1 {
						a, name = officer2, "reject"
					}
					_, errs[i] = s.Apply(ctx(), a, c.ID, name, cases.Input{Reason: "requisiti mancanti"})
				}()
			}
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case errors.Is(err, cases.ErrConflict):
				default:
					t.Fatalf("unexpected error: %v", err)
				}
			}
			var decisions int64
			db.Model(&cases.HistoryEntry{}).Where("case_id = ? AND transition IN ?", c.ID, []string{"approve", "reject"}).Count(&decisions)
			if wins != 1 || decisions != 1 {
				t.Fatalf("round %d: %d winners, %d decisions recorded", round, wins, decisions)
			}
		}
	})
}

// TestAttachments: type sniffed from content, size and count caps, nothing stored by
// a refused or failed step.
func TestAttachments(t *testing.T) {
	t.Parallel()
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		s := newService(t, db, nil)
		c := draft(t, s, nil)
		refuse := func(name string, want error, docs ...cases.Upload) {
			t.Helper()
			before := snap(t, db, c.ID)
			if _, err := s.Apply(ctx(), applicant, c.ID, "submit", cases.Input{Documents: docs}); !errors.Is(err, want) {
				t.Fatalf("%s: %v, want %v", name, err, want)
			}
			if after := snap(t, db, c.ID); after != before {
				t.Fatalf("%s: data changed:\n%+v\n%+v", name, before, after)
			}
		}
		refuse("exe renamed pdf", cases.ErrAttachmentType, cases.Upload{Name: "ricevuta.pdf", Content: exeDoc})
		refuse("html renamed png", cases.ErrAttachmentType, cases.Upload{Name: "foto.png", Content: []byte("<html><script>x</script></html>")})
		refuse("one good one bad", cases.ErrAttachmentType, cases.Upload{Name: "a.pdf", Content: pdfDoc}, cases.Upload{Name: "b.pdf", Content: exeDoc})
		big := append(slices.Clone(pdfDoc), make([]byte, 1<<10)...)
		refuse("over size", cases.ErrAttachmentSize, cases.Upload{Name: "grande.pdf", Content: big})
		refuse("empty", cases.ErrAttachmentSize, cases.Upload{Name: "vuoto.pdf"})
		four := []cases.Upload{{Name: "1.pdf", Content: pdfDoc}, {Name: "2.png", Content: pngDoc}, {Name: "3.jpg", Content: jpgDoc}, {Name: "4.pdf", Content: pdfDoc}}
		refuse("over count", cases.ErrAttachmentCount, four...)

		// Two at submission, then two more with the reply: over the cap of 3 per case.
		if _, err := s.Apply(ctx(), applicant, c.ID, "submit", cases.Input{Documents: four[:2]}); err != nil {
			t.Fatal(err)
		}
		s.Apply(ctx(), officer, c.ID, "take", cases.Input{})
		if _, err := s.Apply(ctx(), officer, c.ID, "request_integration", cases.Input{Message: "Serve altro", Documents: four[:1]}); !errors.Is(err, cases.ErrAttachmentsRefused) {
			t.Fatalf("documents on a step that takes none: %v", err)
		}
		s.Apply(ctx(), officer, c.ID, "request_integration", cases.Input{Message: "Serve altro"})
		before := snap(t, db, c.ID)
		if _, err := s.Apply(ctx(), applicant, c.ID, "reply", cases.Input{Message: "Ecco", Documents: four[2:]}); !errors.Is(err, cases.ErrAttachmentCount) {
			t.Fatalf("count over the case: %v", err)
		}
		if after := snap(t, db, c.ID); after != before || after.Attachments != 2 {
			t.Fatalf("reply over count changed data: %+v", after)
		}
		atts, _ := s.Attachments(ctx(), c.ID)
		if atts[0].Name != "1.pdf" || atts[1].ContentType != "image/png" {
			t.Fatalf("stored: %+v", atts)
		}

		// A submission vetoed after its documents were written keeps none of them.
		v := draft(t, s, map[string]any{"veto": true})
		if _, err := s.Apply(ctx(), applicant, v.ID, "submit", cases.Input{Documents: four[:3]}); !errors.Is(err, errVeto) {
			t.Fatalf("veto: %v", err)
		}
		var n int64
		db.Table("case_attachments").Where("case_id = ?", v.ID).Count(&n)
		if n != 0 {
			t.Fatalf("failed submission stored %d documents", n)
		}
	})
}

// TestEscalate flags cases past their deadline once, mails the office, and leaves
// alone cases in time or closed; a new state clears the flag.
func TestEscalate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		start := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
		clk := &clock{t: start}
		s := newService(t, db, clk)
		late := draft(t, s, nil)
		s.Apply(ctx(), applicant, late.ID, "submit", cases.Input{})
		closed := draft(t, s, nil)
		s.Apply(ctx(), applicant, closed.ID, "submit", cases.Input{})
		s.Apply(ctx(), applicant, closed.ID, "withdraw", cases.Input{})
		clk.Set(start.Add(20 * 24 * time.Hour))
		fresh := draft(t, s, nil)
		s.Apply(ctx(), applicant, fresh.ID, "submit", cases.Input{})

		if n, err := s.EscalateOverdue(ctx(), start.Add(29*24*time.Hour)); err != nil || n != 0 {
			t.Fatalf("before the deadline: %d %v", n, err)
		}
		now := start.Add(31 * 24 * time.Hour)
		var wg sync.WaitGroup
		counts := make([]int, 4)
		for i := range counts {
			wg.Add(1)
			go func() { defer wg.Done(); counts[i], _ = s.EscalateOverdue(ctx(), now) }()
		}
		wg.Wait()
		if total := counts[0] + counts[1] + counts[2] + counts[3]; total != 1 {
			t.Fatalf("four runners flagged %d cases, want 1", total)
		}
		c, _ := s.Get(ctx(), late.ID)
		if c.EscalatedAt == nil || !c.Late(now) {
			t.Fatalf("late case not flagged: %+v", c)
		}
		var mails int64
		db.Table("outbox_messages").Where("kind = ?", "cases.overdue").Count(&mails)
		if mails != 1 {
			t.Fatalf("overdue mails: %d", mails)
		}
		f, err := s.Figures(ctx(), probeModule, now)
		if err != nil || f.Open != 2 || f.Late != 1 || f.DecidedThisMonth != 0 {
			t.Fatalf("figures: %+v %v", f, err)
		}
		clk.Set(now)
		if c, _ = s.Apply(ctx(), officer, late.ID, "take", cases.Input{}); c.EscalatedAt != nil {
			t.Fatalf("flag kept after a step: %+v", c)
		}
	})
}

// TestQueue: filters, search and order (late first).
func TestQueue(t *testing.T) {
	t.Parallel()
	storetest.Each(t, migrations(), func(t *testing.T, db *gorm.DB) {
		start := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
		clk := &clock{t: start}
		s := newService(t, db, clk)
		var ids []int64
		for i := range 5 {
			clk.Set(start.Add(time.Duration(i) * 24 * time.Hour))
			c := draft(t, s, nil)
			s.Apply(ctx(), applicant, c.ID, "submit", cases.Input{})
			ids = append(ids, c.ID)
		}
		draft(t, s, nil) // drafts are not in the queue
		s.Apply(ctx(), officer, ids[3], "take", cases.Input{})
		types := []string{probeType}
		now := start.Add(31*24*time.Hour + time.Hour) // ids[0] and ids[1] are late
		list, total, err := s.Queue(ctx(), cases.Filter{Module: probeModule, Types: types, Now: now})
		if err != nil || total != 5 || len(list) != 5 || list[0].ID != ids[0] || list[1].ID != ids[1] {
			t.Fatalf("queue: %v %d %+v", err, total, list)
		}
		if _, total, _ = s.Queue(ctx(), cases.Filter{Module: probeModule, Types: types, Now: now, LateOnly: true}); total != 2 {
			t.Fatalf("late: %d", total)
		}
		if list, total, _ = s.Queue(ctx(), cases.Filter{Module: probeModule, Types: types, State: cases.InReview}); total != 1 || list[0].ID != ids[3] {
			t.Fatalf("in review: %d", total)
		}
		if _, total, _ = s.Queue(ctx(), cases.Filter{Module: probeModule, Types: types, Assignee: "operatore1"}); total != 1 {
			t.Fatalf("assignee: %d", total)
		}
		if _, total, _ = s.Queue(ctx(), cases.Filter{Module: probeModule, Types: types, Assignee: "-"}); total != 4 {
			t.Fatalf("unassigned: %d", total)
		}
		if list, total, _ = s.Queue(ctx(), cases.Filter{Module: probeModule, Types: types, Search: "2026/000003"}); total != 1 || list[0].ID != ids[2] {
			t.Fatalf("by protocol: %d", total)
		}
		if list, total, _ = s.Queue(ctx(), cases.Filter{Module: probeModule, Types: types, Search: "4"}); total != 1 || list[0].ID != ids[3] {
			t.Fatalf("by protocol sequence: %d", total)
		}
		if _, total, _ = s.Queue(ctx(), cases.Filter{Module: probeModule, Types: types, Search: "rssmra80a01h501u"}); total != 5 {
			t.Fatalf("by tax code: %d", total)
		}
		if list, total, _ = s.Queue(ctx(), cases.Filter{Module: probeModule, Types: types, Limit: 2, Offset: 4, Now: now}); total != 5 || len(list) != 1 {
			t.Fatalf("page: %d %d", total, len(list))
		}
		if _, total, _ = s.Queue(ctx(), cases.Filter{Module: probeModule, Types: nil}); total != 0 {
			t.Fatalf("no types: %d", total)
		}
		if err := s.Assign(ctx(), officer, probeModule, ids[4], "operatore2"); err != nil {
			t.Fatal(err)
		}
		if err := s.Assign(ctx(), outsider, probeModule, ids[4], "operatore3"); !errors.Is(err, cases.ErrNotFound) {
			t.Fatalf("outsider assigns: %v", err)
		}
		if c, _ := s.Get(ctx(), ids[4]); c.Assignee != "operatore2" {
			t.Fatalf("assignee %q", c.Assignee)
		}
	})
}

// TestRegister refuses bad declarations.
func TestRegister(t *testing.T) {
	t.Parallel()
	s, err := cases.New(nil, cases.Options{Outbox: notify.NewOutbox(nil), I18n: loadI18n(t)})
	if err != nil {
		t.Fatal(err)
	}
	bad := []cases.Type{
		{Module: "Probe", ID: "x", Role: "r"},
		{Module: "probe", ID: "x"},
		{Module: "probe", ID: "x", Role: "r", Transitions: []cases.Transition{{Name: "go", From: []cases.State{"nowhere"}, To: cases.Approved, By: cases.Officer}}},
		{Module: "probe", ID: "x", Role: "r", Transitions: []cases.Transition{{Name: "go", From: []cases.State{cases.Draft}, To: cases.Approved, By: "robot"}}},
		{Module: "probe", ID: "x", Role: "r", Transitions: []cases.Transition{{Name: "go", From: []cases.State{cases.Draft}, To: cases.Approved, By: cases.Citizen, Assign: true}}},
		{Module: "probe", ID: "x", Role: "r", States: []cases.State{cases.Draft}},
	}
	for i, ty := range bad {
		if err := s.Register(ty); err == nil {
			t.Errorf("declaration %d accepted", i)
		}
	}
	if err := s.Register(probeTypeDecl()); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(probeTypeDecl()); err == nil {
		t.Fatal("type registered twice")
	}
}
