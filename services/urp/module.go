// Package urp is the "Uffici, orari e contatti" service: where the comune's offices
// are, when they are open (with an "open now" indication in the comune's time zone),
// how to reach them, and any notice (an extraordinary closure). URP operators update
// the notices from the back office. It is the smallest complete module and the model
// for new ones: Info, Mount, Migrations, StaffNav, Stats and SeedDemo.
package urp

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/roles"
	"github.com/comuni-italiani/sportello/app/search"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
	"github.com/comuni-italiani/sportello/services"
)

// ID is the module's identifier and URL segment.
const ID = "urp"

// Module implements services.Module.
type Module struct {
	db     func(ctx context.Context) *gorm.DB
	render *web.Renderer
	log    *slog.Logger
	now    func() time.Time
}

// New returns the module, ready to be mounted.
func New() *Module { return &Module{now: time.Now} }

// Info implements services.Module.
func (*Module) Info() services.Info {
	return services.Info{
		ID:          ID,
		Title:       "urp.title",
		Summary:     "urp.summary",
		Description: "urp.description",
		Area:        services.AreaComune,
		Audience:    "urp.audience",
		Start:       "",
		Order:       10,
		HowTo:       "urp.card.howto",
		Outcome:     "urp.card.outcome",
		Times:       "urp.card.times",
		Cost:        "urp.card.cost",
		Conditions:  "urp.card.conditions",
		Office:      "urp.card.office",
		Topics:      []string{"topic.uffici"},
		LifeEvents:  []string{"cambio-residenza"},
		Updated:     "2026-12-02",
	}
}

// Mount implements services.Module.
func (m *Module) Mount(mt *services.Mount) error {
	m.db, m.render, m.log = mt.Store, mt.Render, mt.Log
	mt.Public.GET("/", m.offices)
	staff := mt.Staff.Group("", mt.RequireRole(roles.URP))
	staff.GET("/", m.staffOffices)
	staff.POST("/:id/avviso", m.updateNotice)
	return nil
}

// StaffNav implements services.StaffNav.
func (*Module) StaffNav() []web.MenuItem {
	return []web.MenuItem{{Label: "urp.staff.nav", Href: "/backoffice/urp/", Roles: []string{roles.URP}}}
}

// Stats implements services.Stats.
func (m *Module) Stats(ctx context.Context) ([]services.Stat, error) {
	var n int64
	err := m.db(ctx).Model(&Office{}).Where("notice_it <> ''").Count(&n).Error
	return []services.Stat{{Label: "urp.stats.notices", Value: n, Href: "/backoffice/urp/", Roles: []string{roles.URP}}}, err
}

func (m *Module) list(ctx context.Context) ([]Office, error) {
	var out []Office
	err := m.db(ctx).Preload("Hours", func(db *gorm.DB) *gorm.DB {
		return db.Order("weekday, opens")
	}).Order("sort, id").Find(&out).Error
	return out, err
}

// SearchDocs implements services.Searcher: the offices, by name, description,
// address and notice, each leading to its card on the offices page.
func (m *Module) SearchDocs(ctx context.Context, lang string) ([]search.Doc, error) {
	list, err := m.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]search.Doc, 0, len(list))
	for _, o := range list {
		out = append(out, search.Doc{
			Kind: search.KindOffice, Title: o.Name(lang), Summary: o.Description(lang),
			Text: strings.Join([]string{o.Description(lang), o.Address, o.Notice(lang)}, " "),
			Href: "/servizi/" + ID + "/#office-" + o.Slug,
		})
	}
	return out, nil
}

// OfficeView is an office as the public page shows it.
type OfficeView struct {
	Office
	Open bool
}

func (m *Module) offices(c echo.Context) error {
	list, err := m.list(c.Request().Context())
	if err != nil {
		return err
	}
	now := m.now()
	views := make([]OfficeView, len(list))
	for i, o := range list {
		views[i] = OfficeView{Office: o, Open: o.OpenAt(now, web.Rome)}
	}
	return m.render.Render(c, http.StatusOK, "urp/offices.html", map[string]any{"Offices": views, "Now": now})
}

func (m *Module) staffOffices(c echo.Context) error {
	list, err := m.list(c.Request().Context())
	if err != nil {
		return err
	}
	return m.render.Render(c, http.StatusOK, "urp/staff.html", map[string]any{
		"Offices": list, "Errors": web.FormErrors{}, "FailedID": int64(0)})
}

// MaxNotice is the longest notice accepted, in characters.
const MaxNotice = 400

func (m *Module) updateNotice(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return web.ErrNotFound
	}
	var office Office
	if err := m.db(ctx).First(&office, id).Error; err != nil {
		return err
	}
	it := strings.TrimSpace(c.FormValue("notice_it"))
	en := strings.TrimSpace(c.FormValue("notice_en"))
	errs := web.FormErrors{}
	if len([]rune(it)) > MaxNotice {
		errs.Add("notice_it", "urp.staff.notice_too_long")
	}
	if len([]rune(en)) > MaxNotice {
		errs.Add("notice_en", "urp.staff.notice_too_long")
	}
	if en != "" && it == "" {
		errs.Add("notice_it", "urp.staff.notice_it_required")
	}
	if errs.Any() {
		list, err := m.list(ctx)
		if err != nil {
			return err
		}
		return m.render.Render(c, http.StatusUnprocessableEntity, "urp/staff.html", map[string]any{
			"Offices": list, "Errors": errs, "FailedID": id, "TypedIT": it, "TypedEN": en,
		})
	}
	err = store.WithTx(ctx, m.db(ctx), func(tx *gorm.DB) error {
		if err := tx.Model(&Office{}).Where("id = ?", id).Updates(map[string]any{
			"notice_it": it, "notice_en": en, "updated_at": time.Now().UTC(),
		}).Error; err != nil {
			return err
		}
		e := web.AuditEntry(c, "urp.notice_update")
		e.ObjectType, e.ObjectID = "office", office.Slug
		e.Details = map[string]any{"cleared": it == ""}
		return audit.Record(ctx, tx, e)
	})
	if err != nil {
		return err
	}
	web.AddFlash(c, "success", "urp.staff.saved")
	return web.Redirect(c, "/backoffice/urp/")
}
