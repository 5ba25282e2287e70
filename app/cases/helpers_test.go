package cases_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/templates"
)

func migrations() []*store.Migration {
	var m []*store.Migration
	m = append(m, audit.Migrations()...)
	m = append(m, notify.Migrations()...)
	m = append(m, cases.Migrations()...)
	return m
}

var (
	i18nOnce sync.Once
	i18n     *web.I18n
	i18nErr  error
)

func loadI18n(t testing.TB) *web.I18n {
	i18nOnce.Do(func() { i18n, i18nErr = web.LoadI18n(templates.FS, "locales") })
	if i18nErr != nil {
		t.Fatal(i18nErr)
	}
	return i18n
}

const (
	probeModule = "probe"
	probeType   = "permesso"
	probeRole   = "probe_officer"
	otherRole   = "other_officer"
	// Suspended is the probe type's own state.
	Suspended cases.State = "suspended"
)

// probeTypeDecl is the probe case type: the standard life plus its own state
// "suspended" that only the system enters and leaves.
func probeTypeDecl() cases.Type {
	tr := cases.StandardTransitions()
	tr = append(tr,
		cases.Transition{Name: "suspend", From: []cases.State{cases.InReview}, To: Suspended, By: cases.System, NeedsReason: true},
		cases.Transition{Name: "resume", From: []cases.State{Suspended}, To: cases.InReview, By: cases.System},
	)
	return cases.Type{Module: probeModule, ID: probeType, Title: "cases.state.draft", Role: probeRole,
		States: []cases.State{Suspended}, Transitions: tr, MaxAttachments: 3, MaxAttachmentSize: 1 << 10,
		OfficeEmail: "ufficio@comune.example.it", Hook: vetoHook,
		Deadlines: map[cases.State]cases.Deadline{
			cases.Submitted:         {Within: 30 * 24 * time.Hour, FromSubmission: true},
			cases.InReview:          {Within: 30 * 24 * time.Hour, FromSubmission: true},
			cases.WaitingForCitizen: {Within: 10 * 24 * time.Hour},
		}}
}

// errVeto is the probe hook's refusal: it vetoes any submission whose form says
// "veto": true, after every platform write of the transition.
var errVeto = &cases.Error{Key: "cases.error.form_data"}

func vetoHook(_ context.Context, tx *gorm.DB, ev cases.Event) error {
	if ev.Transition.Name == "submit" && strings.Contains(ev.Case.FormData, `"veto":true`) {
		return errVeto
	}
	return nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func newService(t testing.TB, db *gorm.DB, clk *clock) *cases.Service {
	t.Helper()
	ring, _, err := stamp.LoadOrCreateDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	o := cases.Options{Outbox: notify.NewOutbox(nil), I18n: loadI18n(t), BaseURL: "https://comune.example.it",
		Stamp: ring, Issuer: "Comune di Valdoria", Letterhead: pdfdoc.Letterhead{Comune: "Comune di Valdoria"}}
	if clk != nil {
		o.Now = clk.Now
	}
	s, err := cases.New(db, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Register(probeTypeDecl()); err != nil {
		t.Fatal(err)
	}
	return s
}

// Fictional people.
var (
	applicant = cases.Actor{Kind: cases.Citizen, ID: "RSSMRA80A01H501U", Name: "Mario Rossi", Email: "mario.rossi@example.it"}
	stranger  = cases.Actor{Kind: cases.Citizen, ID: "VRDLGU75B12F205X", Name: "Luigi Verdi"}
	officer   = cases.Actor{Kind: cases.Officer, ID: "operatore1", Name: "Anna Bianchi", Roles: []string{probeRole}}
	officer2  = cases.Actor{Kind: cases.Officer, ID: "operatore2", Name: "Carla Neri", Roles: []string{probeRole}}
	outsider  = cases.Actor{Kind: cases.Officer, ID: "operatore3", Name: "Dino Gialli", Roles: []string{otherRole}}
	system    = cases.Actor{Kind: cases.System, ID: "job"}
)

// Minimal documents of each kind, recognised by their content.
var (
	pdfDoc = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	pngDoc = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 32)...)
	jpgDoc = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{1}, 32)...)
	exeDoc = append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 64)...)
)

// snapshot is everything a refused operation must leave as it was.
type snapshot struct {
	Case                                     string // the row as JSON
	History, Messages, Attachments, Mail, Au int64
}

func snap(t *testing.T, db *gorm.DB, id int64) snapshot {
	t.Helper()
	var s snapshot
	var c cases.Case
	if err := db.Where("id = ?", id).Take(&c).Error; err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	s.Case = string(b)
	for table, p := range map[string]*int64{"case_history": &s.History, "case_messages": &s.Messages,
		"case_attachments": &s.Attachments} {
		if err := db.Table(table).Where("case_id = ?", id).Count(p).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Table("outbox_messages").Count(&s.Mail).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Table("audit_events").Count(&s.Au).Error; err != nil {
		t.Fatal(err)
	}
	return s
}

func ctx() context.Context { return context.Background() }
