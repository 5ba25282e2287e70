package ztl

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/pdfdoc"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/web"
)

// Verdict is what the police see when they scan a permit's QR code.
type Verdict struct {
	// Authentic: the stored stamp's signature verifies and certifies this permit as
	// it is recorded (code, holder, category, zones, validity, badge).
	Authentic bool
	// State is valid (attivo), revoked, expired or not yet started.
	View PermitView
}

// verifyPermit checks the permit with verification code code. A code with no permit
// is gorm.ErrRecordNotFound.
func (m *Module) verifyPermit(ctx context.Context, db *gorm.DB, code string) (*Verdict, error) {
	code, err := stamp.NormalizeCode(code)
	if err != nil {
		return nil, gorm.ErrRecordNotFound
	}
	var p Permit
	if err := db.Where("code = ?", code).Take(&p).Error; err != nil {
		return nil, err
	}
	now := m.clock()
	vs, err := m.views(ctx, db, []Permit{p}, now)
	if err != nil {
		return nil, err
	}
	v := &Verdict{View: vs[0]}
	msg, err := stamp.Decode(p.Stamp)
	ring := m.stampRing(ctx)
	if err != nil || ring == nil {
		return v, nil
	}
	pl, err := ring.Verify(msg)
	v.Authentic = err == nil && pl.CertID == p.Code && pl.Type == StampType && pl.Holder == p.HolderCF &&
		subtle.ConstantTimeCompare(pl.DataHash, p.dataHash()) == 1
	return v, nil
}

func (m *Module) verifyPage(c echo.Context) error {
	ctx := c.Request().Context()
	v, err := m.verifyPermit(ctx, m.store(ctx), c.Param("code"))
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return m.render.Render(c, http.StatusNotFound, "ztl/verify.html", map[string]any{"Unknown": true})
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return m.render.Render(c, http.StatusOK, "ztl/verify.html", map[string]any{"V": v})
}

// permitPDF is the permit to print or show: data, plates, zones and the stamp's QR.
func (m *Module) permitPDF(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := m.ownPermit(c)
	if err != nil {
		return err
	}
	if p.Stamp == "" {
		return web.ErrNotFound
	}
	vs, err := m.views(ctx, m.store(ctx), []Permit{*p}, m.clock())
	if err != nil {
		return err
	}
	b, err := m.renderPDF(ctx, vs[0])
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="permesso-ztl-`+p.Code+`.pdf"`)
	c.Response().Header().Set("Cache-Control", "private, no-store")
	return c.Blob(http.StatusOK, "application/pdf", b)
}

func (m *Module) renderPDF(ctx context.Context, v PermitView) ([]byte, error) {
	T := func(key string, args ...any) string { return m.render.I18n().T("it", key, args...) }
	msg, err := stamp.Decode(v.Stamp)
	if err != nil {
		return nil, err
	}
	base := m.baseURL(ctx)
	url := base + VerifyBase + "/" + v.Code + "#" + stamp.Encode(msg)
	lh := m.letterhead(ctx)
	lh.Office = T("ztl.pdf.office")
	doc := pdfdoc.New(lh, T("ztl.pdf.title")+" "+v.Code, pdfdoc.WithCreationDate(v.CreatedAt),
		pdfdoc.WithPageMark(T("ztl.pdf.page_mark", "Code", v.Code, "URL", base+VerifyBase)))
	doc.Title(strings.ToUpper(T("ztl.pdf.title")))
	doc.Paragraph(T("ztl.pdf.intro"))
	var plates []string
	for _, pl := range v.Plates {
		if !pl.Temporary {
			plates = append(plates, pl.Plate)
		}
	}
	fields := []pdfdoc.Field{
		{Label: T("ztl.field.code"), Value: v.Code},
		{Label: T("ztl.field.category"), Value: v.Category.Name("it")},
		{Label: T("ztl.field.holder"), Value: strings.TrimSpace(v.HolderName + " " + v.HolderCF)},
		{Label: T("ztl.field.zones"), Value: strings.ReplaceAll(v.Zones, ",", ", ")},
		{Label: T("ztl.field.plates"), Value: strings.Join(plates, ", ")},
		{Label: T("ztl.field.valid_from"), Value: v.ValidFrom.In(rome).Format("02/01/2006")},
		{Label: T("ztl.field.valid_to"), Value: v.LastDay().In(rome).Format("02/01/2006")},
		{Label: T("ztl.field.protocol"), Value: v.Protocol},
	}
	if v.BadgeNumber != "" {
		fields = append(fields, pdfdoc.Field{Label: T("ztl.field.badge"), Value: v.BadgeNumber})
	}
	doc.Fields(fields)
	doc.Paragraph(T("ztl.pdf.plates_note"))
	st := pdfdoc.Stamp{URL: url, Code: v.Code, ValidUntil: v.LastDay().In(rome),
		Lines: []string{T("ztl.pdf.stamp_line", "Code", v.Code)}}
	h, err := doc.StampHeight(st)
	if err != nil {
		return nil, err
	}
	doc.KeepTogether(h)
	if err := doc.StampBlock(st); err != nil {
		return nil, err
	}
	return doc.Bytes()
}
