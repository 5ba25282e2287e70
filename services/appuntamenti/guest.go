package appuntamenti

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/codicefiscale"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// Booking without an account (the Designers Italia model for comuni): name, codice
// fiscale and email; the place is taken only when the citizen confirms from the link
// mailed to them, and the booking is managed (moved, cancelled) from the link the
// confirmation mail carries. Tokens are 32 random bytes; only their SHA-256 is
// stored. Requests are limited per email and per network address.

// guestBase is the public path of the booking without an account.
const guestBase = base + "/ospite"

// Token kinds.
const (
	tokenConfirm = "confirm"
	tokenManage  = "manage"
)

// Limits of the requests without an account.
const (
	// GuestConfirmTTL is how long a confirmation link stays valid.
	GuestConfirmTTL = 24 * time.Hour
	// GuestPerEmail requests per email address in GuestEmailWindow.
	GuestPerEmail    = 5
	GuestEmailWindow = 24 * time.Hour
	// GuestPerAddress requests per network address in GuestAddressWindow.
	GuestPerAddress    = 20
	GuestAddressWindow = time.Hour
)

// Errors of the booking without an account.
var (
	// ErrLinkUsed: the confirmation link was used already or has expired.
	ErrLinkUsed = errors.New("appuntamenti: the link was used already or has expired")
	// ErrRateLimited: too many requests from this address or for this email.
	ErrRateLimited = errors.New("appuntamenti: too many requests")
)

// GuestToken is a mailed link's stored half.
type GuestToken struct {
	EnteID    string `gorm:"primaryKey"`
	Hash      string `gorm:"primaryKey"`
	Kind      string
	BookingID string
	OfficeID  string
	Service   string
	StartsAt  time.Time
	CitizenCF string `gorm:"column:citizen_cf"`
	Name      string
	Email     string
	Lang      string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// TableName fixes the table name.
func (GuestToken) TableName() string { return "appt_guest_tokens" }

// guestLimit is a fixed-window counter.
type guestLimit struct {
	EnteID      string `gorm:"primaryKey"`
	LimitKey    string `gorm:"primaryKey"`
	WindowStart time.Time
	N           int
}

func (guestLimit) TableName() string { return "appt_guest_limits" }

func hashToken(raw string) string {
	h := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(h[:])
}

func newToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func guestManagePath(raw string) string { return guestBase + "/g/" + raw }

// mintManage stores a manage token for booking b through tx and returns the raw token.
func (m *Module) mintManage(tx *gorm.DB, b Booking) (string, error) {
	raw, err := newToken()
	if err != nil {
		return "", err
	}
	now := m.now().UTC()
	t := GuestToken{Hash: hashToken(raw), Kind: tokenManage, BookingID: b.ID, OfficeID: b.OfficeID, Service: b.Service,
		StartsAt: b.StartsAt, CitizenCF: b.CitizenCF, Name: b.Name, Email: b.Email, Lang: b.Lang, CreatedAt: now,
		ExpiresAt: b.EndsAt.Add(24 * time.Hour).UTC()}
	return raw, tx.Create(&t).Error
}

// takeLimit counts one request under key in tx, at most max per window: one
// conditional UPDATE (a new window restarts the count), so concurrent requests never
// pass the limit. False when the limit is reached.
func takeLimit(tx *gorm.DB, key string, max int, window time.Duration, now time.Time) (bool, error) {
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&guestLimit{LimitKey: key, WindowStart: now, N: 0}).Error; err != nil {
		return false, err
	}
	stale := now.Add(-window)
	res := tx.Model(&guestLimit{}).Where("limit_key = ? AND (window_start <= ? OR n < ?)", key, stale, max).
		Updates(map[string]any{
			"n":            gorm.Expr("CASE WHEN window_start <= ? THEN 1 ELSE n + 1 END", stale),
			"window_start": gorm.Expr("CASE WHEN window_start <= ? THEN ? ELSE window_start END", stale, now),
		})
	return res.RowsAffected == 1, res.Error
}

// GuestRequest is what a citizen without an account asks for.
type GuestRequest struct {
	OfficeID, Service string
	Start             time.Time
	CitizenCF, Name   string
	Email, Lang       string
	// Address is the network address the request came from (for the limit).
	Address string
}

// RequestGuest checks the slot and the limits, stores the request under a
// confirmation token and mails its link; nothing is booked yet. It returns the raw
// token (tests; the page never shows it).
func (m *Module) RequestGuest(ctx context.Context, r GuestRequest) (string, error) {
	if !m.settingsFor(ctx).guestAllowed(r.Service) {
		return "", store.ErrNotFound
	}
	now := m.now().UTC()
	s, err := m.schedule(ctx, r.OfficeID, r.Service)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", ErrNotBookable
		}
		return "", err
	}
	if err := m.checkSlot(ctx, s, r.Start.UTC(), now); err != nil {
		return "", err
	}
	raw, err := newToken()
	if err != nil {
		return "", err
	}
	exp := now.Add(GuestConfirmTTL)
	if st := r.Start.UTC().Add(-m.settingsFor(ctx).minLead()); st.Before(exp) {
		exp = st
	}
	t := GuestToken{Hash: hashToken(raw), Kind: tokenConfirm, OfficeID: r.OfficeID, Service: r.Service, StartsAt: r.Start.UTC(),
		CitizenCF: r.CitizenCF, Name: r.Name, Email: r.Email, Lang: mailLang(r.Lang), CreatedAt: now, ExpiresAt: exp}
	err = m.store(ctx).Transaction(func(tx *gorm.DB) error {
		for _, l := range []struct {
			key    string
			max    int
			window time.Duration
		}{{"email:" + strings.ToLower(r.Email), GuestPerEmail, GuestEmailWindow}, {"addr:" + r.Address, GuestPerAddress, GuestAddressWindow}} {
			ok, err := takeLimit(tx, l.key, l.max, l.window, now)
			if err != nil {
				return err
			}
			if !ok {
				return ErrRateLimited
			}
		}
		if err := tx.Create(&t).Error; err != nil {
			return err
		}
		lang := t.Lang
		tr := func(k string) string {
			return m.i18n.T(lang, k, "Service", m.i18n.T(lang, "appuntamenti.service."+t.Service), "When", when(t.StartsAt, lang),
				"Office", s.Office.Name, "Address", s.Office.Address, "Until", when(exp, lang),
				"Link", m.baseURL(ctx)+guestBase+"/c/"+raw)
		}
		_, err := m.mail.Enqueue(ctx, tx, notifyMessage(t.Email, t.Name, tr("appuntamenti.mail.guest_confirm.subject"),
			tr("appuntamenti.mail.guest_confirm.text"), ID+".guest_confirm", t.CitizenCF))
		return err
	})
	return raw, err
}

// token loads a live token of kind by its raw value.
func (m *Module) token(ctx context.Context, raw, kind string) (*GuestToken, error) {
	if raw == "" || len(raw) > 100 {
		return nil, store.ErrNotFound
	}
	var t GuestToken
	if err := m.store(ctx).Where("hash = ? AND kind = ?", hashToken(raw), kind).Take(&t).Error; err != nil {
		return nil, err
	}
	return &t, nil
}

// ConfirmGuest spends the confirmation token raw and books its slot, in one
// transaction: concurrent confirmations of one link make one booking. It returns the
// booking and the path of its manage link.
func (m *Module) ConfirmGuest(ctx context.Context, raw string) (*Booking, string, error) {
	t, err := m.token(ctx, raw, tokenConfirm)
	if err != nil {
		return nil, "", err
	}
	now := m.now().UTC()
	var manage string
	b, err := m.Book(ctx, Request{OfficeID: t.OfficeID, Service: t.Service, Start: t.StartsAt, CitizenCF: t.CitizenCF, Name: t.Name,
		Email: t.Email, Lang: t.Lang, Guest: true, By: "guest",
		Before: func(tx *gorm.DB, b *Booking) error {
			res := tx.Model(&GuestToken{}).Where("hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?", t.Hash, tokenConfirm, now).
				Updates(map[string]any{"used_at": now, "booking_id": b.ID})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return ErrLinkUsed
			}
			return nil
		},
		Notify: func(tx *gorm.DB, b *Booking) error {
			raw, err := m.mintManage(tx, *b)
			if err != nil {
				return err
			}
			manage = guestManagePath(raw)
			b.ManageLink = manage
			return m.bookedMail(ctx, t.Lang, false)(tx, b)
		}})
	if err != nil {
		return nil, "", err
	}
	return b, manage, nil
}

// guestForm is what the last step asks a citizen without an account.
type guestForm struct {
	Name, CF, Email string
}

func (m *Module) guestBookHandler(c echo.Context) error {
	ctx := c.Request().Context()
	ch := readChoice(c)
	ch.Manage = c.FormValue("gestione")
	if ch.Manage != "" {
		return m.guestMove(c, ch)
	}
	f := guestForm{Name: strings.TrimSpace(c.FormValue("nome")), CF: codicefiscale.Normalize(c.FormValue("codice_fiscale")),
		Email: strings.TrimSpace(c.FormValue("email"))}
	errs := web.FormErrors{}
	if n := utf8.RuneCountInString(f.Name); n < 2 || n > 200 {
		errs.Add("nome", "appuntamenti.error.name")
	}
	if err := codicefiscale.Validate(f.CF); err != nil {
		errs.Add("codice_fiscale", "appuntamenti.error.cf")
	}
	if a, err := mail.ParseAddress(f.Email); err != nil || a.Address != f.Email || len(f.Email) > 254 {
		errs.Add("email", "appuntamenti.error.email")
	}
	if !m.settingsFor(ctx).guestAllowed(ch.Service) {
		return web.ErrNotFound
	}
	if errs.Any() {
		return m.renderConfirmFor(c, ch, true, confirmForm{Email: f.Email, Name: f.Name, CF: f.CF}, errs, http.StatusUnprocessableEntity)
	}
	_, err := m.RequestGuest(ctx, GuestRequest{OfficeID: ch.Office, Service: ch.Service, Start: time.Unix(ch.Start, 0),
		CitizenCF: f.CF, Name: f.Name, Email: f.Email, Lang: web.Lang(c), Address: c.RealIP()})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return web.ErrNotFound
	case err != nil:
		return refusal(err)
	}
	return m.render.Render(c, http.StatusOK, ID+"/guest_sent.html", map[string]any{"Email": f.Email, "Hours": int(GuestConfirmTTL.Hours())})
}

// guestLink answers an unknown token: 404 and a security event, as for another
// citizen's booking (the token itself is not recorded).
func (m *Module) guestLink(c echo.Context, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return m.denied(c, "token")
	}
	return err
}

func (m *Module) guestConfirmPage(c echo.Context) error {
	t, err := m.token(c.Request().Context(), c.Param("token"), tokenConfirm)
	if err != nil {
		return m.guestLink(c, err)
	}
	o, err := m.officeOf(c.Request().Context(), t.OfficeID)
	if err != nil {
		return err
	}
	live := t.UsedAt == nil && t.ExpiresAt.After(m.now())
	status := http.StatusOK
	if !live {
		status = http.StatusConflict
	}
	return m.render.Render(c, status, ID+"/guest_confirm.html", map[string]any{"T": t, "Office": o,
		"Service": m.serviceView(c.Request().Context(), t.Service), "Live": live, "Token": c.Param("token")})
}

func (m *Module) guestConfirmHandler(c echo.Context) error {
	ctx := c.Request().Context()
	b, manage, err := m.ConfirmGuest(ctx, c.Param("token"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return m.guestLink(c, err)
	case errors.Is(err, ErrSlotFull):
		return web.NewError(http.StatusConflict, "appuntamenti.error.full_guest")
	case err != nil:
		return refusal(err)
	}
	_ = b
	web.AddFlash(c, "success", "appuntamenti.flash.booked")
	return web.Redirect(c, manage)
}

// managed loads the booking of a live manage token.
func (m *Module) managed(c echo.Context) (*GuestToken, *Booking, error) {
	ctx := c.Request().Context()
	t, err := m.token(ctx, c.Param("token"), tokenManage)
	if err == nil && !t.ExpiresAt.After(m.now()) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, nil, m.guestLink(c, err)
	}
	b, err := m.booking(ctx, t.BookingID, "")
	if err != nil {
		return nil, nil, err
	}
	return t, b, nil
}

func (m *Module) guestManagePage(c echo.Context) error {
	_, b, err := m.managed(c)
	if err != nil {
		return err
	}
	om, err := m.officeMap(c)
	if err != nil {
		return err
	}
	return m.render.Render(c, http.StatusOK, ID+"/guest_manage.html", map[string]any{
		"B": m.view(c, *b, om), "Fee": m.settingsFor(c.Request().Context()).Fee(web.Lang(c)), "Token": c.Param("token"),
		"CancelHours": m.settingsFor(c.Request().Context()).CancelHours})
}

func (m *Module) guestCancelHandler(c echo.Context) error {
	ctx := c.Request().Context()
	_, b, err := m.managed(c)
	if err != nil {
		return err
	}
	if _, err = m.Cancel(ctx, b.ID, b.CitizenCF, m.cancelledMail(ctx, web.Lang(c))); err != nil {
		return refusal(err)
	}
	web.AddFlash(c, "success", "appuntamenti.flash.cancelled")
	return web.Redirect(c, guestManagePath(c.Param("token")))
}

// guestConfirmBookingHandler confirms, from its link, a booking without an account
// when the comune asks for confirmations (confirm_hours).
func (m *Module) guestConfirmBookingHandler(c echo.Context) error {
	_, b, err := m.managed(c)
	if err != nil {
		return err
	}
	if _, err = m.Confirm(c.Request().Context(), b.ID, b.CitizenCF); err != nil {
		return refusal(err)
	}
	web.AddFlash(c, "success", "appuntamenti.flash.confirmed")
	return web.Redirect(c, guestManagePath(c.Param("token")))
}

// guestMove books the new time for the booking of the manage token ch.Manage and
// cancels the old one, in one transaction; the new booking gets its own link.
func (m *Module) guestMove(c echo.Context, ch choice) error {
	ctx := c.Request().Context()
	t, err := m.token(ctx, ch.Manage, tokenManage)
	if err == nil && !t.ExpiresAt.After(m.now()) {
		err = store.ErrNotFound
	}
	if err != nil {
		return m.guestLink(c, err)
	}
	old, err := m.booking(ctx, t.BookingID, "")
	if err != nil {
		return err
	}
	if old.Service != ch.Service {
		return web.NewError(http.StatusUnprocessableEntity, "appuntamenti.error.not_bookable")
	}
	var manage string
	_, err = m.Book(ctx, Request{OfficeID: ch.Office, Service: ch.Service, Start: time.Unix(ch.Start, 0), CitizenCF: old.CitizenCF,
		Name: old.Name, Email: old.Email, Lang: old.Lang, Guest: true, Replaces: old.ID, By: "guest",
		Notify: func(tx *gorm.DB, b *Booking) error {
			raw, err := m.mintManage(tx, *b)
			if err != nil {
				return err
			}
			manage = guestManagePath(raw)
			b.ManageLink = manage
			return m.bookedMail(ctx, old.Lang, true)(tx, b)
		}})
	switch {
	case errors.Is(err, ErrSlotFull):
		ch.Day = DayOf(time.Unix(ch.Start, 0)).String()
		return m.renderTimesFor(c, ch, true, http.StatusConflict, "appuntamenti.error.full")
	case err != nil:
		return refusal(err)
	}
	web.AddFlash(c, "success", "appuntamenti.flash.moved")
	return web.Redirect(c, manage)
}
