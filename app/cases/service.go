package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/comuni-italiani/sportello/app/enti"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// Limits on what a case holds.
const (
	// MaxTextRunes caps a reason or a message.
	MaxTextRunes = 4000
	// MaxFormBytes caps the form data of a case.
	MaxFormBytes = 64 << 10
)

// Options configure a Service.
type Options struct {
	// Outbox queues the mails; required.
	Outbox *notify.Outbox
	// I18n writes the mails (Italian and English); required.
	I18n *web.I18n
	// BaseURL makes the links in mails absolute.
	BaseURL string
	// OfficeEmail receives the office's notices of types that name no address.
	OfficeEmail string
	// Email returns the logged-in citizen's e-mail address from the login (kept on
	// the case for its notices); nil means none.
	Email func(c echo.Context) string
	// Stamp signs the submission receipts (nil: no receipts); Issuer names the comune
	// in the stamp and Letterhead heads the receipt PDF.
	Stamp      *stamp.KeyRing
	Issuer     string
	Letterhead pdfdoc.Letterhead
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Local returns what differs between the comuni an installation serves (links,
	// office address, issuer, letterhead, stamp keys) for ctx's ente; nil means the
	// fields above serve every case.
	Local func(ctx context.Context) Local
	// ForEachEnte runs the platform's case jobs once per ente, with ctx carrying it;
	// nil runs them once with the caller's context.
	ForEachEnte func(ctx context.Context, fn func(context.Context) error) error
}

// Local is what a case's comune decides: the address of its portal, its office's
// mailbox, its name in stamps, its letterhead and its stamp keys.
type Local struct {
	BaseURL     string
	OfficeEmail string
	Issuer      string
	Letterhead  pdfdoc.Letterhead
	Stamp       *stamp.KeyRing
}

// local returns the settings of ctx's ente.
func (s *Service) local(ctx context.Context) Local {
	if s.o.Local != nil {
		return s.o.Local(ctx)
	}
	return Local{BaseURL: s.o.BaseURL, OfficeEmail: s.o.OfficeEmail, Issuer: s.o.Issuer, Letterhead: s.o.Letterhead, Stamp: s.o.Stamp}
}

// Service runs the case workflow for every registered type.
type Service struct {
	db    *gorm.DB
	o     Options
	mu    sync.RWMutex
	types map[string]*Type
	rome  *time.Location
}

// New returns a service on db.
func New(db *gorm.DB, o Options) (*Service, error) {
	if o.Outbox == nil || o.I18n == nil {
		return nil, errors.New("cases: Options.Outbox and Options.I18n are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	return &Service{db: db, o: o, types: map[string]*Type{}, rome: rome}, nil
}

// DB is the service's database.
func (s *Service) DB() *gorm.DB { return s.db }

func typeKey(module, id string) string { return module + "/" + id }

// Register declares a case type. It refuses an invalid or repeated declaration.
func (s *Service) Register(t Type) error {
	t.Transitions = slices.Clone(t.Transitions)
	if err := t.check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := typeKey(t.Module, t.ID)
	if _, dup := s.types[k]; dup {
		return fmt.Errorf("cases: type %s registered twice", k)
	}
	s.types[k] = &t
	return nil
}

// Type returns a registered type.
func (s *Service) Type(module, id string) (*Type, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.types[typeKey(module, id)]
	return t, ok
}

// Types returns the types of module (every module when module is ""), by id.
func (s *Service) Types(module string) []*Type {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Type
	for _, t := range s.types {
		if module == "" || t.Module == module {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return typeKey(out[i].Module, out[i].ID) < typeKey(out[j].Module, out[j].ID) })
	return out
}

// Modules lists the modules that declared case types.
func (s *Service) Modules() []string {
	var out []string
	for _, t := range s.Types("") {
		if !slices.Contains(out, t.Module) {
			out = append(out, t.Module)
		}
	}
	return out
}

func (s *Service) now() time.Time { return s.o.Now().UTC() }

func checkForm(form any) (string, error) {
	if form == nil {
		return "{}", nil
	}
	var b []byte
	switch v := form.(type) {
	case json.RawMessage:
		b = v
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(form); err != nil {
			return "", ErrFormData
		}
	}
	var obj map[string]any
	if len(b) > MaxFormBytes || !utf8.Valid(b) || strings.ContainsRune(string(b), 0) || json.Unmarshal(b, &obj) != nil || obj == nil {
		return "", ErrFormData
	}
	return string(b), nil
}

// Create opens a draft of module's type for the citizen a, with form as its data (a
// value that encodes as a JSON object, or the JSON itself).
func (s *Service) Create(ctx context.Context, a Actor, module, typ string, form any) (*Case, error) {
	t, ok := s.Type(module, typ)
	if !ok {
		return nil, ErrUnknownType
	}
	if a.Kind != Citizen || a.ID == "" {
		return nil, ErrNotAllowed
	}
	data, err := checkForm(form)
	if err != nil {
		return nil, err
	}
	code, err := stamp.NewCode()
	if err != nil {
		return nil, fmt.Errorf("cases: code: %w", err)
	}
	now := s.now()
	c := &Case{Module: t.Module, Type: t.ID, ApplicantCF: a.ID, ApplicantName: clip(a.Name, 200),
		ApplicantEmail: clip(a.Email, 254), State: Draft, FormData: data, Code: code, CreatedAt: now, UpdatedAt: now}
	if d := s.deadline(t, Draft, now, nil); d != nil {
		c.Deadline = d
	}
	err = store.WithTx(ctx, enti.For(ctx, s.db), func(tx *gorm.DB) error {
		if err := tx.Create(c).Error; err != nil {
			return fmt.Errorf("cases: create: %w", err)
		}
		return tx.Create(&HistoryEntry{CaseID: c.ID, At: now, ActorKind: Citizen, ActorID: a.ID, ActorName: c.ApplicantName,
			Transition: "create", FromState: "", ToState: Draft}).Error
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// SaveDraft replaces the form data of a draft of the citizen a. A case that left the
// draft state meanwhile gives ErrConflict.
func (s *Service) SaveDraft(ctx context.Context, a Actor, id int64, form any) error {
	data, err := checkForm(form)
	if err != nil {
		return err
	}
	if _, err := s.ForApplicant(ctx, a.ID, id); err != nil {
		return err
	}
	res := enti.For(ctx, s.db).Model(&Case{}).Where("id = ? AND applicant_cf = ? AND state = ?", id, a.ID, Draft).
		Updates(map[string]any{"form_data": data, "updated_at": s.now()})
	if res.Error != nil {
		return fmt.Errorf("cases: save draft: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrConflict
	}
	return nil
}

// Get returns a case by id (no access check: callers check).
func (s *Service) Get(ctx context.Context, id int64) (*Case, error) {
	return get(ctx, s.db, id)
}

func get(ctx context.Context, db *gorm.DB, id int64) (*Case, error) {
	var c Case
	err := enti.For(ctx, db).Where("id = ?", id).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("cases: get: %w", err)
	}
	return &c, nil
}

// ForApplicant returns case id if cf is its applicant, ErrNotFound otherwise.
func (s *Service) ForApplicant(ctx context.Context, cf string, id int64) (*Case, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if cf == "" || c.ApplicantCF != cf {
		return nil, ErrNotFound
	}
	return c, nil
}

// ForOfficer returns case id of module if a holds the role of its type, ErrNotFound
// otherwise.
func (s *Service) ForOfficer(ctx context.Context, a Actor, module string, id int64) (*Case, *Type, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	t, ok := s.Type(c.Module, c.Type)
	if !ok || c.Module != module || a.Kind != Officer || !slices.Contains(a.Roles, t.Role) {
		return nil, nil, ErrNotFound
	}
	return c, t, nil
}

// OfApplicant lists the citizen's cases, newest first.
func (s *Service) OfApplicant(ctx context.Context, cf string, limit int) ([]Case, error) {
	var out []Case
	q := enti.For(ctx, s.db).Where("applicant_cf = ?", cf).Order("updated_at DESC, id DESC")
	if limit > 0 {
		q = q.Limit(limit)
	}
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("cases: list: %w", err)
	}
	return out, nil
}

// History returns the steps of case id, oldest first.
func (s *Service) History(ctx context.Context, id int64) ([]HistoryEntry, error) {
	var out []HistoryEntry
	err := enti.For(ctx, s.db).Where("case_id = ?", id).Order("id").Find(&out).Error
	return out, err
}

// Messages returns the thread of case id, oldest first.
func (s *Service) Messages(ctx context.Context, id int64) ([]Message, error) {
	var out []Message
	err := enti.For(ctx, s.db).Where("case_id = ?", id).Order("id").Find(&out).Error
	return out, err
}

// Attachments lists the documents of case id (without content), oldest first.
func (s *Service) Attachments(ctx context.Context, id int64) ([]Attachment, error) {
	var out []Attachment
	err := enti.For(ctx, s.db).Where("case_id = ?", id).Order("id").Find(&out).Error
	return out, err
}

// Content returns attachment attID of case caseID with its bytes, ErrNotFound when it
// does not belong to that case.
func (s *Service) Content(ctx context.Context, caseID, attID int64) (Attachment, []byte, error) {
	var row struct {
		Attachment
		Content []byte
	}
	err := enti.For(ctx, s.db).Table("case_attachments").Where("id = ? AND case_id = ?", attID, caseID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Attachment{}, nil, ErrNotFound
	}
	if err != nil {
		return Attachment{}, nil, fmt.Errorf("cases: attachment: %w", err)
	}
	return row.Attachment, row.Content, nil
}

// Input is what a transition carries besides its name.
type Input struct {
	Reason  string
	Message string
	// Documents are attached to the step (and to its message, if any).
	Documents []Upload
}

// Apply makes transition name on case id as actor a, in one transaction: it checks
// the transition is allowed to a from the current state, moves the state with a
// conditional UPDATE (ErrConflict when someone else moved it first), gives the
// protocol number at submission, stores history, message and documents, records the
// audit entry, queues the mails and runs the type's hook (which can veto).
func (s *Service) Apply(ctx context.Context, a Actor, id int64, name string, in Input) (*Case, error) {
	in.Reason, in.Message = strings.TrimSpace(in.Reason), strings.TrimSpace(in.Message)
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	t, ok := s.Type(c.Module, c.Type)
	if !ok {
		return nil, ErrUnknownType
	}
	if a.Kind == Citizen && a.ID != c.ApplicantCF {
		return nil, ErrNotFound
	}
	tr, ok := t.Transition(name)
	if !ok || !t.may(tr, a) {
		return nil, ErrNotAllowed
	}
	if err := checkInput(t, tr, in); err != nil {
		return nil, err
	}
	docs, err := sniffAll(t, in.Documents)
	if err != nil {
		return nil, err
	}
	from := c.State
	if !slices.Contains(tr.From, from) {
		return nil, ErrConflict
	}
	var out *Case
	err = store.WithTx(ctx, enti.For(ctx, s.db), func(tx *gorm.DB) error {
		// The conditional UPDATE comes first: it decides between two actors at once
		// (the loser matches no row), and on SQLite a transaction whose first
		// statement writes takes the write lock before reading anything, so it
		// waits for the busy timeout instead of failing on a stale snapshot.
		now := s.now()
		res := tx.Model(&Case{}).Where("id = ? AND state = ?", id, from).
			Updates(map[string]any{"state": tr.To, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("cases: transition: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrConflict
		}
		cur, err := get(ctx, tx, id)
		if err != nil {
			return err
		}
		up := map[string]any{}
		numbering := tr.To == Submitted && cur.Protocol == ""
		if numbering {
			up["submitted_at"] = now
			cur.SubmittedAt = &now
		}
		if t.IsClosed(tr.To) {
			up["decided_at"] = now
			cur.DecidedAt = &now
		}
		if tr.Assign {
			up["assignee"] = a.ID
			cur.Assignee = a.ID
		}
		cur.Deadline = s.deadline(t, tr.To, now, cur.SubmittedAt)
		if d := t.Deadlines[tr.To]; cur.Deadline != nil && d.FromSubmission && len(t.ClockStops) > 0 {
			stopped, err := s.stoppedTime(ctx, tx, t, id, from, now)
			if err != nil {
				return err
			}
			v := cur.Deadline.Add(stopped)
			cur.Deadline = &v
		}
		up["deadline"] = cur.Deadline
		up["escalated_at"] = nil
		cur.EscalatedAt = nil
		if err := tx.Model(&Case{}).Where("id = ?", id).Updates(up).Error; err != nil {
			return fmt.Errorf("cases: transition: %w", err)
		}
		cur.State, cur.UpdatedAt = tr.To, now
		h := HistoryEntry{CaseID: id, At: now, ActorKind: a.Kind, ActorID: a.ID, ActorName: clip(a.Name, 200),
			Transition: tr.Name, FromState: from, ToState: tr.To, Reason: in.Reason}
		if err := tx.Create(&h).Error; err != nil {
			return fmt.Errorf("cases: history: %w", err)
		}
		var msgID int64
		if in.Message != "" {
			m := Message{CaseID: id, At: now, AuthorKind: a.Kind, AuthorID: a.ID, AuthorName: clip(a.Name, 200),
				Body: in.Message, HistoryID: h.ID}
			if err := tx.Create(&m).Error; err != nil {
				return fmt.Errorf("cases: message: %w", err)
			}
			msgID = m.ID
		}
		if err := s.storeDocs(ctx, tx, t, cur, a, docs, msgID, h.ID, now); err != nil {
			return err
		}
		if numbering {
			// The year's counter row stays locked from here to the commit, so the
			// number comes after every write that does not need it (the documents
			// above may be megabytes).
			p, err := s.nextProtocol(ctx, tx, now)
			if err != nil {
				return err
			}
			if err := tx.Model(&Case{}).Where("id = ?", id).Update("protocol", p).Error; err != nil {
				return fmt.Errorf("cases: protocol: %w", err)
			}
			cur.Protocol = p
			if err := s.issueReceipt(ctx, tx, cur, h.ID, now); err != nil {
				return err
			}
		}
		if err := audit.Record(ctx, tx, audit.Entry{ActorKind: string(a.Kind), ActorID: a.ID,
			Action: "cases." + tr.Name, SubjectCF: cur.ApplicantCF, ObjectType: "case", ObjectID: fmt.Sprint(id),
			Outcome: audit.OK, IP: a.IP, RequestID: a.RequestID,
			Details: map[string]any{"module": cur.Module, "type": cur.Type, "from": string(from), "to": string(tr.To),
				"protocol": cur.Protocol, "documents": len(docs)}}); err != nil {
			return err
		}
		if err := s.mail(ctx, tx, t, cur, tr, a, in); err != nil {
			return err
		}
		if t.Hook != nil {
			if err := t.Hook(ctx, tx, Event{Case: *cur, Transition: tr, From: from, Actor: a, Reason: in.Reason, Message: in.Message}); err != nil {
				return err
			}
		}
		out = cur
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func checkInput(t *Type, tr Transition, in Input) error {
	if tr.NeedsReason && in.Reason == "" {
		return ErrReasonRequired
	}
	if tr.NeedsMessage && in.Message == "" {
		return ErrMessageRequired
	}
	for _, txt := range []string{in.Reason, in.Message} {
		if utf8.RuneCountInString(txt) > MaxTextRunes || !utf8.ValidString(txt) || strings.ContainsRune(txt, 0) {
			return ErrTextTooLong
		}
	}
	if len(in.Documents) > 0 && !tr.Attachments {
		return ErrAttachmentsRefused
	}
	if len(in.Documents) > t.maxAttachments() {
		return ErrAttachmentCount
	}
	return nil
}

// deadline is when state s runs out for a case entering it at now.
func (s *Service) deadline(t *Type, st State, now time.Time, submitted *time.Time) *time.Time {
	d, ok := t.Deadlines[st]
	if !ok || d.Within <= 0 {
		return nil
	}
	from := now
	if d.FromSubmission && submitted != nil {
		from = *submitted
	}
	v := from.Add(d.Within).UTC()
	return &v
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Now is the service's clock, in UTC.
func (s *Service) Now() time.Time { return s.now() }

// Drafts returns the unsubmitted drafts of module's type typ created before
// before, oldest first, at most limit (for reminder jobs).
func (s *Service) Drafts(ctx context.Context, module, typ string, before time.Time, limit int) ([]Case, error) {
	var out []Case
	err := enti.For(ctx, s.db).Where("module = ? AND case_type = ? AND state = ? AND created_at < ?", module, typ, Draft, before).
		Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("cases: drafts: %w", err)
	}
	return out, nil
}

// stoppedTime is how long case id has spent in its type's ClockStops states up to now,
// from its history; from is the state it is leaving now.
func (s *Service) stoppedTime(ctx context.Context, tx *gorm.DB, t *Type, id int64, from State, now time.Time) (time.Duration, error) {
	var hist []HistoryEntry
	if err := enti.For(ctx, tx).Where("case_id = ?", id).Order("id").Find(&hist).Error; err != nil {
		return 0, fmt.Errorf("cases: history: %w", err)
	}
	var total time.Duration
	for i, h := range hist {
		if !slices.Contains(t.ClockStops, h.ToState) {
			continue
		}
		end := now // the state being left now
		if i+1 < len(hist) {
			end = hist[i+1].At
		} else if !slices.Contains(t.ClockStops, from) {
			continue
		}
		if end.After(h.At) {
			total += end.Sub(h.At)
		}
	}
	return total, nil
}

// StampRing is the key ring that signs the receipts (nil when receipts are off), for
// modules whose own documents carry the comune's stamp (a ZTL permit): one published
// key set verifies them all.
func (s *Service) StampRing(ctx context.Context) *stamp.KeyRing { return s.local(ctx).Stamp }

// Letterhead is the letterhead of ctx's comune, for modules' own PDFs.
func (s *Service) Letterhead(ctx context.Context) pdfdoc.Letterhead { return s.local(ctx).Letterhead }
