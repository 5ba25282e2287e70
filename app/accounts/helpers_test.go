package accounts_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/accounts"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// fastHash keeps the suite quick; TestDefaultHashParams measures the real ones.
var fastHash = accounts.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func migrations() []*store.Migration {
	var m []*store.Migration
	m = append(m, audit.Migrations()...)
	m = append(m, notify.Migrations()...)
	m = append(m, accounts.Migrations()...)
	return m
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var (
	i18nOnce sync.Once
	i18n     *web.I18n
	i18nErr  error
)

func messages(t testing.TB) *web.I18n {
	i18nOnce.Do(func() { i18n, i18nErr = web.LoadI18n(os.DirFS("../../templates"), "locales") })
	if i18nErr != nil {
		t.Fatalf("messages: %v", i18nErr)
	}
	return i18n
}

type env struct {
	t   *testing.T
	db  *gorm.DB
	clk *clock
	svc *accounts.Service
	ctx context.Context
}

func newEnv(t *testing.T, db *gorm.DB) *env {
	clk := newClock()
	svc := accounts.New(db, accounts.Options{Now: clk.Now, Hash: fastHash, BaseURL: "https://servizi.comune.example/",
		Outbox: notify.NewOutbox(nil), I18n: messages(t), Issuer: "Comune di Valdoria", Roles: testRoles})
	return &env{t: t, db: db, clk: clk, svc: svc, ctx: context.Background()}
}

// Valid tax codes of fictional people (check characters computed by the algorithm).
const (
	cfMario  = "RSSMRA80A01H501U" // Mario Rossi, 1 January 1980
	cfMario2 = "RSSMRA85T10A562S" // another Mario Rossi, 10 December 1985
	cfAnna   = "BNCNNA92E45F205T" // Anna Bianchi, 5 May 1992
	cfNicolo = "DNGNCL75C12L219F" // Nicolò D'Angelo, 12 March 1975
	cfVerdi  = "VRDGPP50L20F205X" // Giuseppe Verdi, 20 July 1950
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func mario() accounts.CitizenInput {
	return accounts.CitizenInput{FiscalCode: cfMario, GivenName: "Mario", FamilyName: "Rossi", BirthDate: date(1980, 1, 1),
		Email: "mario.rossi@example.it", Phone: "+39 333 1234567", IDDocType: accounts.DocCIE, IDDocNumber: "CA12345AB",
		DocumentSeen: true}
}

func (e *env) register(in accounts.CitizenInput) *accounts.Account {
	e.t.Helper()
	a, err := e.svc.RegisterCitizen(e.ctx, "op1", in)
	if err != nil {
		e.t.Fatalf("register %s: %v", in.FiscalCode, err)
	}
	return a
}

func (e *env) issue(id int64) accounts.Credentials {
	e.t.Helper()
	c, err := e.svc.IssueCredentials(e.ctx, "op1", id)
	if err != nil {
		e.t.Fatalf("issue: %v", err)
	}
	return c
}

const goodPassword = "Cavallo Batteria Graffetta 7"

// activeCitizen registers, issues and activates Mario Rossi.
func (e *env) activeCitizen() *accounts.Account {
	e.t.Helper()
	a := e.register(mario())
	c := e.issue(a.ID)
	a, err := e.svc.Activate(e.ctx, c.Username, c.ActivationCode, goodPassword, "10.0.0.1")
	if err != nil {
		e.t.Fatalf("activate: %v", err)
	}
	return a
}

// code returns the TOTP code of secret at the env's current time.
func (e *env) code(secret string) string {
	e.t.Helper()
	c, err := totp.GenerateCode(secret, e.clk.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// events returns the audit entries with action.
func (e *env) events(action string) []audit.Event {
	e.t.Helper()
	ev, _, err := audit.List(e.ctx, e.db, audit.Filter{Action: action, Limit: 500})
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

func wantErr(t *testing.T, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("error = %v, want %v", got, want)
	}
}

// Module roles of a portal with a registry and a social-services module.
const (
	roleAnagrafe = "anagrafe_officer"
	roleSocial   = "social_officer"
)

// testRoles is the role list such a portal assembles.
var testRoles = func() roles.List {
	l, err := roles.Assemble(roles.Platform(), []roles.Def{
		{ID: roleAnagrafe, Title: "accounts.role.urp_operator", Description: "accounts.role_desc.urp_operator"},
		{ID: roleSocial, Title: "accounts.role.urp_operator", Description: "accounts.role_desc.urp_operator"},
	})
	if err != nil {
		panic(err)
	}
	return l
}()
