package payments_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/payments/openapi"
	"github.com/comuni-italiani/sportello/app/store"
)

func migrations() []*store.Migration {
	return append(audit.Migrations(), payments.Migrations()...)
}

// contract is an http.RoundTripper that validates every request the client sends and
// every answer it gets against the published OpenAPI subsets (app/payments/openapi).
type contract struct {
	t       testing.TB
	routers []routers.Router
	base    http.RoundTripper

	mu      sync.Mutex
	checked map[string]int // operationId -> validated exchanges
}

func loadDoc(t testing.TB, raw []byte, server string) *openapi3.T {
	t.Helper()
	// The published document writes patterns in Java's regex dialect: its \h
	// (horizontal whitespace) has no RE2 equivalent, so it is spelt out here.
	raw = bytes.ReplaceAll(raw, []byte(`\\h`), []byte(`\\t \\x{A0}`))
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI subset is not valid: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: server}}
	return doc
}

func newContract(t testing.TB, st payments.Settings) *contract {
	c := &contract{t: t, base: http.DefaultTransport, checked: map[string]int{}}
	for _, d := range []*openapi3.T{loadDoc(t, openapi.GPD, st.GPDURL), loadDoc(t, openapi.Checkout, st.CheckoutURL)} {
		r, err := gorillamux.NewRouter(d)
		if err != nil {
			t.Fatal(err)
		}
		c.routers = append(c.routers, r)
	}
	return c
}

var apiKey = openapi3filter.Options{AuthenticationFunc: func(_ context.Context, ai *openapi3filter.AuthenticationInput) error {
	if ai.RequestValidationInput.Request.Header.Get(ai.SecurityScheme.Name) == "" {
		return fmt.Errorf("missing %s", ai.SecurityScheme.Name)
	}
	return nil
}}

func (c *contract) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
	}
	reset := func() { req.Body = io.NopCloser(bytes.NewReader(body)) }
	var (
		route  *routers.Route
		params map[string]string
	)
	for _, r := range c.routers {
		reset()
		if rt, p, err := r.FindRoute(req); err == nil {
			route, params = rt, p
			break
		}
	}
	if route == nil {
		c.t.Errorf("contract: %s %s is not an operation of the published API", req.Method, req.URL)
		reset()
		return c.base.RoundTrip(req)
	}
	reset()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: &apiKey}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		c.t.Errorf("contract: request %s: %v", route.Operation.OperationID, err)
	}
	reset()
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(rb)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		c.t.Errorf("contract: answer %d to %s: %v", resp.StatusCode, route.Operation.OperationID, err)
	}
	c.mu.Lock()
	c.checked[route.Operation.OperationID]++
	c.mu.Unlock()
	return resp, nil
}

func (c *contract) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checked[op]
}

// env is a payments service over a fresh database and a development pagoPA served
// over real HTTP, the client's traffic checked by the contract.
type env struct {
	db       *gorm.DB
	svc      *payments.Service
	dev      *payments.Dev
	srv      *httptest.Server
	contract *contract
	settings map[string]payments.Settings // by ente id
	clock    *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newEnv(t *testing.T, db *gorm.DB) *env {
	t.Helper()
	if err := enti.NewGuard(payments.Tables()...).Install(db); err != nil {
		t.Fatal(err)
	}
	dev := payments.NewDev(db)
	srv := httptest.NewServer(dev)
	t.Cleanup(srv.Close)
	e := &env{db: db, dev: dev, srv: srv, clock: &clock{t: time.Now().UTC()}, settings: map[string]payments.Settings{
		"alfa": payments.DevSettings(srv.URL, "Comune di Alfa", "00000000001", "IT60X0542811101000000123456", 1),
		"beta": payments.DevSettings(srv.URL, "Comune di Beta", "00000000002", "IT60X0542811101000000123456", 1),
	}}
	e.contract = newContract(t, e.settings["alfa"])
	e.svc = payments.New(payments.Options{DB: db, HTTP: &http.Client{Transport: e.contract, Timeout: 10 * time.Second},
		Now: e.clock.Now,
		Settings: func(ctx context.Context) (payments.Settings, bool) {
			en := enti.FromContext(ctx)
			if en == nil {
				return payments.Settings{}, false
			}
			s, ok := e.settings[en.ID]
			return s, ok
		}})
	return e
}

func enteCtx(id string) context.Context {
	return enti.WithEnte(context.Background(), &enti.Ente{ID: id, Name: "Comune di " + id})
}

var citizen = payments.Actor{Kind: audit.ActorCitizen, ID: "RSSMRA80A01H501U"}

func bollo(ref string) payments.Request {
	return payments.Request{Purpose: "test/bollo", Ref: ref, PayerCF: "RSSMRA80A01H501U", PayerName: "Mario Rossi",
		AmountCents: 1600, Causale: "Imposta di bollo - certificato " + ref, DueDate: time.Now().Add(30 * 24 * time.Hour)}
}

func auditCount(t *testing.T, db *gorm.DB, action, objectID string) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&audit.Event{}).Where("action = ? AND object_id = ?", action, objectID).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
