package appuntamenti

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/store"
	"github.com/comuni-italiani/sportello/app/web"
)

// deskNames returns the named desks of an office, by service and number, read
// through db.
func deskNames(db *gorm.DB, officeID string) (map[string]map[int]string, error) {
	var rows []DeskName
	if err := db.Where("office_id = ?", officeID).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := map[string]map[int]string{}
	for _, r := range rows {
		if out[r.Service] == nil {
			out[r.Service] = map[int]string{}
		}
		out[r.Service][r.Number] = r.Name
	}
	return out, nil
}

// deskLabel is the name of desk n of service ("Sportello 2" without a name), or ""
// for a booking without a desk.
func (m *Module) deskLabel(lang string, names map[string]map[int]string, service string, n int) string {
	if n <= 0 {
		return ""
	}
	if name := names[service][n]; name != "" {
		return name
	}
	return m.i18n.T(lang, "appuntamenti.desk.default", "N", n)
}

// ErrBadDeskName: a desk number out of the office's desks, or a name of no or more
// than 60 characters.
var ErrBadDeskName = errors.New("appuntamenti: desk name not valid")

// NameDesk names desk number n of an office for a service (an empty name restores
// "Sportello <n>").
func (m *Module) NameDesk(db *gorm.DB, officeID, service string, n int, name string) error {
	name = strings.TrimSpace(name)
	var os OfficeService
	if err := db.Where("office_id = ? AND service = ?", officeID, service).Take(&os).Error; err != nil {
		return err
	}
	if n < 1 || n > os.Desks || utf8.RuneCountInString(name) > 60 || strings.ContainsAny(name, "\r\n") {
		return ErrBadDeskName
	}
	if name == "" {
		return db.Where("office_id = ? AND service = ? AND number = ?", officeID, service, n).Delete(&DeskName{}).Error
	}
	return db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "ente_id"}, {Name: "office_id"}, {Name: "service"}, {Name: "number"}},
		DoUpdates: clause.AssignmentColumns([]string{"name"})}).
		Create(&DeskName{OfficeID: officeID, Service: service, Number: n, Name: name}).Error
}

func (m *Module) nameDeskHandler(c echo.Context) error {
	ctx := c.Request().Context()
	office, service := c.FormValue("ufficio"), c.FormValue("servizio")
	n, err := strconv.Atoi(c.FormValue("numero"))
	if err != nil || !validService(service) {
		return web.NewError(http.StatusUnprocessableEntity, "appuntamenti.staff.desk_name_invalid")
	}
	err = m.NameDesk(m.store(ctx), office, service, n, c.FormValue("nome"))
	switch {
	case errors.Is(err, ErrBadDeskName):
		return web.NewError(http.StatusUnprocessableEntity, "appuntamenti.staff.desk_name_invalid")
	case errors.Is(err, store.ErrNotFound):
		return web.ErrNotFound
	case err != nil:
		return err
	}
	m.capacityAudit(c, "appuntamenti.desk_name", office, map[string]any{"service": service, "number": n,
		"name": strings.TrimSpace(c.FormValue("nome"))})
	web.AddFlash(c, "success", "appuntamenti.staff.saved")
	return web.Redirect(c, agendaURL(office))
}
