package ztl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/cases"
	"github.com/comuni-italiani/sportello/app/payments"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// PlateView is one plate of a permit as its pages show it.
type PlateView struct {
	Plate     string
	Temporary bool
	From, To  time.Time
}

// PermitView is a permit with what its pages show.
type PermitView struct {
	Permit
	State     string
	Category  *Category
	Plates    []PlateView
	Renewable bool
}

// StateKey is the message key of the state.
func (v PermitView) StateKey() string { return "ztl.state." + v.State }

// StateClass is the Bootstrap colour of the state's badge.
func (v PermitView) StateClass() string {
	switch v.State {
	case StatusActive:
		return "success"
	case StatusPending:
		return "info"
	case StatusRevoked:
		return "danger"
	case StatusSuspended, StatusUnpaid:
		return "warning"
	}
	return "secondary"
}

// LastDay is the last calendar day of validity.
func (v PermitView) LastDay() time.Time { return addDays(v.ValidTo, -1) }

// Euro formats cents as "30,00".
func Euro(cents int64) string { return fmt.Sprintf("%d,%02d", cents/100, cents%100) }

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// FeeEuro is the fee due, "30,00".
func (v PermitView) FeeEuro() string { return Euro(v.FeeCents) }

// views loads the plates and categories of permits.
func (m *Module) views(ctx context.Context, db *gorm.DB, ps []Permit, now time.Time) ([]PermitView, error) {
	cats, err := categories(ctx, db)
	if err != nil {
		return nil, err
	}
	byCode := map[string]*Category{}
	for i := range cats {
		byCode[cats[i].Code] = &cats[i]
	}
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	var lines []Access
	if len(ids) > 0 {
		if err := db.Where("permit_id IN ?", ids).Order("temporary, valid_from, plate").Find(&lines).Error; err != nil {
			return nil, err
		}
	}
	out := make([]PermitView, len(ps))
	for i, p := range ps {
		v := PermitView{Permit: p, State: p.StatusAt(now), Category: byCode[p.Category]}
		if v.Category == nil {
			v.Category = &Category{Code: p.Category, NameIT: p.Category}
		}
		v.Renewable = renewable(p, v.Category, now)
		seen := map[string]bool{}
		for _, l := range lines {
			if l.PermitID != p.ID || !l.ValidTo.After(now) && p.StatusAt(now) == StatusActive {
				continue
			}
			k := l.Plate + "|" + l.ValidFrom.String()
			if seen[k] {
				continue
			}
			seen[k] = true
			v.Plates = append(v.Plates, PlateView{Plate: l.Plate, Temporary: l.Temporary, From: l.ValidFrom, To: l.ValidTo})
		}
		out[i] = v
	}
	return out, nil
}

func viewerCF(c echo.Context) string {
	if v := web.CurrentViewer(c); v != nil {
		return v.FiscalCode
	}
	return ""
}

func (m *Module) myPermits(c echo.Context) error {
	ctx := c.Request().Context()
	db := m.store(ctx)
	var ps []Permit
	if err := db.Where("holder_cf = ?", viewerCF(c)).Order("valid_to DESC, id DESC").Limit(200).Find(&ps).Error; err != nil {
		return err
	}
	vs, err := m.views(ctx, db, ps, m.clock())
	if err != nil {
		return err
	}
	return m.render.Render(c, http.StatusOK, "ztl/permits.html", map[string]any{"Permits": vs})
}

// denied answers 404 exactly like a missing record and audits the attempt.
func (m *Module) denied(c echo.Context, object, id string) error {
	ctx := c.Request().Context()
	e := web.AuditEntry(c, "security.ztl_access_denied")
	e.Outcome, e.ObjectType, e.ObjectID = audit.Denied, object, id
	if err := audit.Record(ctx, m.store(ctx), e); err != nil {
		return err
	}
	return web.ErrNotFound
}

// ownPermit loads the citizen's permit code (404 and an audit entry otherwise).
func (m *Module) ownPermit(c echo.Context) (*Permit, error) {
	ctx := c.Request().Context()
	var p Permit
	err := m.store(ctx).Where("code = ? AND holder_cf = ?", c.Param("code"), viewerCF(c)).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, m.denied(c, "ztl_permit", c.Param("code"))
	}
	return &p, err
}

func (m *Module) permitPage(c echo.Context, p *Permit, status int, errs web.FormErrors, typed map[string]string) error {
	ctx := c.Request().Context()
	now := m.clock()
	vs, err := m.views(ctx, m.store(ctx), []Permit{*p}, now)
	if err != nil {
		return err
	}
	data := map[string]any{"P": vs[0], "Errors": errs, "Typed": typed,
		"Today": dayOf(now).In(rome).Format("2006-01-02"), "FeesOnline": m.feesOnline(ctx)}
	if m.pay != nil && p.FeeCents > 0 {
		// The fee's position: where to pay and by when, or that it was withdrawn.
		pos, err := m.pay.ByRef(ctx, PurposeFee, p.Code)
		if err != nil && !errors.Is(err, payments.ErrNotFound) {
			return err
		}
		if pos != nil {
			data["Fee"] = pos
			data["FeePath"] = payments.CitizenPath(pos.ID)
			data["FeeWithdrawn"] = pos.State != payments.Paid  // shown only when the permit no longer waits
			data["FeeLastDay"] = pos.DueDate.Add(-time.Second) // due at midnight: the day before
		}
	}
	return m.render.Render(c, status, "ztl/permit.html", data)
}

func (m *Module) myPermit(c echo.Context) error {
	p, err := m.ownPermit(c)
	if err != nil {
		return err
	}
	return m.permitPage(c, p, http.StatusOK, web.FormErrors{}, nil)
}

// renew opens a renewal application prefilled from the permit, at its summary.
func (m *Module) renew(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := m.ownPermit(c)
	if err != nil {
		return err
	}
	db := m.store(ctx)
	cat, err := category(ctx, db, p.Category)
	if err != nil {
		return err
	}
	now := m.clock()
	if !renewable(*p, cat, now) {
		return m.permitPage(c, p, http.StatusConflict, web.FormErrors{"_renew": "ztl.error.not_renewable"}, nil)
	}
	form := map[string]string{"category": p.Category, "start": p.ValidTo.In(rome).Format("2006-01-02"), "renews": p.Code,
		"badge_number": p.BadgeNumber}
	if p.BadgeExpiry != nil {
		form["badge_expiry"] = p.BadgeExpiry.In(rome).Format("2006-01-02")
	}
	vs, err := m.views(ctx, db, []Permit{*p}, now)
	if err != nil {
		return err
	}
	n := 0
	for _, pl := range vs[0].Plates {
		if pl.Temporary || n == MaxPlates {
			continue
		}
		n++
		num, cc := pl.Plate, ""
		if x, y, ok := strings.Cut(pl.Plate, ":"); ok {
			cc, num = x, y
		}
		form["plate"+itoa64(int64(n))], form["country"+itoa64(int64(n))] = num, cc
	}
	a := cases.ActorOf(c)
	a.Email = p.Email
	cs, err := m.cases.Create(ctx, a, ID, CaseType, form)
	if err != nil {
		return err
	}
	return web.Redirect(c, FormPath+"/"+itoa64(cs.ID)+"/veicoli")
}

func (m *Module) citizenChangePlate(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := m.ownPermit(c)
	if err != nil {
		return err
	}
	typed := map[string]string{"old": c.FormValue("old"), "plate": c.FormValue("plate"), "country": c.FormValue("country")}
	plate, perr := ParsePlate(typed["plate"], typed["country"])
	if perr != nil {
		return m.permitPage(c, p, http.StatusUnprocessableEntity, web.FormErrors{"plate": perr.Error()}, typed)
	}
	now := m.clock()
	err = store.WithTx(ctx, m.store(ctx), func(tx *gorm.DB) error {
		if err := changePlate(ctx, tx, p, NormalizePlateKey(typed["old"]), plate, now); err != nil {
			return err
		}
		e := web.AuditEntry(c, "ztl.plate_change")
		e.ObjectType, e.ObjectID = "ztl_permit", p.Code
		e.Details = map[string]any{"old": NormalizePlateKey(typed["old"]), "new": plate.String()}
		return audit.Record(ctx, tx, e)
	})
	var ce *cases.Error
	if errors.As(err, &ce) {
		return m.permitPage(c, p, http.StatusUnprocessableEntity, web.FormErrors{ce.Field: ce.Key}, typed)
	}
	if err != nil {
		return err
	}
	web.AddFlash(c, "success", "ztl.permit.plate_changed")
	return web.Redirect(c, "/servizi/ztl/permessi/"+p.Code)
}

// NormalizePlateKey normalizes a plate written as the whitelist does ("DE:B AB 1").
func NormalizePlateKey(s string) string {
	if cc, n, ok := strings.Cut(s, ":"); ok {
		return strings.ToUpper(strings.TrimSpace(cc)) + ":" + NormalizePlate(n)
	}
	return NormalizePlate(s)
}

func (m *Module) citizenTemporaryPlate(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := m.ownPermit(c)
	if err != nil {
		return err
	}
	typed := map[string]string{"tplate": c.FormValue("plate"), "tcountry": c.FormValue("country"),
		"from": c.FormValue("from"), "to": c.FormValue("to")}
	errs := web.FormErrors{}
	plate, perr := ParsePlate(typed["tplate"], typed["tcountry"])
	if perr != nil {
		errs.Add("tplate", perr.Error())
	}
	from, ok1 := parseDay(typed["from"])
	to, ok2 := parseDay(typed["to"])
	if !ok1 {
		errs.Add("from", "ztl.error.date")
	}
	if !ok2 {
		errs.Add("to", "ztl.error.date")
	}
	cat, err := category(ctx, m.store(ctx), p.Category)
	if err != nil {
		return err
	}
	if ok1 && ok2 {
		to = addDays(to, 1)
		// A badge holder's car for a day; anyone else's replacement car for at most
		// 30 days (the car at the garage).
		limit := 30
		if cat.Kind == KindDisabled {
			limit = 1
		}
		if !to.After(from) || to.After(addDays(from, limit)) {
			errs.Add("to", "ztl.error.period")
		}
	}
	if errs.Any() {
		return m.permitPage(c, p, http.StatusUnprocessableEntity, errs, typed)
	}
	now := m.clock()
	err = store.WithTx(ctx, m.store(ctx), func(tx *gorm.DB) error {
		if err := addTemporaryPlate(ctx, tx, p, plate, from, to, now); err != nil {
			return err
		}
		e := web.AuditEntry(c, "ztl.temporary_plate")
		e.ObjectType, e.ObjectID = "ztl_permit", p.Code
		e.Details = map[string]any{"plate": plate.String(), "from": from, "to": to}
		return audit.Record(ctx, tx, e)
	})
	var ce *cases.Error
	if errors.As(err, &ce) {
		return m.permitPage(c, p, http.StatusUnprocessableEntity, web.FormErrors{"from": ce.Key}, typed)
	}
	if err != nil {
		return err
	}
	web.AddFlash(c, "success", "ztl.permit.temporary_added")
	return web.Redirect(c, "/servizi/ztl/permessi/"+p.Code)
}

// TransitView is one of the citizen's transits.
type TransitView struct {
	Transit
	HasPhoto bool
}

// ownTransits lists the transits of the plates on the citizen's permits, each only
// within the period the plate was on one of them: a plate that belonged to someone
// else before shows nothing of that time.
func (m *Module) ownTransits(ctx context.Context, db *gorm.DB, cf string, id int64) ([]TransitView, error) {
	var lines []Access
	err := db.Model(&Access{}).Joins("JOIN ztl_permits p ON p.id = ztl_access.permit_id AND p.ente_id = ztl_access.ente_id").
		Where("p.holder_cf = ?", cf).Select("ztl_access.*").Find(&lines).Error
	if err != nil || len(lines) == 0 {
		return nil, err
	}
	byPlate := map[string][]Access{}
	for _, l := range lines {
		byPlate[l.Plate] = append(byPlate[l.Plate], l)
	}
	var out []TransitView
	for plate, ls := range byPlate {
		lo, hi := ls[0].ValidFrom, ls[0].ValidTo
		for _, l := range ls {
			if l.ValidFrom.Before(lo) {
				lo = l.ValidFrom
			}
			if l.ValidTo.After(hi) {
				hi = l.ValidTo
			}
		}
		q := db.Model(&Transit{}).Select("id, ente_id, plate, gate, zone, at, photo_type, photo_deleted_at, created_at, system, record_id, gate_key_id").
			Where("plate = ? AND at >= ? AND at < ?", plate, lo, hi)
		if id != 0 {
			q = q.Where("id = ?", id)
		}
		var ts []Transit
		if err := q.Order("at DESC").Limit(500).Find(&ts).Error; err != nil {
			return nil, err
		}
		for _, t := range ts {
			for _, l := range ls {
				if !t.At.Before(l.ValidFrom) && t.At.Before(l.ValidTo) {
					out = append(out, TransitView{Transit: t, HasPhoto: t.PhotoType != "" && t.PhotoDeletedAt == nil})
					break
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out, nil
}

func (m *Module) myTransits(c echo.Context) error {
	ctx := c.Request().Context()
	ts, err := m.ownTransits(ctx, m.store(ctx), viewerCF(c), 0)
	if err != nil {
		return err
	}
	return m.render.Render(c, http.StatusOK, "ztl/transits.html", map[string]any{"Transits": ts,
		"RetentionDays": m.settingsFor(ctx).PhotoRetentionDays})
}

func (m *Module) transitPhoto(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := parseID(c.Param("id"))
	if err != nil {
		return m.denied(c, "ztl_transit", c.Param("id"))
	}
	db := m.store(ctx)
	ts, err := m.ownTransits(ctx, db, viewerCF(c), id)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		return m.denied(c, "ztl_transit", c.Param("id"))
	}
	var t Transit
	if err := db.Where("id = ? AND photo_deleted_at IS NULL", id).Take(&t).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return web.ErrNotFound
		}
		return err
	}
	if len(t.Photo) == 0 {
		return web.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, t.PhotoType, t.Photo)
}

func parseID(s string) (int64, error) {
	var n int64
	if s == "" || len(s) > 18 {
		return 0, errors.New("bad id")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, errors.New("bad id")
		}
		n = n*10 + int64(r-'0')
	}
	return n, nil
}
