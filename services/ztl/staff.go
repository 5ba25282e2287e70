package ztl

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

func viewerID(c echo.Context) string {
	if v := web.CurrentViewer(c); v != nil {
		return v.ID
	}
	return ""
}

// staffPermits lists permits, optionally by holder's tax code or plate.
func (m *Module) staffPermits(c echo.Context) error {
	ctx := c.Request().Context()
	db := m.store(ctx)
	q, _ := web.SearchParam(c, "q")
	q = strings.ToUpper(strings.TrimSpace(q))
	var ps []Permit
	tx := db.Order("created_at DESC, id DESC").Limit(100)
	if q != "" {
		plate := NormalizePlateKey(q)
		tx = tx.Where("holder_cf = ? OR code = ? OR id IN (?)", q, q,
			db.Model(&Access{}).Select("permit_id").Where("plate = ?", plate))
	}
	if err := tx.Find(&ps).Error; err != nil {
		return err
	}
	vs, err := m.views(ctx, db, ps, m.clock())
	if err != nil {
		return err
	}
	return m.render.Render(c, http.StatusOK, "ztl/staff_permits.html", map[string]any{"Permits": vs, "Q": q,
		"Officer": web.CurrentViewer(c).HasRole(RoleOfficer)})
}

func (m *Module) staffPermit(c echo.Context) error {
	return m.staffPermitPage(c, http.StatusOK, web.FormErrors{}, "")
}

func (m *Module) staffPermitPage(c echo.Context, status int, errs web.FormErrors, reason string) error {
	ctx := c.Request().Context()
	db := m.store(ctx)
	var p Permit
	if err := db.Where("code = ?", c.Param("code")).Take(&p).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return web.ErrNotFound
		}
		return err
	}
	vs, err := m.views(ctx, db, []Permit{p}, m.clock())
	if err != nil {
		return err
	}
	return m.render.Render(c, status, "ztl/staff_permit.html", map[string]any{"P": vs[0], "Errors": errs, "Reason": reason})
}

func (m *Module) staffRevoke(c echo.Context) error {
	return m.staffStop(c, "ztl.permit_revoke", "ztl.staff.revoked", revoke)
}

func (m *Module) staffSuspend(c echo.Context) error {
	return m.staffStop(c, "ztl.permit_suspend", "ztl.staff.suspended", suspend)
}

// staffStop revokes or suspends a permit (a reason is required), audited in the same
// transaction.
func (m *Module) staffStop(c echo.Context, action, flash string,
	do func(context.Context, *gorm.DB, *Permit, string, string, time.Time) error) error {
	ctx := c.Request().Context()
	reason := strings.TrimSpace(c.FormValue("reason"))
	if reason == "" || utf8.RuneCountInString(reason) > 1000 {
		return m.staffPermitPage(c, http.StatusUnprocessableEntity, web.FormErrors{"reason": "ztl.staff.reason_required"}, reason)
	}
	now := m.clock()
	wasUnpaid := false
	err := store.WithTx(ctx, m.store(ctx), func(tx *gorm.DB) error {
		var p Permit
		if err := tx.Where("code = ?", c.Param("code")).Take(&p).Error; err != nil {
			return err
		}
		wasUnpaid = p.Status == StatusUnpaid
		if err := do(ctx, tx, &p, viewerID(c), reason, now); err != nil {
			return err
		}
		e := web.AuditEntry(c, action)
		e.ObjectType, e.ObjectID, e.SubjectCF = "ztl_permit", p.Code, p.HolderCF
		e.Details = map[string]any{"reason": reason}
		return audit.Record(ctx, tx, e)
	})
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return web.ErrNotFound
	case errors.Is(err, errConflict):
		return m.staffPermitPage(c, http.StatusConflict, web.FormErrors{"reason": "ztl.staff.not_active"}, reason)
	case err != nil:
		return err
	}
	if wasUnpaid { // revoked unpaid: its fee is withdrawn now, after the commit (a call to pagoPA)
		m.withdrawFee(ctx, c.Param("code"))
	}
	web.AddFlash(c, "success", flash)
	return web.Redirect(c, "/backoffice/ztl/permessi/"+c.Param("code"))
}

func (m *Module) staffResume(c echo.Context) error {
	ctx := c.Request().Context()
	now := m.clock()
	err := store.WithTx(ctx, m.store(ctx), func(tx *gorm.DB) error {
		var p Permit
		if err := tx.Where("code = ?", c.Param("code")).Take(&p).Error; err != nil {
			return err
		}
		if err := resume(ctx, tx, &p, now); err != nil {
			return err
		}
		e := web.AuditEntry(c, "ztl.permit_resume")
		e.ObjectType, e.ObjectID, e.SubjectCF = "ztl_permit", p.Code, p.HolderCF
		return audit.Record(ctx, tx, e)
	})
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return web.ErrNotFound
	case errors.Is(err, errConflict):
		return m.staffPermitPage(c, http.StatusConflict, web.FormErrors{"reason": "ztl.staff.not_suspended"}, "")
	case err != nil:
		return err
	}
	web.AddFlash(c, "success", "ztl.staff.resumed")
	return web.Redirect(c, "/backoffice/ztl/permessi/"+c.Param("code"))
}

// staffPlateCheck answers "was plate X allowed at T" for the police.
func (m *Module) staffPlateCheck(c echo.Context) error {
	ctx := c.Request().Context()
	data := map[string]any{"Plate": c.QueryParam("targa"), "At": c.QueryParam("quando"), "Errors": web.FormErrors{}}
	if c.QueryParam("targa") == "" {
		data["At"] = m.clock().In(rome).Format("2006-01-02T15:04")
		return m.render.Render(c, http.StatusOK, "ztl/staff_plate.html", data)
	}
	errs := web.FormErrors{}
	plate, perr := ParsePlateKey(NormalizePlateKey(c.QueryParam("targa")))
	if perr != nil {
		errs.Add("targa", perr.Error())
	}
	at, terr := time.ParseInLocation("2006-01-02T15:04", c.QueryParam("quando"), rome)
	if terr != nil {
		errs.Add("quando", "ztl.error.datetime")
	}
	if errs.Any() {
		data["Errors"] = errs
		return m.render.Render(c, http.StatusUnprocessableEntity, "ztl/staff_plate.html", data)
	}
	pc, err := CheckPlate(ctx, m.store(ctx), plate.String(), "", at.UTC())
	if err != nil {
		return err
	}
	e := web.AuditEntry(c, "ztl.plate_check")
	e.ObjectType, e.ObjectID = "plate", plate.String()
	e.Details = map[string]any{"at": at.UTC(), "allowed": pc.Allowed != nil}
	if err := audit.Record(ctx, m.store(ctx), e); err != nil {
		return err
	}
	data["Check"] = pc
	return m.render.Render(c, http.StatusOK, "ztl/staff_plate.html", data)
}

func (m *Module) staffKeys(c echo.Context) error {
	return m.keysPage(c, http.StatusOK, web.FormErrors{}, "", "")
}

func (m *Module) keysPage(c echo.Context, status int, errs web.FormErrors, name, created string) error {
	ctx := c.Request().Context()
	var ks []GateKey
	if err := m.store(ctx).Order("created_at DESC, id DESC").Find(&ks).Error; err != nil {
		return err
	}
	return m.render.Render(c, status, "ztl/staff_keys.html", map[string]any{"Keys": ks, "Errors": errs, "Name": name,
		"Created": created})
}

func (m *Module) staffCreateKey(c echo.Context) error {
	ctx := c.Request().Context()
	name := strings.TrimSpace(c.FormValue("name"))
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return m.keysPage(c, http.StatusUnprocessableEntity, web.FormErrors{"name": "ztl.keys.name_required"}, name, "")
	}
	var key string
	err := store.WithTx(ctx, m.store(ctx), func(tx *gorm.DB) error {
		k, secret, err := createKey(ctx, tx, name, viewerID(c), m.clock())
		if err != nil {
			return err
		}
		key = secret
		e := web.AuditEntry(c, "ztl.key_create")
		e.ObjectType, e.ObjectID = "gate_key", strconv.FormatInt(k.ID, 10)
		e.Details = map[string]any{"name": name, "prefix": k.Prefix}
		return audit.Record(ctx, tx, e)
	})
	if err != nil {
		return err
	}
	// The key is shown on this answer only (no redirect: it is never stored).
	c.Response().Header().Set("Cache-Control", "no-store")
	return m.keysPage(c, http.StatusOK, web.FormErrors{}, "", key)
}

func (m *Module) staffRevokeKey(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := parseID(c.Param("id"))
	if err != nil {
		return web.ErrNotFound
	}
	now := m.clock()
	err = store.WithTx(ctx, m.store(ctx), func(tx *gorm.DB) error {
		res := tx.Model(&GateKey{}).Where("id = ? AND revoked_at IS NULL", id).
			Updates(map[string]any{"revoked_at": now, "revoked_by": viewerID(c)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		e := web.AuditEntry(c, "ztl.key_revoke")
		e.ObjectType, e.ObjectID = "gate_key", strconv.FormatInt(id, 10)
		return audit.Record(ctx, tx, e)
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return web.ErrNotFound
	}
	if err != nil {
		return err
	}
	web.AddFlash(c, "success", "ztl.keys.revoked")
	return web.Redirect(c, "/backoffice/ztl/chiavi")
}
