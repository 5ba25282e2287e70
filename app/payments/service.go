package payments

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
)

// Errors the service returns; the web layer maps them to status codes.
var (
	// ErrNotConfigured: the ente has not connected a pagoPA account.
	ErrNotConfigured = errors.New("payments: pagoPA is not configured for this ente")
	// ErrNotFound: no such position for this ente (or not this payer's).
	ErrNotFound = errors.New("payments: position not found")
	// ErrState: the position is not in a state that allows the change.
	ErrState = errors.New("payments: position is not in a state that allows this")
	// ErrInvalid: the request is malformed (amount, payer, reason).
	ErrInvalid = errors.New("payments: invalid payment request")
	// ErrReceipt: a receipt that does not match the position (amount, another receipt).
	ErrReceipt = errors.New("payments: receipt does not match the position")
)

// Settings are one ente's pagoPA settings.
type Settings struct {
	// Dev: the embedded development pagoPA (never in production).
	Dev bool
	// CompanyName is the creditor's name as pagoPA shows it ("Comune di Valdoria").
	CompanyName string
	// FiscalCode is the creditor's fiscal code (11 digits).
	FiscalCode string
	// Segregation is the segregation code assigned to this portal (00-99).
	Segregation int
	// IBAN receives the transfers.
	IBAN string
	// SubscriptionKey is the API key of the GPD and Checkout products.
	SubscriptionKey string
	// GPDURL is the base of the GPD API (.../gpd/debt-positions-service/v3);
	// CheckoutURL the base of the Checkout EC API (.../checkout/ec/v1).
	GPDURL, CheckoutURL string
}

// Actor is who makes a change, for the audit log.
type Actor struct {
	Kind, ID      string // audit.ActorCitizen, audit.ActorStaff, audit.ActorSystem
	IP, RequestID string
}

// System is the actor of scheduled work and of receipts from pagoPA.
var System = Actor{Kind: audit.ActorSystem, ID: "payments"}

// Hook is called when a position of its purpose is paid, inside the transaction that
// records the payment: it runs exactly once per position (a confirmation that arrives
// twice does not call it again) and, if it fails, the payment is not recorded either,
// so the next confirmation retries both. The hook must do all its database work
// through tx: holding the transaction's connection while waiting for another one can
// exhaust the pool when many confirmations arrive at once.
type Hook func(ctx context.Context, tx *gorm.DB, p *Position) error

// Options configure New.
type Options struct {
	// DB is the installation's handle; statements go through enti.For(ctx, DB).
	DB *gorm.DB
	// Settings returns the pagoPA settings of ctx's ente, false when it has none.
	Settings func(ctx context.Context) (Settings, bool)
	// HTTP is the client for pagoPA's APIs (nil: a client with a 20 s timeout).
	HTTP *http.Client
	Log  *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Service keeps debt positions and talks to pagoPA. Modules get it through
// services.Mount.Payments; it is safe for concurrent use.
type Service struct {
	db       *gorm.DB
	settings func(ctx context.Context) (Settings, bool)
	http     *http.Client
	log      *slog.Logger
	now      func() time.Time

	mu    sync.RWMutex
	hooks map[string]Hook
}

// New returns the service.
func New(o Options) *Service {
	s := &Service{db: o.DB, settings: o.Settings, http: o.HTTP, log: o.Log, now: o.Now, hooks: map[string]Hook{}}
	if s.http == nil {
		s.http = &http.Client{Timeout: 20 * time.Second}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.settings == nil {
		s.settings = func(context.Context) (Settings, bool) { return Settings{}, false }
	}
	return s
}

// OnPaid registers the hook of a purpose ("certificates/bollo"); modules call it in
// Mount. A second hook for one purpose replaces the first.
func (s *Service) OnPaid(purpose string, h Hook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks[purpose] = h
}

// Enabled reports whether ctx's ente has connected pagoPA (or uses the development
// stand-in): a module without it keeps its behaviour for comuni without payments.
func (s *Service) Enabled(ctx context.Context) bool {
	_, ok := s.settings(ctx)
	return ok
}

// Settings returns ctx's ente's settings (ErrNotConfigured without).
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	st, ok := s.settings(ctx)
	if !ok {
		return Settings{}, ErrNotConfigured
	}
	return st, nil
}

func (s *Service) store(ctx context.Context) *gorm.DB { return enti.For(ctx, s.db) }

// Request is what a module asks to be paid.
type Request struct {
	Purpose, Ref       string
	PayerCF, PayerName string
	AmountCents        int64
	Causale            string
	DueDate            time.Time
	// StampHash binds a marca da bollo digitale to a document (base64 SHA-256);
	// StampProvince is the payer's province of residence (two letters).
	StampHash, StampProvince string
	// Category is the transfer's taxonomy code in pagoPA's "tassonomia dei servizi
	// di incasso"; empty means DefaultCategory.
	Category string
	// Payload is kept with the position for the purpose's hook (JSON).
	Payload string
}

// DefaultCategory is the taxonomy code used when a request names none. It is kept
// from the first version of this package, without a source: a comune should set the
// codes of its own services (per module, such as the certificates' bollo_category)
// from pagoPA's published taxonomy.
const DefaultCategory = "9/0301109AP/"

// categoryRE is the shape of a code of pagoPA's "tassonomia dei servizi di incasso"
// as transferCategory carries it: "9/" + creditor type (2 digits) + macro area (2) +
// service type (3) + legal reason (IM, TS, SP, SA or AP) + "/". Source: pagoPA's
// developer documentation, repository pagopa/devportal-docs, page
// creditor/collection-service-taxonomy.md ("9/0101002IM/" is its example); the
// complete list is published at https://api.platform.pagopa.it/taxonomy/service/v1/taxonomy
// (and ?extension=csv), whose creditor type 01 is "COMUNE/UNIONE DI COMUNI /
// CONSORZI" (sample in pagopa/pagopa-taxonomy, integration-test/taxonomy.csv).
var categoryRE = regexp.MustCompile(`^9/[0-9]{7}(IM|TS|SP|SA|AP)/$`)

// ValidCategory reports whether s has the shape of a pagoPA taxonomy code.
func ValidCategory(s string) bool { return categoryRE.MatchString(s) }

func (r Request) validate() error {
	var bad []string
	if r.Purpose == "" || r.Ref == "" || len(r.Purpose) > 60 || len(r.Ref) > 100 {
		bad = append(bad, "purpose/ref")
	}
	if len(r.PayerCF) != 16 && len(r.PayerCF) != 11 {
		bad = append(bad, "payer fiscal code")
	}
	if strings.TrimSpace(r.PayerName) == "" || utf8.RuneCountInString(r.PayerName) > 140 {
		bad = append(bad, "payer name")
	}
	// pagoPA's amounts are int64 cents of at most 10 digits (QR code field).
	if r.AmountCents <= 0 || r.AmountCents > 99_999_999_99 {
		bad = append(bad, "amount")
	}
	if strings.TrimSpace(r.Causale) == "" || utf8.RuneCountInString(r.Causale) > 140 {
		bad = append(bad, "causale")
	}
	if r.StampHash != "" && (len(r.StampHash) > 72 || len(r.StampProvince) != 2) {
		bad = append(bad, "stamp")
	}
	if r.Category != "" && !ValidCategory(r.Category) {
		bad = append(bad, "category")
	}
	if r.DueDate.IsZero() {
		bad = append(bad, "due date")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(bad, ", "))
	}
	return nil
}

// Request returns the live position (open or paid) for r.Purpose and r.Ref, or creates
// one and publishes it on pagoPA. Two simultaneous requests for one thing make one
// position. A position that could not be published stays created; Publish retries.
func (s *Service) Request(ctx context.Context, r Request, by Actor) (*Position, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	st, err := s.Settings(ctx)
	if err != nil {
		return nil, err
	}
	if p, err := s.live(ctx, r.Purpose, r.Ref); err == nil {
		if p.State == Created {
			return s.Publish(ctx, p.ID, by)
		}
		return p, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	p, err := s.create(ctx, st, r, by)
	if err != nil {
		// The live index refused a twin created meanwhile: use it.
		if q, lerr := s.live(ctx, r.Purpose, r.Ref); lerr == nil {
			return q, nil
		}
		return nil, err
	}
	return s.Publish(ctx, p.ID, by)
}

func (s *Service) live(ctx context.Context, purpose, ref string) (*Position, error) {
	var p Position
	err := s.store(ctx).Where("purpose = ? AND ref = ? AND state IN ?", purpose, ref,
		[]State{Created, Published, Paid}).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &p, err
}

func newIUPD(fiscalCode string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fiscalCode + "-" + hex.EncodeToString(b[:])
}

// create writes the position with the next IUV of the ente and segregation code, and
// its audit row, in one transaction. The counter row stays locked until commit, so
// two creations never share an IUV (PostgreSQL row lock, SQLite's single writer).
func (s *Service) create(ctx context.Context, st Settings, r Request, by Actor) (*Position, error) {
	p := s.newPosition(st, r)
	err := s.store(ctx).Transaction(func(tx *gorm.DB) error { return s.createTx(ctx, tx, st, p, by) })
	if err != nil {
		return nil, err
	}
	return p, nil
}

// RequestTx writes the position r asks for in the module's own transaction tx (a
// case's transition hook), so that the thing to pay and its position are committed
// together; the live position of r.Purpose and r.Ref is returned if there is one. It
// talks to no one: the position stays created until Publish (the payments job within
// minutes, or the payer pressing "Paga online" or downloading the notice) makes it
// payable on pagoPA, since no call to pagoPA may wait inside tx.
func (s *Service) RequestTx(ctx context.Context, tx *gorm.DB, r Request, by Actor) (*Position, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	st, err := s.Settings(ctx)
	if err != nil {
		return nil, err
	}
	tx = enti.For(ctx, tx)
	var live Position
	err = tx.Where("purpose = ? AND ref = ? AND state IN ?", r.Purpose, r.Ref, []State{Created, Published, Paid}).Take(&live).Error
	if err == nil {
		return &live, nil
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, err
	}
	p := s.newPosition(st, r)
	if err := s.createTx(ctx, tx, st, p, by); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Service) newPosition(st Settings, r Request) *Position {
	p := &Position{
		ID: newIUPD(st.FiscalCode), Purpose: r.Purpose, Ref: r.Ref, PayerCF: strings.ToUpper(r.PayerCF),
		PayerName: strings.TrimSpace(r.PayerName), AmountCents: r.AmountCents, Causale: strings.TrimSpace(r.Causale),
		DueDate: r.DueDate.UTC(), IBAN: st.IBAN, CreditorCF: st.FiscalCode, State: Created, StampHash: r.StampHash,
		StampProvince: strings.ToUpper(r.StampProvince), Category: r.Category, Payload: r.Payload,
	}
	if p.Category == "" {
		p.Category = DefaultCategory
	}
	return p
}

// createTx numbers p with the next IUV and writes it with its audit row in tx.
func (s *Service) createTx(ctx context.Context, tx *gorm.DB, st Settings, p *Position, by Actor) error {
	ente := enti.FromContext(ctx)
	if ente == nil {
		return enti.ErrNoEnte
	}
	if err := tx.Exec(`INSERT INTO payment_iuv_counters (ente_id, segregation, last) VALUES (?, ?, 0)
			ON CONFLICT (ente_id, segregation) DO NOTHING`, ente.ID, st.Segregation).Error; err != nil {
		return fmt.Errorf("payments: IUV counter: %w", err)
	}
	var n []int64
	if err := tx.Raw(`UPDATE payment_iuv_counters SET last = last + 1
			WHERE ente_id = ? AND segregation = ? RETURNING last`, ente.ID, st.Segregation).Scan(&n).Error; err != nil {
		return fmt.Errorf("payments: IUV counter: %w", err)
	}
	if len(n) != 1 {
		return fmt.Errorf("payments: IUV counter not advanced")
	}
	var err error
	if p.NoticeNumber, p.IUV, err = NoticeNumber(st.Segregation, n[0]); err != nil {
		return err
	}
	if err := tx.Create(p).Error; err != nil {
		return fmt.Errorf("payments: create position: %w", err)
	}
	return s.audit(ctx, tx, by, "payments.create", p, map[string]any{"amount_cents": p.AmountCents, "purpose": p.Purpose})
}

func (s *Service) audit(ctx context.Context, tx *gorm.DB, by Actor, action string, p *Position, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	details["notice_number"] = p.NoticeNumber
	return audit.Record(ctx, tx, audit.Entry{ActorKind: by.Kind, ActorID: by.ID, Action: action, SubjectCF: p.PayerCF,
		ObjectType: "payment_position", ObjectID: p.ID, IP: by.IP, RequestID: by.RequestID, Details: details})
}

// transition moves position id from one of the states from to state to, with the
// extra column values, and records the audit row, in one transaction; the UPDATE is
// conditional on the current state, so of two simultaneous changes one wins and the
// other gets ErrState. then, if not nil, runs in the same transaction after the change.
func (s *Service) transition(ctx context.Context, id string, from []State, to State, set map[string]any,
	by Actor, action string, details map[string]any, then func(tx *gorm.DB, p *Position) error) (*Position, error) {
	var out *Position
	err := s.store(ctx).Transaction(func(tx *gorm.DB) error {
		set["state"] = to
		set["updated_at"] = s.now().UTC()
		res := tx.Model(&Position{}).Where("id = ? AND state IN ?", id, from).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrState
		}
		var p Position
		if err := tx.Where("id = ?", id).Take(&p).Error; err != nil {
			return err
		}
		if err := s.audit(ctx, tx, by, action, &p, details); err != nil {
			return err
		}
		if then != nil {
			if err := then(tx, &p); err != nil {
				return err
			}
		}
		out = &p
		return nil
	})
	if errors.Is(err, ErrState) {
		if _, gerr := s.Get(ctx, id); errors.Is(gerr, ErrNotFound) {
			return nil, ErrNotFound
		}
	}
	return out, err
}

// Get returns the ente's position id.
func (s *Service) Get(ctx context.Context, id string) (*Position, error) {
	var p Position
	err := s.store(ctx).Where("id = ?", id).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &p, err
}

// ForPayer returns position id if it belongs to the payer cf, ErrNotFound otherwise
// (another citizen's position looks missing).
func (s *Service) ForPayer(ctx context.Context, cf, id string) (*Position, error) {
	var p Position
	err := s.store(ctx).Where("id = ? AND payer_cf = ?", id, strings.ToUpper(cf)).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &p, err
}

// ByRef returns the newest position of a module's thing to pay.
func (s *Service) ByRef(ctx context.Context, purpose, ref string) (*Position, error) {
	var p Position
	err := s.store(ctx).Where("purpose = ? AND ref = ?", purpose, ref).Order("created_at DESC").Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &p, err
}

// Filter selects positions for the staff list. Zero fields match everything.
type Filter struct {
	State   State
	PayerCF string
	Purpose string
	// PaidFrom and PaidTo bound the payment time (reconciliation of a day).
	PaidFrom, PaidTo time.Time
	Limit, Offset    int
	// Enti spans several enti (a union's back office, enti.Span); empty: ctx's ente.
	Enti []string
}

// List returns the ente's positions matching f (or those of f.Enti, through the
// store's handle confined to them), newest first, and their total.
func (s *Service) List(ctx context.Context, f Filter) ([]Position, int64, error) {
	q := s.store(ctx).Model(&Position{})
	if len(f.Enti) > 0 {
		q = enti.ScopedSet(s.db.WithContext(ctx), f.Enti).Model(&Position{})
	}
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	if f.PayerCF != "" {
		q = q.Where("payer_cf = ?", strings.ToUpper(f.PayerCF))
	}
	if f.Purpose != "" {
		q = q.Where("purpose = ?", f.Purpose)
	}
	if !f.PaidFrom.IsZero() {
		q = q.Where("paid_at >= ?", f.PaidFrom.UTC())
	}
	if !f.PaidTo.IsZero() {
		q = q.Where("paid_at < ?", f.PaidTo.UTC())
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 50
	}
	var out []Position
	// Newest first; the ente and the id break ties (a union's list spans enti, whose
	// ids may coincide), so that pages neither repeat nor skip a position.
	err := q.Order("created_at DESC, ente_id, id").Limit(f.Limit).Offset(f.Offset).Find(&out).Error
	return out, total, err
}

// Publish makes a created position payable on pagoPA (GPD createPosition with
// toPublish) and marks it published. A published position is returned as it is.
func (s *Service) Publish(ctx context.Context, id string, by Actor) (*Position, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.State != Created {
		return p, nil
	}
	st, err := s.Settings(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.client(st).CreatePosition(ctx, st, p); err != nil && !errors.Is(err, ErrGPDConflict) {
		s.log.Warn("payments: publish failed; the position stays created", "id", p.ID, "err", err)
		return p, fmt.Errorf("payments: publish %s: %w", p.ID, err)
	}
	q, err := s.transition(ctx, id, []State{Created}, Published, map[string]any{}, by, "payments.publish", nil, nil)
	if errors.Is(err, ErrState) {
		return s.Get(ctx, id)
	}
	return q, err
}

// Receipt is pagoPA's confirmation of a payment.
type Receipt struct {
	// ID is the receipt's identifier at pagoPA (idReceipt).
	ID          string
	AmountCents int64
	PaidAt      time.Time
	PSP         string
	// Raw is the receipt as received, kept with the position.
	Raw string
}

// Confirm records the payment of position id from its receipt, calls the purpose's
// hook and writes the audit row, all in one transaction. A confirmation that arrives
// again (the same receipt) changes nothing and returns first=false; a receipt whose
// amount differs, or a second receipt with another identifier, is ErrReceipt.
// An expired position may still be confirmed: the money reached the comune.
func (s *Service) Confirm(ctx context.Context, id string, rc Receipt) (first bool, err error) {
	if rc.ID == "" {
		return false, fmt.Errorf("%w: no receipt identifier", ErrReceipt)
	}
	cur, err := s.Get(ctx, id)
	if err != nil {
		return false, err
	}
	if rc.AmountCents != cur.AmountCents {
		return false, fmt.Errorf("%w: amount %d, position %d", ErrReceipt, rc.AmountCents, cur.AmountCents)
	}
	paidAt := rc.PaidAt.UTC()
	if rc.PaidAt.IsZero() {
		paidAt = s.now().UTC()
	}
	s.mu.RLock()
	hook := s.hooks[cur.Purpose]
	s.mu.RUnlock()
	_, err = s.transition(ctx, id, []State{Created, Published, Expired}, Paid,
		map[string]any{"receipt_id": rc.ID, "paid_at": paidAt, "psp": rc.PSP, "receipt_json": rc.Raw},
		System, "payments.paid", map[string]any{"receipt_id": rc.ID, "amount_cents": rc.AmountCents},
		func(tx *gorm.DB, p *Position) error {
			if hook == nil {
				return nil
			}
			if err := hook(ctx, tx, p); err != nil {
				return fmt.Errorf("payments: paid hook of %s: %w", p.Purpose, err)
			}
			return nil
		})
	if errors.Is(err, ErrState) {
		now, gerr := s.Get(ctx, id)
		if gerr != nil {
			return false, gerr
		}
		if now.State == Paid && now.ReceiptID == rc.ID {
			return false, nil // the same confirmation again: counted once
		}
		if now.State == Paid {
			return false, fmt.Errorf("%w: already paid with receipt %s", ErrReceipt, now.ReceiptID)
		}
		return false, fmt.Errorf("%w (%s)", ErrState, now.State)
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// MoveRef passes the positions of purpose owed for ref from to ref to, in the module's
// transaction tx, with an audit row each: the thing paid for was replaced by another
// standing for it (a booking moved to a new time keeps its fee, paid or not, so the
// citizen never pays twice). Cancelled positions stay with the old ref. Nothing is
// asked of pagoPA: the ref is the portal's own.
func (s *Service) MoveRef(ctx context.Context, tx *gorm.DB, purpose, from, to string, by Actor) error {
	var list []Position
	if err := tx.Where("purpose = ? AND ref = ? AND state <> ?", purpose, from, Cancelled).Find(&list).Error; err != nil {
		return fmt.Errorf("payments: positions of %s: %w", from, err)
	}
	for i := range list {
		p := &list[i]
		if err := tx.Model(&Position{}).Where("id = ? AND ref = ?", p.ID, from).
			Updates(map[string]any{"ref": to, "updated_at": s.now().UTC()}).Error; err != nil {
			return fmt.Errorf("payments: move %s: %w", p.ID, err)
		}
		if err := s.audit(ctx, tx, by, "payments.move_ref", p, map[string]any{"purpose": purpose, "from": from, "to": to}); err != nil {
			return err
		}
	}
	return nil
}

// Cancel withdraws an unpaid position with a reason (staff), on pagoPA first.
func (s *Service) Cancel(ctx context.Context, id, reason string, by Actor) (*Position, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > 300 {
		return nil, fmt.Errorf("%w: reason", ErrInvalid)
	}
	p, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.State.Open() && p.State != Expired {
		return nil, ErrState
	}
	if p.State == Published || p.State == Expired {
		st, err := s.Settings(ctx)
		if err != nil {
			return nil, err
		}
		// A position paid meanwhile on pagoPA must not be cancelled here. One pagoPA no
		// longer has (deleted by a simultaneous Cancel, or on pagoPA's back office)
		// cannot be paid any more: it is cancelled here too.
		if rc, paid, err := s.client(st).Status(ctx, st, p); errors.Is(err, ErrGPDNotFound) {
			return s.transition(ctx, id, []State{Created, Published, Expired}, Cancelled,
				map[string]any{"cancel_reason": reason}, by, "payments.cancel", map[string]any{"reason": reason}, nil)
		} else if err != nil {
			return nil, err
		} else if paid {
			if _, err := s.Confirm(ctx, id, rc); err != nil {
				return nil, err
			}
			return nil, ErrState
		}
		if err := s.client(st).DeletePosition(ctx, st, p); err != nil && !errors.Is(err, ErrGPDNotFound) {
			return nil, err
		}
	}
	return s.transition(ctx, id, []State{Created, Published, Expired}, Cancelled,
		map[string]any{"cancel_reason": reason}, by, "payments.cancel", map[string]any{"reason": reason}, nil)
}

// Refresh asks pagoPA about a published or expired position and records its payment
// if a receipt exists (the return from Checkout, the periodic check). It returns the
// position as it is afterwards.
func (s *Service) Refresh(ctx context.Context, id string) (*Position, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.State != Published && p.State != Expired {
		return p, nil
	}
	st, err := s.Settings(ctx)
	if err != nil {
		return nil, err
	}
	rc, paid, err := s.client(st).Status(ctx, st, p)
	if err != nil {
		return nil, err
	}
	if paid {
		if _, err := s.Confirm(ctx, id, rc); err != nil {
			return nil, err
		}
	}
	return s.Get(ctx, id)
}

// Sync refreshes every published position of ctx's ente (the scheduled job) and marks
// expired those past their due date and still unpaid. It returns how many were paid
// and expired.
func (s *Service) Sync(ctx context.Context) (paid, expired int, err error) {
	if !s.Enabled(ctx) {
		return 0, 0, nil
	}
	var ps []Position
	if err := s.store(ctx).Where("state = ?", Published).Order("created_at").Limit(500).Find(&ps).Error; err != nil {
		return 0, 0, err
	}
	var errs []error
	// Positions written in a module's transaction (RequestTx) or whose publication
	// failed are published now.
	var created []Position
	if err := s.store(ctx).Where("state = ?", Created).Order("created_at").Limit(500).Find(&created).Error; err != nil {
		return 0, 0, err
	}
	for _, p := range created {
		q, err := s.Publish(ctx, p.ID, System)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ps = append(ps, *q)
	}
	now := s.now().UTC()
	for _, p := range ps {
		q, err := s.Refresh(ctx, p.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if q.State == Paid {
			paid++
			continue
		}
		if q.State == Published && now.After(q.DueDate) {
			if _, err := s.transition(ctx, q.ID, []State{Published}, Expired, map[string]any{}, System,
				"payments.expire", nil, nil); err != nil && !errors.Is(err, ErrState) {
				errs = append(errs, err)
				continue
			}
			expired++
		}
	}
	return paid, expired, errors.Join(errs...)
}

// CheckoutURL opens a Checkout cart for position p and returns the address to send
// the payer to; okURL, cancelURL and errorURL are where Checkout sends them back.
func (s *Service) CheckoutURL(ctx context.Context, p *Position, email, okURL, cancelURL, errorURL string) (string, error) {
	if p.State != Published {
		return "", ErrState
	}
	st, err := s.Settings(ctx)
	if err != nil {
		return "", err
	}
	return s.client(st).Cart(ctx, st, p, email, okURL, cancelURL, errorURL)
}

func (s *Service) client(st Settings) *Client { return &Client{HTTP: s.http} }

// receiptJSON keeps the receipt fields as received.
func receiptJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Store returns the handle scoped to ctx's ente (for modules' reports and tests).
func (s *Service) Store(ctx context.Context) *gorm.DB { return s.store(ctx) }
