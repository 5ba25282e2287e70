package certificates

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/comuni-italiani/sportello/app/enti"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/anagrafe"
	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/stamp"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// PDF rebuilds the certificate's PDF from its record, in ctx (the certificate's ente,
// whose office names head it). It is the file issued, byte for byte; a difference (a
// changed PDF library, or the ente's office names changed since) is logged, and the
// rebuilt file, which carries the same data and stamp, is returned.
func (m *Module) PDF(ctx context.Context, cert *Certificate) ([]byte, error) {
	d, err := cert.Snapshot()
	if err != nil {
		return nil, err
	}
	pdf, err := m.renderPDF(ctx, cert, d)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(pdf); hex.EncodeToString(sum[:]) != cert.PDFHash {
		m.log.Warn("rebuilt certificate PDF differs from the one issued", "certificate", cert.ID)
	}
	return pdf, nil
}

// staffFilter is the search form of the back office.
type staffFilter struct {
	Code, CF, From, To string
}

// staffSearch lists issued certificates by code, holder's tax code and issue date.
func (m *Module) staffSearch(c echo.Context) error {
	var f staffFilter
	for _, p := range []struct {
		name string
		dst  *string
	}{{"codice", &f.Code}, {"cf", &f.CF}, {"dal", &f.From}, {"al", &f.To}} {
		v, err := web.SearchParam(c, p.name)
		if err != nil {
			return err
		}
		*p.dst = v
	}
	f.CF = strings.ToUpper(f.CF)
	errs := web.FormErrors{}
	q := enti.For(c.Request().Context(), m.db).Model(&Certificate{})
	if f.Code != "" {
		norm, err := stamp.NormalizeCode(f.Code)
		if err != nil {
			errs.Add("codice", "certificati.verify.bad_code")
		}
		q = q.Where("id = ?", norm)
	}
	if f.CF != "" {
		q = q.Where("holder_cf = ? OR requester_cf = ?", f.CF, f.CF)
	}
	if f.From != "" {
		t, err := anagrafe.ParseDate(f.From)
		if err != nil {
			errs.Add("dal", "certificati.staff.bad_date")
		}
		q = q.Where("issued_at >= ?", time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, rome).UTC())
	}
	if f.To != "" {
		t, err := anagrafe.ParseDate(f.To)
		if err != nil {
			errs.Add("al", "certificati.staff.bad_date")
		}
		q = q.Where("issued_at < ?", time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, rome).UTC())
	}
	status := http.StatusOK
	var rows []Row
	var total int64
	if errs.Any() {
		status = http.StatusUnprocessableEntity
	} else {
		if err := q.Count(&total).Error; err != nil {
			return err
		}
		var list []Certificate
		if err := q.Order("issued_at DESC, id").Limit(100).Find(&list).Error; err != nil {
			return err
		}
		var err error
		if rows, err = m.rows(c.Request().Context(), list); err != nil {
			return err
		}
	}
	return m.render.Render(c, status, "certificati/staff_list.html", map[string]any{
		"Filter": f, "Rows": rows, "Total": total, "Errors": errs})
}

func (m *Module) staffCert(c echo.Context) (*Certificate, error) {
	var cert Certificate
	err := enti.For(c.Request().Context(), m.db).Where("id = ?", idParam(c)).Take(&cert).Error
	if errors.Is(err, store.ErrNotFound) {
		return nil, web.ErrNotFound
	}
	return &cert, err
}

func (m *Module) renderStaffDetail(c echo.Context, status int, cert *Certificate, errs web.FormErrors, reason string) error {
	d, err := cert.Snapshot()
	if err != nil {
		return err
	}
	vs, err := m.verifications(c.Request().Context(), cert.ID)
	if err != nil {
		return err
	}
	b := m.body(m.tr(web.Lang(c)), cert, d)
	return m.render.Render(c, status, "certificati/staff_detail.html", map[string]any{
		"Cert": cert, "Body": b, "Verdict": verdictOf(cert, m.now()), "Verifications": vs,
		"Errors": errs, "Reason": reason, "MaxReason": MaxRevokeReason})
}

// staffDetail shows a certificate with its verification history and the revoke form.
func (m *Module) staffDetail(c echo.Context) error {
	cert, err := m.staffCert(c)
	if err != nil {
		return err
	}
	return m.renderStaffDetail(c, http.StatusOK, cert, web.FormErrors{}, "")
}

// MaxRevokeReason is the longest revocation reason accepted, in characters.
const MaxRevokeReason = 500

// staffRevoke revokes a certificate; the reason is required and audited.
func (m *Module) staffRevoke(c echo.Context) error {
	cert, err := m.staffCert(c)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("motivo"))
	errs := web.FormErrors{}
	switch {
	case reason == "":
		errs.Add("motivo", "certificati.staff.reason_required")
	case utf8.RuneCountInString(reason) > MaxRevokeReason:
		errs.Add("motivo", "validation.max")
	}
	// Revoking cannot be undone and voids a paper the holder may already have handed
	// over: the clerk confirms it explicitly.
	if c.FormValue("conferma") != "1" {
		errs.Add("conferma", "certificati.staff.confirm_required")
	}
	if errs.Any() {
		return m.renderStaffDetail(c, http.StatusUnprocessableEntity, cert, errs, reason)
	}
	ctx := c.Request().Context()
	v := web.CurrentViewer(c)
	revoked := false
	err = store.WithTx(ctx, enti.For(ctx, m.db), func(tx *gorm.DB) error {
		res := tx.Model(&Certificate{}).Where("id = ? AND status = ?", cert.ID, StatusValid).Updates(map[string]any{
			"status": StatusRevoked, "revoked_at": m.now().UTC(), "revoked_reason": reason, "revoked_by": v.ID,
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil // already revoked, by someone else a moment ago
		}
		revoked = true
		e := web.AuditEntry(c, "certificates.revoke")
		e.SubjectCF, e.ObjectType, e.ObjectID = cert.HolderCF, "certificate", cert.ID
		e.Details = map[string]any{"reason": reason, "type": cert.Type}
		return audit.Record(ctx, tx, e)
	})
	if revoked {
		// Verifications answered from memory see the revocation from now on.
		m.forgetLookups(ctx)
	}
	if err != nil {
		return err
	}
	if revoked {
		web.AddFlash(c, "success", "certificati.staff.revoked")
	} else {
		web.AddFlash(c, "info", "certificati.staff.already_revoked")
	}
	return web.Redirect(c, "/backoffice/"+ID+"/"+cert.ID)
}
