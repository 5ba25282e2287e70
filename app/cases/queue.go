package cases

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store"
)

// Filter selects cases of the staff queue.
type Filter struct {
	// Module is required; Types limits to the types the officer works (empty: none).
	Module string
	Types  []string
	State  State
	Type   string
	// Assignee filters by officer; "-" means unassigned.
	Assignee string
	// LateOnly keeps cases past their deadline at Now.
	LateOnly bool
	// Search matches a protocol number (exact or "NNNNNN" of any year) or a tax code.
	Search string
	// Now is the time lateness is judged at (zero: the service's clock).
	Now           time.Time
	Limit, Offset int
	// Enti spans several enti (a union's back office, enti.Span): for each ente id,
	// the case types the officer works there. Empty: the request's ente, with Types.
	Enti map[string][]string
}

// Queue returns the submitted cases matching f (drafts are the citizen's own), late
// first, then by deadline (soonest first, none last), then oldest submission, and
// the total number that match.
func (s *Service) Queue(ctx context.Context, f Filter) ([]Case, int64, error) {
	if f.Now.IsZero() {
		f.Now = s.now()
	}
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 25
	}
	var q *gorm.DB
	if len(f.Enti) > 0 {
		// The one query of the case pages that spans enti: confined by the store to
		// the enti of the span (enti.ScopedSet), and within each to its types.
		ids := make([]string, 0, len(f.Enti))
		var parts []string
		var args []any
		for id, types := range f.Enti {
			if len(types) == 0 {
				continue
			}
			ids = append(ids, id)
			parts = append(parts, "(cases.ente_id = ? AND case_type IN ?)")
			args = append(args, id, types)
		}
		if len(ids) == 0 {
			return nil, 0, nil
		}
		q = enti.ScopedSet(s.db.WithContext(ctx), ids).Model(&Case{}).
			Where("module = ? AND state <> ?", f.Module, Draft).Where("("+strings.Join(parts, " OR ")+")", args...)
	} else {
		if len(f.Types) == 0 {
			return nil, 0, nil
		}
		q = enti.For(ctx, s.db).Model(&Case{}).Where("module = ? AND case_type IN ? AND state <> ?", f.Module, f.Types, Draft)
	}
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	if f.Type != "" {
		q = q.Where("case_type = ?", f.Type)
	}
	switch f.Assignee {
	case "":
	case "-":
		q = q.Where("assignee = ''")
	default:
		q = q.Where("assignee = ?", f.Assignee)
	}
	if f.LateOnly {
		q = q.Where("deadline IS NOT NULL AND deadline < ?", f.Now)
	}
	if v := strings.ToUpper(strings.TrimSpace(f.Search)); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && len(v) <= 6 {
			// A bare number is the protocol's sequence in any year: 42 is */000042.
			q = q.Where("protocol LIKE ?", fmt.Sprintf("%%/%06d", n))
		} else if strings.Contains(v, "/") {
			q = q.Where("protocol = ?", v)
		} else {
			q = q.Where("applicant_cf = ?", v)
		}
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("cases: queue: %w", err)
	}
	var out []Case
	err := q.Order(gorm.Expr("CASE WHEN deadline IS NOT NULL AND deadline < ? THEN 0 ELSE 1 END", f.Now)).
		Order("CASE WHEN deadline IS NULL THEN 1 ELSE 0 END").Order("deadline").Order("submitted_at").Order("id").
		Limit(f.Limit).Offset(f.Offset).Find(&out).Error
	if err != nil {
		return nil, 0, fmt.Errorf("cases: queue: %w", err)
	}
	return out, total, nil
}

// Assign gives case id to officer username ("" takes it back from whoever holds it),
// as officer a holding the type's role. The change is in the history and the audit log.
func (s *Service) Assign(ctx context.Context, a Actor, module string, id int64, username string) error {
	c, _, err := s.ForOfficer(ctx, a, module, id)
	if err != nil {
		return err
	}
	username = clip(strings.TrimSpace(username), 64)
	now := s.now()
	return store.WithTx(ctx, enti.For(ctx, s.db), func(tx *gorm.DB) error {
		res := tx.Model(&Case{}).Where("id = ? AND state = ?", id, c.State).
			Updates(map[string]any{"assignee": username, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("cases: assign: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrConflict
		}
		if err := tx.Create(&HistoryEntry{CaseID: id, At: now, ActorKind: a.Kind, ActorID: a.ID, ActorName: clip(a.Name, 200),
			Transition: "assign", FromState: c.State, ToState: c.State, Reason: username}).Error; err != nil {
			return fmt.Errorf("cases: history: %w", err)
		}
		return audit.Record(ctx, tx, audit.Entry{ActorKind: string(a.Kind), ActorID: a.ID, Action: "cases.assign",
			SubjectCF: c.ApplicantCF, ObjectType: "case", ObjectID: fmt.Sprint(id), Outcome: audit.OK, IP: a.IP,
			RequestID: a.RequestID, Details: map[string]any{"assignee": username}})
	})
}

// Figures are the dashboard's counts for one module.
type Figures struct {
	Open, Late, DecidedThisMonth int64
}

// Figures counts module's open cases (submitted, not closed), those past their
// deadline at now, and those decided since the first of now's month (Europe/Rome).
func (s *Service) Figures(ctx context.Context, module string, now time.Time) (Figures, error) {
	var f Figures
	var closed []State
	for _, t := range s.Types(module) {
		closed = append(closed, t.Closed...)
	}
	if len(closed) == 0 {
		return f, nil
	}
	base := func() *gorm.DB { return enti.For(ctx, s.db).Model(&Case{}).Where("module = ?", module) }
	open := func() *gorm.DB { return base().Where("state <> ? AND state NOT IN ?", Draft, closed) }
	if err := open().Count(&f.Open).Error; err != nil {
		return f, err
	}
	if err := open().Where("deadline IS NOT NULL AND deadline < ?", now.UTC()).Count(&f.Late).Error; err != nil {
		return f, err
	}
	r := now.In(s.rome)
	month := time.Date(r.Year(), r.Month(), 1, 0, 0, 0, 0, s.rome).UTC()
	if err := base().Where("decided_at IS NOT NULL AND decided_at >= ? AND state <> ?", month, Withdrawn).Count(&f.DecidedThisMonth).Error; err != nil {
		return f, err
	}
	return f, nil
}

// EscalateOverdue flags every open case past its deadline at now that is not flagged
// yet, and tells its office by mail, one case per transaction (the flag is a
// conditional UPDATE, so two runners at once flag and mail each case once). It
// returns how many cases it flagged. It is the deadline-escalation job's body.
func (s *Service) EscalateOverdue(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC()
	n := 0
	for {
		flagged, more, err := s.escalateBatch(ctx, now)
		n += flagged
		if err != nil || !more {
			return n, err
		}
	}
}

const escalateBatch = 200

// escalateBatch flags one batch of overdue cases; more says a full batch was read and
// another may follow.
func (s *Service) escalateBatch(ctx context.Context, now time.Time) (int, bool, error) {
	var due []Case
	if err := enti.For(ctx, s.db).Where("deadline IS NOT NULL AND deadline < ? AND escalated_at IS NULL AND state <> ?", now, Draft).
		Order("deadline, id").Limit(escalateBatch).Find(&due).Error; err != nil {
		return 0, false, fmt.Errorf("cases: overdue: %w", err)
	}
	n, progress := 0, false
	for _, c := range due {
		t, ok := s.Type(c.Module, c.Type)
		if !ok || t.IsClosed(c.State) {
			// A closed case keeps no deadline; one from an old type declaration is
			// marked so that it is not read again.
			res := enti.For(ctx, s.db).Model(&Case{}).Where("id = ? AND escalated_at IS NULL", c.ID).Update("escalated_at", now)
			if res.Error != nil {
				return n, false, fmt.Errorf("cases: escalate case %d: %w", c.ID, res.Error)
			}
			progress = progress || res.RowsAffected > 0
			continue
		}
		flagged := false
		err := store.WithTx(ctx, enti.For(ctx, s.db), func(tx *gorm.DB) error {
			res := tx.Model(&Case{}).Where("id = ? AND state = ? AND escalated_at IS NULL", c.ID, c.State).
				Update("escalated_at", now)
			if res.Error != nil || res.RowsAffected != 1 {
				return res.Error
			}
			if err := audit.Record(ctx, tx, audit.Entry{ActorKind: audit.ActorSystem, ActorID: "cases.escalation",
				Action: "cases.overdue", SubjectCF: c.ApplicantCF, ObjectType: "case", ObjectID: fmt.Sprint(c.ID),
				Outcome: audit.OK, Details: map[string]any{"state": string(c.State), "deadline": c.Deadline}}); err != nil {
				return err
			}
			office := t.OfficeEmail
			if office == "" {
				office = s.local(ctx).OfficeEmail
			}
			if office != "" {
				link := strings.TrimSuffix(s.local(ctx).BaseURL, "/") + StaffPath(c.Module, c.ID)
				tt := func(lang, key string) string {
					return s.o.I18n.T(lang, key, "Protocol", c.Protocol, "Title", s.o.I18n.T(lang, t.Title),
						"State", s.o.I18n.T(lang, StateKey(c.State)), "Link", link,
						"Deadline", c.Deadline.In(s.rome).Format("02/01/2006 15:04"))
				}
				if _, err := s.o.Outbox.Enqueue(ctx, tx, notify.Message{To: office,
					Subject: tt("it", "cases.mail.overdue.subject") + " / " + tt("en", "cases.mail.overdue.subject"),
					Text:    tt("it", "cases.mail.overdue.text") + "\n\n-----\n\n" + tt("en", "cases.mail.overdue.text"),
					Kind:    "cases.overdue", CitizenCF: c.ApplicantCF}); err != nil {
					return err
				}
			}
			flagged = true
			return nil
		})
		if err != nil {
			return n, false, fmt.Errorf("cases: escalate case %d: %w", c.ID, err)
		}
		if flagged {
			n++
		}
	}
	// Another batch only when this one was full and changed something (rows taken by
	// a concurrent runner are not read again either way).
	return n, len(due) == escalateBatch && (n > 0 || progress), nil
}
