package feedback

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/config"
)

// "Segnala disservizio" (Designers Italia model for comuni): anyone, logged in or not,
// reports a service that did not work as it should. The report belongs to the ente of
// the portal it was sent on (ente first in every key), gets a reference number shown
// to the sender, and is mailed to the comune's URP through the notify outbox in the
// same transaction. The URP works the reports in the back office (new, in progress,
// closed). One address sends at most DisserviceLimit reports an hour per ente: the
// counter is one upsert, so simultaneous requests cannot overshoot it.

// Paths.
const (
	DisservicePath      = "/segnala-disservizio"
	DisserviceStaffPath = "/backoffice/disservizi"
)

// DisserviceLimit is how many reports one address may send per hour.
const DisserviceLimit = 5

// Report statuses.
const (
	StatusNew      = "nuova"
	StatusProgress = "in_lavorazione"
	StatusClosed   = "chiusa"
)

// DisserviceStatuses in workflow order.
var DisserviceStatuses = []string{StatusNew, StatusProgress, StatusClosed}

// DisserviceCategories are the kinds of problem the form offers, each with the message
// key "disservice.category.<id>".
var DisserviceCategories = []string{"servizio_online", "sportello", "tempi", "informazioni", "accessibilita", "personale", "altro"}

// Input limits, in characters.
const (
	MinDescription = 10
	MaxDescription = 4000
	MaxPlace       = 200
	MaxName        = 100
	MaxEmail       = 254
)

// DisserviceTables are the ente-owned tables of this file (for the store's guard).
var DisserviceTables = []string{"disservice_reports", "disservice_limits"}

// Report is one "segnalazione di disservizio".
type Report struct {
	EnteID string `gorm:"column:ente_id;primaryKey"`
	ID     int64  `gorm:"primaryKey;autoIncrement:false"`
	// Reference is what the sender is told ("DS-2026-7KQ4M9"), unique in the ente.
	Reference   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Category    string
	Description string
	Place       string
	Name        string
	Email       string
	// CitizenCF is the sender's tax code when logged in as a citizen.
	CitizenCF string `gorm:"column:citizen_cf"`
	Status    string
	// StatusBy is the staff member who last changed the status.
	StatusBy string
	// StatusNote is the note written with the last change of status (what was done,
	// what the citizen was told).
	StatusNote string
}

// TableName fixes the table name.
func (Report) TableName() string { return "disservice_reports" }

type limitRow struct {
	EnteID  string `gorm:"column:ente_id;primaryKey"`
	AddrKey string `gorm:"primaryKey"`
	Hour    int64  `gorm:"primaryKey;autoIncrement:false"`
	Hits    int
}

func (limitRow) TableName() string { return "disservice_limits" }

func disserviceMigration() *store.Migration {
	type report struct {
		EnteID      string    `gorm:"column:ente_id;primaryKey;size:40"`
		ID          int64     `gorm:"primaryKey;autoIncrement:false"`
		Reference   string    `gorm:"size:20;not null"`
		CreatedAt   time.Time `gorm:"not null"`
		UpdatedAt   time.Time `gorm:"not null"`
		Category    string    `gorm:"size:40;not null"`
		Description string    `gorm:"type:text;not null"`
		Place       string    `gorm:"size:200;not null;default:''"`
		Name        string    `gorm:"size:100;not null;default:''"`
		Email       string    `gorm:"size:254;not null;default:''"`
		CitizenCF   string    `gorm:"column:citizen_cf;size:16;not null;default:''"`
		Status      string    `gorm:"size:20;not null"`
		StatusBy    string    `gorm:"size:100;not null;default:''"`
	}
	type limit struct {
		EnteID  string `gorm:"column:ente_id;primaryKey;size:40"`
		AddrKey string `gorm:"primaryKey;size:64"`
		Hour    int64  `gorm:"primaryKey;autoIncrement:false"`
		Hits    int    `gorm:"not null"`
	}
	return &store.Migration{
		ID: "feedback/0004_disservice",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Table("disservice_reports").AutoMigrate(&report{}); err != nil {
				return err
			}
			// The reference is unique per ente: (ente_id, reference).
			if err := tx.Exec("CREATE UNIQUE INDEX IF NOT EXISTS disservice_reports_ente_ref ON disservice_reports (ente_id, reference)").Error; err != nil {
				return err
			}
			return tx.Table("disservice_limits").AutoMigrate(&limit{})
		},
	}
}

// MaxStatusNote is the longest note a change of status takes, in characters.
const MaxStatusNote = 1000

// disserviceNoteMigration adds the note written with a change of status.
func disserviceNoteMigration() *store.Migration {
	type report struct {
		StatusNote string `gorm:"type:text;not null;default:''"`
	}
	return &store.Migration{
		ID: "feedback/0005_disservice_note",
		Migrate: func(tx *gorm.DB) error {
			m := tx.Table("disservice_reports").Migrator()
			if m.HasColumn(&report{}, "StatusNote") {
				return nil
			}
			return m.AddColumn(&report{}, "StatusNote")
		},
	}
}

// ReportInput is the form as typed.
type ReportInput struct {
	Category, Description, Place, Name, Email string
}

// Validate trims in and returns the problems by field (message keys).
func (in *ReportInput) Validate() web.FormErrors {
	errs := web.FormErrors{}
	in.Category = strings.TrimSpace(in.Category)
	in.Description = strings.TrimSpace(in.Description)
	in.Place = strings.Join(strings.Fields(in.Place), " ")
	in.Name = strings.Join(strings.Fields(in.Name), " ")
	in.Email = strings.TrimSpace(in.Email)
	if !slices.Contains(DisserviceCategories, in.Category) {
		errs.Add("categoria", "disservice.err.category")
	}
	switch n := utf8.RuneCountInString(in.Description); {
	case n == 0:
		errs.Add("descrizione", "disservice.err.description_required")
	case n < MinDescription:
		errs.Add("descrizione", "disservice.err.description_short")
	case n > MaxDescription:
		errs.Add("descrizione", "disservice.err.description_long")
	}
	if utf8.RuneCountInString(in.Place) > MaxPlace {
		errs.Add("luogo", "disservice.err.too_long")
	}
	if utf8.RuneCountInString(in.Name) > MaxName {
		errs.Add("nome", "disservice.err.too_long")
	}
	if in.Email != "" {
		a, err := mail.ParseAddress(in.Email)
		if err != nil || a.Address != in.Email || len(in.Email) > MaxEmail || !strings.Contains(in.Email[strings.LastIndexByte(in.Email, '@')+1:], ".") {
			errs.Add("email", "disservice.err.email")
		}
	}
	for _, s := range []string{in.Description, in.Place, in.Name, in.Email} {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			errs.Add("descrizione", "disservice.err.description_required")
		}
	}
	return errs
}

// ErrRateLimited is returned when the address sent DisserviceLimit reports this hour.
var ErrRateLimited = errors.New("feedback: too many reports from this address")

// addrKey is the rate limit's key for a client address: a hash, so the table keeps no
// address.
func addrKey(ente, addr string) string {
	h := sha256.Sum256([]byte("disservizio\x00" + ente + "\x00" + addr))
	return hex.EncodeToString(h[:16])
}

// take counts one report from addr in the current hour and reports whether it is
// within the limit. One statement (insert or increment, returning the count), so
// concurrent requests each see their own count.
func take(ctx context.Context, db *gorm.DB, ente, addr string, now time.Time) (bool, error) {
	row := limitRow{AddrKey: addrKey(ente, addr), Hour: now.Unix() / 3600, Hits: 1}
	err := enti.For(ctx, db).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "ente_id"}, {Name: "addr_key"}, {Name: "hour"}},
		DoUpdates: clause.Assignments(map[string]any{"hits": gorm.Expr("disservice_limits.hits + 1")}),
	}, clause.Returning{Columns: []clause.Column{{Name: "hits"}}}).Create(&row).Error
	if err != nil {
		return false, err
	}
	// Old windows go: an address's rows older than a day.
	if row.Hits == 1 {
		if err := enti.For(ctx, db).Where("hour < ?", row.Hour-24).Delete(&limitRow{}).Error; err != nil {
			return false, err
		}
	}
	return row.Hits <= DisserviceLimit, nil
}

const refAlphabet = "ACDEFGHJKLMNPQRTUVWXY3479"

func newReference(now time.Time) string {
	b := make([]byte, 6)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(refAlphabet))))
		b[i] = refAlphabet[n.Int64()]
	}
	return fmt.Sprintf("DS-%d-%s", now.In(web.Rome).Year(), b)
}

func randomID() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	var n int64
	for _, x := range b {
		n = n<<8 | int64(x)
	}
	if n < 0 {
		n = -n
	}
	if n == 0 {
		n = 1
	}
	return n
}

// DisserviceDeps is what the form and the staff list need.
type DisserviceDeps struct {
	DB     *gorm.DB
	Render *web.Renderer
	Outbox *notify.Outbox
	// Comune is the installation's comune, for a request without an ente.
	Comune config.Comune
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

type disservice struct{ DisserviceDeps }

// Submit stores a valid report from addr (after the rate limit) and enqueues the mail
// to the URP and, when the sender gave an email, an acknowledgement, all in one
// transaction. It returns ErrRateLimited when the address is over the limit.
func (d *disservice) Submit(ctx context.Context, in ReportInput, citizenCF, addr string) (*Report, error) {
	now := d.Now().UTC()
	comune := d.comune(ctx)
	ok, err := take(ctx, d.DB, comune.ID, addr, now)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrRateLimited
	}
	r := &Report{ID: randomID(), Reference: newReference(now), CreatedAt: now, UpdatedAt: now, Category: in.Category,
		Description: in.Description, Place: in.Place, Name: in.Name, Email: in.Email, CitizenCF: citizenCF, Status: StatusNew}
	msg := d.Render.I18n()
	t := func(k string, args ...any) string { return msg.T("it", k, args...) }
	for attempt := 0; ; attempt++ {
		err = store.WithTx(ctx, d.DB, func(tx *gorm.DB) error {
			if err := enti.For(ctx, tx).Create(r).Error; err != nil {
				return err
			}
			if comune.Email != "" {
				text := t("disservice.mail.urp_text", "Reference", r.Reference, "Category", t("disservice.category."+r.Category),
					"Place", orDash(r.Place), "Name", orDash(r.Name), "Email", orDash(r.Email), "Description", r.Description,
					"Date", now.In(web.Rome).Format("02/01/2006 15:04"))
				if _, err := d.Outbox.Enqueue(ctx, tx, notify.Message{To: comune.Email, ToName: t("disservice.mail.urp_name"),
					Subject: t("disservice.mail.urp_subject", "Reference", r.Reference), Text: text, Kind: "urp.disservice",
					CitizenCF: citizenCF}); err != nil {
					return err
				}
			}
			if r.Email != "" {
				if _, err := d.Outbox.Enqueue(ctx, tx, notify.Message{To: r.Email, ToName: r.Name,
					Subject: t("disservice.mail.ack_subject", "Reference", r.Reference),
					Text:    t("disservice.mail.ack_text", "Reference", r.Reference, "Comune", comune.Name), Kind: "urp.disservice_ack",
					CitizenCF: citizenCF}); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, store.ErrDuplicate) && attempt < 3 {
			r.ID, r.Reference = randomID(), newReference(now)
			continue
		}
		return r, err
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (d *disservice) comune(ctx context.Context) config.Comune {
	if e := enti.FromContext(ctx); e != nil {
		return e.Comune()
	}
	return d.Comune
}

// formPage is the data of the public form.
type formPage struct {
	Form       ReportInput
	Errors     web.FormErrors
	Summary    []summaryLine
	Categories []string
	LoggedIn   bool
}

type summaryLine struct{ Field, Label, Key string }

var formFields = []struct{ id, label string }{
	{"categoria", "disservice.field.category"}, {"descrizione", "disservice.field.description"},
	{"luogo", "disservice.field.place"}, {"nome", "disservice.field.name"}, {"email", "disservice.field.email"},
}

func (d *disservice) render(c echo.Context, status int, in ReportInput, errs web.FormErrors) error {
	p := formPage{Form: in, Errors: errs, Categories: DisserviceCategories, LoggedIn: web.CurrentViewer(c) != nil}
	for _, f := range formFields {
		if k, ok := errs[f.id]; ok {
			p.Summary = append(p.Summary, summaryLine{Field: f.id, Label: f.label, Key: k})
		}
	}
	if k, ok := errs["_form"]; ok {
		p.Summary = append(p.Summary, summaryLine{Key: k})
	}
	return d.Render.Render(c, status, "pages/disservice.html", p)
}

func (d *disservice) form(c echo.Context) error {
	in := ReportInput{}
	if v := web.CurrentViewer(c); v != nil && v.Kind == "citizen" {
		in.Name = v.DisplayName
	}
	return d.render(c, http.StatusOK, in, web.FormErrors{})
}

func (d *disservice) submit(c echo.Context) error {
	in := ReportInput{Category: c.FormValue("categoria"), Description: c.FormValue("descrizione"), Place: c.FormValue("luogo"),
		Name: c.FormValue("nome"), Email: c.FormValue("email")}
	if errs := in.Validate(); errs.Any() {
		return d.render(c, http.StatusUnprocessableEntity, in, errs)
	}
	cf := ""
	if v := web.CurrentViewer(c); v != nil && v.Kind == "citizen" {
		cf = v.FiscalCode
	}
	r, err := d.Submit(c.Request().Context(), in, cf, c.RealIP())
	if errors.Is(err, ErrRateLimited) {
		return d.render(c, http.StatusTooManyRequests, in, web.FormErrors{"_form": "disservice.err.rate"})
	}
	if err != nil {
		return err
	}
	return web.Redirect(c, DisservicePath+"/inviata?rif="+r.Reference)
}

// sent shows the reference number. It shows only what the sender was given: the
// reference itself, checked for its shape, nothing stored.
func (d *disservice) sent(c echo.Context) error {
	ref := c.QueryParam("rif")
	if !referencePattern(ref) {
		return web.ErrNotFound
	}
	return d.Render.Render(c, http.StatusOK, "pages/disservice_sent.html", map[string]any{"Reference": ref})
}

func referencePattern(s string) bool {
	if len(s) != 14 || !strings.HasPrefix(s, "DS-") || s[7] != '-' {
		return false
	}
	for _, c := range s[3:7] {
		if c < '0' || c > '9' {
			return false
		}
	}
	for _, c := range s[8:] {
		if !strings.ContainsRune(refAlphabet, c) {
			return false
		}
	}
	return true
}

// DisservicePageSize is how many reports a page of the back-office list shows.
const DisservicePageSize = 50

// staffPage is the data of the back-office list.
type staffPage struct {
	Status   string
	Statuses []string
	Reports  []Report
	Counts   map[string]int64
	// Total is the number of reports the list has (with the status filter).
	Total int64
	Pager *web.Pager
}

// list shows the reports, newest first, DisservicePageSize a page (?pagina=, with
// ?stato= to filter). A page number that is not a number or past the last page
// answers 400 with a message.
func (d *disservice) list(c echo.Context) error {
	ctx := c.Request().Context()
	status := c.QueryParam("stato")
	if status != "" && !slices.Contains(DisserviceStatuses, status) {
		return web.NewError(http.StatusBadRequest, "disservice.staff.bad_status")
	}
	page, err := web.PageParam(c, "pagina")
	if err != nil {
		return err
	}
	db := enti.For(ctx, d.DB)
	p := staffPage{Status: status, Statuses: DisserviceStatuses, Counts: map[string]int64{}}
	var counts []struct {
		Status string
		N      int64
	}
	if err := db.Model(&Report{}).Select("status, COUNT(*) AS n").Group("status").Scan(&counts).Error; err != nil {
		return err
	}
	for _, c := range counts {
		p.Counts[c.Status] = c.N
		if status == "" || c.Status == status {
			p.Total += c.N
		}
	}
	p.Pager, err = web.NewPager(page, DisservicePageSize, p.Total, func(n int) string { return listURL(status, n) })
	if err != nil {
		return err
	}
	// Newest first; the id breaks ties so that pages neither repeat nor skip a report.
	q := db.Model(&Report{}).Order("created_at DESC, id DESC").Limit(DisservicePageSize).Offset(p.Pager.Offset())
	if status != "" {
		q = q.Where("status = ?", status)
	}
	if err := q.Find(&p.Reports).Error; err != nil {
		return err
	}
	return d.Render.Render(c, http.StatusOK, "backoffice/disservice.html", p)
}

// listURL is the address of page n of the list filtered by status.
func listURL(status string, n int) string {
	v := url.Values{}
	if status != "" {
		v.Set("stato", status)
	}
	if n > 1 {
		v.Set("pagina", strconv.Itoa(n))
	}
	if len(v) == 0 {
		return DisserviceStaffPath
	}
	return DisserviceStaffPath + "?" + v.Encode()
}

// setStatus changes a report's status, with an optional note (what was done, what
// the sender was told) kept on the report and in the audit log. Posting the status
// and the note the report already has changes nothing.
func (d *disservice) setStatus(c echo.Context) error {
	ctx := c.Request().Context()
	ref := c.Param("ref")
	status := c.FormValue("stato")
	if !slices.Contains(DisserviceStatuses, status) {
		return web.NewError(http.StatusUnprocessableEntity, "disservice.staff.bad_status")
	}
	note := strings.TrimSpace(strings.ReplaceAll(c.FormValue("nota"), "\r\n", "\n"))
	if utf8.RuneCountInString(note) > MaxStatusNote {
		return &web.Error{Status: http.StatusUnprocessableEntity, Key: "disservice.staff.note_long", Args: []any{"Max", MaxStatusNote}}
	}
	v := web.CurrentViewer(c)
	err := store.WithTx(ctx, d.DB, func(tx *gorm.DB) error {
		var r Report
		// The update applies only to the report as read (its status and note): on
		// PostgreSQL another officer's change may commit between the read and the
		// write, and the audit row must say what this change changed. When the
		// report moved, it is read again (each statement of the transaction sees
		// the latest commit) and the change applied to it, or dropped when the
		// report already says what this change says.
		for attempt := 0; ; attempt++ {
			if err := enti.For(ctx, tx).Where("reference = ?", ref).Take(&r).Error; err != nil {
				return err
			}
			if r.Status == status && r.StatusNote == note {
				return nil
			}
			res := enti.For(ctx, tx).Model(&Report{}).Where("id = ? AND status = ? AND status_note = ?", r.ID, r.Status, r.StatusNote).
				Updates(map[string]any{"status": status, "status_note": note, "status_by": v.ID, "updated_at": d.Now().UTC()})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 {
				break
			}
			// Each retry follows a change that did commit, so this ends; the bound
			// is against a bug, not contention.
			if attempt == 100 {
				return fmt.Errorf("feedback: status of %s: still changing after %d attempts", ref, attempt)
			}
		}
		e := web.AuditEntry(c, "urp.disservice_status")
		e.ObjectType, e.ObjectID, e.Outcome = "disservice", r.Reference, audit.OK
		e.Details = map[string]any{"from": r.Status, "to": status}
		if note != "" {
			e.Details["note"] = note
		}
		return audit.Record(ctx, tx, e)
	})
	if errors.Is(err, store.ErrNotFound) {
		// Not this comune's (or no such) report: 404, and the attempt is recorded.
		e := web.AuditEntry(c, "security.foreign_object")
		e.Outcome, e.ObjectType, e.ObjectID = audit.Denied, "disservice", ref
		e.Details = map[string]any{"path": c.Request().URL.Path}
		_ = audit.Record(ctx, d.DB, e)
		return web.ErrNotFound
	}
	if err != nil {
		return err
	}
	web.AddFlash(c, "success", "disservice.staff.saved")
	// Back to the list as it was: the same filter and, without a filter (where a
	// change of status moves nothing), the same page.
	filter, page := c.FormValue("filtro"), 1
	if !slices.Contains(DisserviceStatuses, filter) {
		filter = ""
		if n, err := strconv.Atoi(c.FormValue("pagina")); err == nil && n > 1 && n <= web.MaxPage {
			page = n
		}
	}
	return web.Redirect(c, listURL(filter, page))
}

// PublicRouter and StaffRouter are what the routes are registered on.
type PublicRouter interface {
	GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
	POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
}

// MountDisservice registers the public form on pub (at DisservicePath: "" and
// "/inviata") and the back-office list on staff (at DisserviceStaffPath, behind the
// URP role guard).
func MountDisservice(pub, staff PublicRouter, deps DisserviceDeps) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	d := &disservice{deps}
	pub.GET("", d.form)
	pub.POST("", d.submit)
	pub.GET("/inviata", d.sent)
	staff.GET("", d.list)
	staff.GET("/", d.list)
	staff.POST("/:ref/stato", d.setStatus)
}
