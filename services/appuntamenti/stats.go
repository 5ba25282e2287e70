package appuntamenti

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/comuni-italiani/sportello/app/web"
)

// MonthStats are the figures of one office, service and month.
type MonthStats struct {
	Service string
	// Booked counts the bookings made in the month (moves included: each is a new
	// booking).
	Booked int
	// Cancelled counts the bookings cancelled in the month by the citizen, the desk
	// or for want of confirmation (not those replaced by a move or a waiting-list
	// offer).
	Cancelled int
	// NoShow and CheckedIn count the appointments of the month the desk marked.
	NoShow, CheckedIn int
	// LeadDays is the average number of days from booking to the first free slot
	// then, over the bookings made in the month (-1 when none).
	LeadDays float64
}

// replaced are the cancellation reasons of a booking replaced by another.
var replaced = map[string]bool{"moved": true, "waiting_list": true}

// OfficeMonthStats returns the figures of an office for the month starting at month
// (any instant in it, Europe/Rome), one row per service the office offers and a total
// row (Service "").
func (m *Module) OfficeMonthStats(ctx context.Context, officeID string, month time.Time) ([]MonthStats, error) {
	d := DayOf(month)
	from := time.Date(d.Y, d.M, 1, 0, 0, 0, 0, rome).UTC()
	to := time.Date(d.Y, d.M+1, 1, 0, 0, 0, 0, rome).UTC()
	db := m.store(ctx)
	var svcs []OfficeService
	if err := db.Where("office_id = ?", officeID).Order("service").Find(&svcs).Error; err != nil {
		return nil, err
	}
	var rows []Booking
	if err := db.Select("service", "status", "created_at", "first_free_at", "starts_at", "cancelled_at", "cancel_reason").
		Where("office_id = ? AND ((created_at >= ? AND created_at < ?) OR (starts_at >= ? AND starts_at < ?) OR (cancelled_at >= ? AND cancelled_at < ?))",
			officeID, from, to, from, to, from, to).Find(&rows).Error; err != nil {
		return nil, err
	}
	in := func(t *time.Time) bool { return t != nil && !t.Before(from) && t.Before(to) }
	idx := map[string]int{}
	out := make([]MonthStats, 0, len(svcs)+1)
	for _, s := range svcs {
		idx[s.Service] = len(out)
		out = append(out, MonthStats{Service: s.Service})
	}
	total := len(out)
	out = append(out, MonthStats{})
	lead := make([]time.Duration, len(out))
	nLead := make([]int, len(out))
	for _, b := range rows {
		i, ok := idx[b.Service]
		if !ok {
			continue
		}
		for _, j := range []int{i, total} {
			r := &out[j]
			if in(&b.CreatedAt) {
				r.Booked++
				if b.FirstFreeAt != nil {
					lead[j] += b.FirstFreeAt.Sub(b.CreatedAt)
					nLead[j]++
				}
			}
			if b.Status == StatusCancelled && in(b.CancelledAt) && !replaced[b.CancelReason] {
				r.Cancelled++
			}
			if in(&b.StartsAt) {
				switch b.Status {
				case StatusNoShow:
					r.NoShow++
				case StatusCheckedIn:
					r.CheckedIn++
				}
			}
		}
	}
	for j := range out {
		out[j].LeadDays = -1
		if nLead[j] > 0 {
			out[j].LeadDays = (lead[j] / time.Duration(nLead[j])).Hours() / 24
		}
	}
	return out, nil
}

// statsChoice reads the office and month of the statistics pages.
func (m *Module) statsChoice(c echo.Context) (Office, time.Time, []Office, error) {
	offices, err := m.offices(c)
	if err != nil {
		return Office{}, time.Time{}, nil, err
	}
	if len(offices) == 0 {
		return Office{}, time.Time{}, nil, web.ErrNotFound
	}
	office := offices[0]
	if id := c.QueryParam("ufficio"); id != "" {
		found := false
		for _, o := range offices {
			if o.ID == id {
				office, found = o, true
			}
		}
		if !found {
			return Office{}, time.Time{}, nil, web.ErrNotFound
		}
	}
	month := m.now().In(rome)
	if s := c.QueryParam("mese"); s != "" {
		t, err := time.ParseInLocation("2006-01", s, rome)
		if err != nil || t.Year() < 2000 || t.Year() > 2100 {
			return Office{}, time.Time{}, nil, web.NewError(http.StatusBadRequest, "appuntamenti.stats.bad_month")
		}
		month = t
	}
	return office, month, offices, nil
}

func (m *Module) statsPage(c echo.Context) error {
	office, month, offices, err := m.statsChoice(c)
	if err != nil {
		return err
	}
	rows, err := m.OfficeMonthStats(c.Request().Context(), office.ID, month)
	if err != nil {
		return err
	}
	return m.render.Render(c, http.StatusOK, ID+"/stats.html", map[string]any{
		"Offices": offices, "Office": office, "Month": month.Format("2006-01"), "Rows": rows})
}

func (m *Module) statsCSV(c echo.Context) error {
	office, month, _, err := m.statsChoice(c)
	if err != nil {
		return err
	}
	rows, err := m.OfficeMonthStats(c.Request().Context(), office.ID, month)
	if err != nil {
		return err
	}
	lang := web.Lang(c)
	t := func(k string) string { return m.i18n.T(lang, k) }
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Comma = ';' // what spreadsheets set to Italian expect
	_ = w.Write([]string{t("appuntamenti.stats.month"), t("appuntamenti.field.service"), t("appuntamenti.stats.booked"),
		t("appuntamenti.stats.cancelled"), t("appuntamenti.stats.no_show"), t("appuntamenti.stats.checked_in"), t("appuntamenti.stats.lead_days")})
	for _, r := range rows {
		name := t("appuntamenti.stats.total")
		if r.Service != "" {
			name = t("appuntamenti.service." + r.Service)
		}
		lead := ""
		if r.LeadDays >= 0 {
			lead = strconv.FormatFloat(r.LeadDays, 'f', 1, 64)
			if lang != "en" {
				lead = strings.Replace(lead, ".", ",", 1)
			}
		}
		_ = w.Write([]string{month.Format("2006-01"), name, strconv.Itoa(r.Booked), strconv.Itoa(r.Cancelled),
			strconv.Itoa(r.NoShow), strconv.Itoa(r.CheckedIn), lead})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="appuntamenti-%s-%s.csv"`, office.ID, month.Format("2006-01")))
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}
