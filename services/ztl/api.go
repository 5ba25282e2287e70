package ztl

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/web"
)

// apiError is the body of every refusal of the gate API.
type apiError struct {
	Error   string     `json:"error"`
	Message string     `json:"message"`
	Rows    []rowError `json:"rows,omitempty"`
}

// rowError is a refused row of a transit batch.
type rowError struct {
	Row     int    `json:"row"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (m *Module) apiFail(c echo.Context, status int, code, key string, rows []rowError) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, apiError{Error: code, Message: m.render.I18n().T(web.Lang(c), key), Rows: rows})
}

// gateKey authenticates the request's key ("Authorization: Bearer ztl_..."); a
// refused key is a security event in the audit log.
func (m *Module) gateKey(c echo.Context) (*GateKey, error) {
	ctx := c.Request().Context()
	key, _ := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
	k, err := checkKey(ctx, m.store(ctx), strings.TrimSpace(key), m.clock())
	if err == nil {
		return k, nil
	}
	code, msg := "", ""
	switch {
	case errors.Is(err, errNoKey):
		code, msg = "no_key", "ztl.api.no_key"
	case errors.Is(err, errBadKey):
		code, msg = "bad_key", "ztl.api.bad_key"
	case errors.Is(err, errRevokedKey):
		code, msg = "revoked_key", "ztl.api.revoked_key"
	default:
		return nil, err
	}
	e := web.AuditEntry(c, "security.ztl_key_refused")
	e.Outcome, e.ObjectType = audit.Denied, "gate_key"
	if k != nil {
		e.ObjectID = strconv.FormatInt(k.ID, 10)
	}
	e.Details = map[string]any{"reason": code, "path": c.Request().URL.Path}
	if err := audit.Record(ctx, m.store(ctx), e); err != nil {
		return nil, err
	}
	c.Response().Header().Set("WWW-Authenticate", `Bearer realm="ztl"`)
	return nil, m.apiFail(c, http.StatusUnauthorized, code, msg, nil)
}

// errHandled marks a request already answered.
var errHandled = errors.New("ztl: answered")

func (m *Module) apiZone(c echo.Context) (string, error) {
	ctx := c.Request().Context()
	z := strings.ToUpper(strings.TrimSpace(c.QueryParam("zone")))
	zs, err := zones(ctx, m.store(ctx))
	if err != nil {
		return "", err
	}
	for _, x := range zs {
		if x.Code == z {
			return z, nil
		}
	}
	return "", m.apiFail(c, http.StatusBadRequest, "bad_zone", "ztl.api.bad_zone", nil)
}

// whitelistItem is one plate of the whitelist in JSON.
type whitelistItem struct {
	Plate   string    `json:"plate"`
	Country string    `json:"country"`
	Until   time.Time `json:"until"`
}

// CursorOf is the "changes since" cursor of the instant t (RFC 3339, UTC).
func CursorOf(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (m *Module) apiWhitelist(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := m.gateKey(c); err != nil {
		return err
	}
	zone, err := m.apiZone(c)
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format == "" && strings.Contains(c.Request().Header.Get("Accept"), "text/csv") {
		format = "csv"
	}
	if format != "" && format != "csv" && format != "json" {
		return m.apiFail(c, http.StatusBadRequest, "bad_format", "ztl.api.bad_format", nil)
	}
	now := m.clock()
	db := m.store(ctx)
	ente := enti.FromContext(ctx)
	v, err := version(ctx, db, ente.ID, now)
	if err != nil {
		return err
	}
	etag := `"` + zone + "-" + format + "-" + v + `"`
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, no-cache")
	h.Set("Vary", "Accept, Authorization")
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		return c.NoContent(http.StatusNotModified)
	}
	cached, err := m.exported(ctx, ente.ID, zone, format, v, now)
	if err != nil {
		return err
	}
	if format == "csv" {
		h.Set("X-Whitelist-Cursor", CursorOf(now))
		return c.Blob(http.StatusOK, "text/csv; charset=utf-8", cached.body)
	}
	// The envelope around the cached plates: at and cursor are this answer's.
	var b bytes.Buffer
	b.Grow(len(cached.body) + 256)
	head, _ := json.Marshal(struct {
		Zone    string    `json:"zone"`
		At      time.Time `json:"at"`
		Cursor  string    `json:"cursor"`
		Count   int       `json:"count"`
		Version string    `json:"version"`
	}{zone, now, CursorOf(now), cached.count, v})
	b.Write(head[:len(head)-1])
	b.WriteString(`,"plates":`)
	b.Write(cached.body)
	b.WriteString("}\n")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b.Bytes())
}

// exportedList is an encoded whitelist of one zone at one version.
type exportedList struct {
	version string
	count   int
	body    []byte
}

// exported returns the zone's plates encoded in format, from the process's cache
// when the version has not changed. The version fingerprints every write and every
// start and end that has passed (see version), so the plates allowed at two instants
// with the same version are the same: many gates fetching the full list cost one
// query per change, not one per request. One entry per ente, zone and format.
func (m *Module) exported(ctx context.Context, ente, zone, format, v string, now time.Time) (*exportedList, error) {
	key := ente + "|" + zone + "|" + format
	if e, ok := m.exports.Load(key); ok && e.(*exportedList).version == v {
		return e.(*exportedList), nil
	}
	list, err := allowedAt(ctx, m.store(ctx), zone, now)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if format == "csv" {
		w := csv.NewWriter(&b)
		_ = w.Write([]string{"plate", "country", "until"})
		for _, a := range list {
			_ = w.Write([]string{a.Plate, a.Country, a.Until.Format(time.RFC3339)})
		}
		w.Flush()
	} else {
		items := make([]whitelistItem, len(list))
		for i, a := range list {
			items[i] = whitelistItem{Plate: a.Plate, Country: a.Country, Until: a.Until}
		}
		if err := json.NewEncoder(&b).Encode(items); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1) // the encoder's newline
	}
	e := &exportedList{version: v, count: len(list), body: b.Bytes()}
	m.exports.Store(key, e)
	return e, nil
}

// etagMatch applies If-None-Match (a list of entity tags, or "*"), weakly.
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// changeItem is one plate of a "changes since" answer.
type changeItem struct {
	Plate   string     `json:"plate"`
	Country string     `json:"country"`
	Allowed bool       `json:"allowed"`
	Until   *time.Time `json:"until"`
}

type changesBody struct {
	Zone    string       `json:"zone"`
	Since   string       `json:"since"`
	Cursor  string       `json:"cursor"`
	Changes []changeItem `json:"changes"`
}

func (m *Module) apiChanges(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := m.gateKey(c); err != nil {
		return err
	}
	zone, err := m.apiZone(c)
	if err != nil {
		return err
	}
	now := m.clock()
	since, err := time.Parse(time.RFC3339Nano, c.QueryParam("since"))
	if err != nil || since.After(now) {
		return m.apiFail(c, http.StatusBadRequest, "bad_since", "ztl.api.bad_since", nil)
	}
	list, err := changesSince(ctx, m.store(ctx), zone, since, now)
	if err != nil {
		return err
	}
	body := changesBody{Zone: zone, Since: c.QueryParam("since"), Cursor: CursorOf(now), Changes: make([]changeItem, len(list))}
	for i, ch := range list {
		body.Changes[i] = changeItem{Plate: ch.Plate, Country: ch.Country, Allowed: ch.Allowed, Until: ch.Until}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, body)
}

// Transit batch limits.
const (
	MaxTransitRows  = 200
	MaxPhotoBytes   = 512 << 10
	maxRecordIDLen  = 100
	maxGateLen      = 60
	transitMaxAhead = 5 * time.Minute
)

// transitIn is one row a gate system posts.
type transitIn struct {
	ID      string `json:"id"`
	Plate   string `json:"plate"`
	Country string `json:"country"`
	Gate    string `json:"gate"`
	Zone    string `json:"zone"`
	At      string `json:"at"`
	Photo   string `json:"photo"`
}

type transitBatch struct {
	Transits []transitIn `json:"transits"`
}

type transitResult struct {
	Received   int `json:"received"`
	Stored     int `json:"stored"`
	Duplicates int `json:"duplicates"`
}

func (m *Module) apiTransits(c echo.Context) error {
	ctx := c.Request().Context()
	k, err := m.gateKey(c)
	if err != nil {
		return err
	}
	var batch transitBatch
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&batch); err != nil {
		return m.apiFail(c, http.StatusBadRequest, "bad_json", "ztl.api.bad_json", nil)
	}
	if len(batch.Transits) == 0 || len(batch.Transits) > MaxTransitRows {
		return m.apiFail(c, http.StatusUnprocessableEntity, "bad_batch", "ztl.api.bad_batch", nil)
	}
	db := m.store(ctx)
	retention := m.settingsFor(ctx).PhotoRetentionDays
	zs, err := zones(ctx, db)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, z := range zs {
		known[z.Code] = true
	}
	now := m.clock()
	lang := web.Lang(c)
	T := func(key string) string { return m.render.I18n().T(lang, key) }
	var rows []Transit
	var bad []rowError
	seen := map[string]bool{}
	for i, in := range batch.Transits {
		fail := func(field, key string) { bad = append(bad, rowError{Row: i, Field: field, Message: T(key)}) }
		n := len(bad)
		id := strings.TrimSpace(in.ID)
		switch {
		case id == "" || len(id) > maxRecordIDLen || !utf8.ValidString(id):
			fail("id", "ztl.api.row_id")
		case seen[id]:
			fail("id", "ztl.api.row_id_repeated")
		}
		seen[id] = true
		p, perr := ParsePlate(in.Plate, in.Country)
		if perr != nil {
			fail("plate", perr.Error())
		}
		gate := strings.TrimSpace(in.Gate)
		if gate == "" || len(gate) > maxGateLen {
			fail("gate", "ztl.api.row_gate")
		}
		if !known[strings.ToUpper(in.Zone)] {
			fail("zone", "ztl.api.bad_zone")
		}
		at, terr := time.Parse(time.RFC3339, in.At)
		if terr != nil || at.After(now.Add(transitMaxAhead)) || at.Before(now.AddDate(0, 0, -retention)) {
			fail("at", "ztl.api.row_at")
		}
		var photo []byte
		var ptype string
		if in.Photo != "" {
			b, derr := base64.StdEncoding.DecodeString(in.Photo)
			ptype = http.DetectContentType(b)
			switch {
			case derr != nil:
				fail("photo", "ztl.api.row_photo")
			case len(b) > MaxPhotoBytes:
				fail("photo", "ztl.api.row_photo_size")
			case ptype != "image/jpeg" && ptype != "image/png":
				fail("photo", "ztl.api.row_photo")
			}
			photo = b
		}
		if len(bad) > n {
			continue
		}
		rows = append(rows, Transit{GateKeyID: k.ID, System: k.Name, RecordID: id, Plate: p.String(), Gate: gate,
			Zone: strings.ToUpper(in.Zone), At: at.UTC(), Photo: photo, PhotoType: ptype, CreatedAt: now})
	}
	if len(bad) > 0 {
		return m.apiFail(c, http.StatusUnprocessableEntity, "bad_rows", "ztl.api.bad_rows", bad)
	}
	res := transitResult{Received: len(rows)}
	err = db.Transaction(func(tx *gorm.DB) error {
		for i := range rows {
			r := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows[i])
			if r.Error != nil {
				return r.Error
			}
			res.Stored += int(r.RowsAffected)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ztl: store transits: %w", err)
	}
	res.Duplicates = res.Received - res.Stored
	return c.JSON(http.StatusOK, res)
}

func (m *Module) apiSpec(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, "application/yaml", openAPI)
}
