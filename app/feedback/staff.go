package feedback

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"
	"github.com/comuni-italiani/sportello/app/web"
)

// RatingsPath is where the page ratings' back-office view is mounted.
const RatingsPath = "/backoffice/valutazioni"

// Period is a range of days, both ends included, in the comune's time (Europe/Rome).
// A zero end is open.
type Period struct {
	From, To time.Time
}

// bounds returns the instants [from, to) of the period.
func (p Period) bounds() (from, to time.Time) {
	if !p.From.IsZero() {
		from = time.Date(p.From.Year(), p.From.Month(), p.From.Day(), 0, 0, 0, 0, web.Rome).UTC()
	}
	if !p.To.IsZero() {
		to = time.Date(p.To.Year(), p.To.Month(), p.To.Day(), 0, 0, 0, 0, web.Rome).AddDate(0, 0, 1).UTC()
	}
	return from, to
}

func (p Period) scope(db *gorm.DB) *gorm.DB {
	from, to := p.bounds()
	if !from.IsZero() {
		db = db.Where("created_at >= ?", from)
	}
	if !to.IsZero() {
		db = db.Where("created_at < ?", to)
	}
	return db
}

// PageCounts is the answers given about one page in a period: how many chose each
// score (Scores[0] is "Per niente chiare", Scores[4] "Molto chiare").
type PageCounts struct {
	Path   string
	Total  int64
	Scores [5]int64
	// Average is the mean score times 10 (42 = 4.2).
	Average int64
}

// AverageText is the average as Italian write it ("4,2").
func (p PageCounts) AverageText() string { return fmt.Sprintf("%d,%d", p.Average/10, p.Average%10) }

// PageCountsIn returns, for every page rated in the period, the number of answers per
// score, pages with the lowest average first (the ones to fix), then by path. db must
// be scoped to the ente.
func PageCountsIn(ctx context.Context, db *gorm.DB, p Period) ([]PageCounts, error) {
	var rows []struct {
		Path  string
		Score int
		N     int64
	}
	err := p.scope(db.WithContext(ctx).Model(&PageRating{})).Select("path, score, COUNT(*) AS n").
		Group("path, score").Order("path, score").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	var out []PageCounts
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].Path != r.Path {
			out = append(out, PageCounts{Path: r.Path})
		}
		pc := &out[len(out)-1]
		if r.Score >= 1 && r.Score <= 5 {
			pc.Scores[r.Score-1] += r.N
			pc.Total += r.N
		}
	}
	for i := range out {
		var sum int64
		for s, n := range out[i].Scores {
			sum += int64(s+1) * n
		}
		if out[i].Total > 0 {
			out[i].Average = (sum*10 + out[i].Total/2) / out[i].Total
		}
	}
	// Worst first: a stable insertion sort keeps the path order among equals.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Average < out[j-1].Average; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// Comments returns the answers with a comment in the period, newest first, at most
// limit. db must be scoped to the ente.
func Comments(ctx context.Context, db *gorm.DB, p Period, limit int) ([]PageRating, error) {
	var out []PageRating
	err := p.scope(db.WithContext(ctx)).Where("comment <> ''").Order("created_at DESC, id").Limit(limit).Find(&out).Error
	return out, err
}

// ratingsPage is the data of the back-office view.
type ratingsPage struct {
	From, To string
	Errors   web.FormErrors
	Pages    []PageCounts
	Answers  int64
	Comments []PageRating
	// More is true when there are more comments than shown.
	More  bool
	Query string
}

// maxComments is how many comments the page shows (the CSV has them all).
const maxComments = 100

// RatingsDeps is what the view needs.
type RatingsDeps struct {
	DB     *gorm.DB
	Render *web.Renderer
}

// Router is what the view registers its routes on, with the caller's guards attached.
type Router interface {
	GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
}

// MountRatings registers the view on r (mounted at RatingsPath, behind the staff role
// guard): GET "" shows the counts per page and per answer and the comments for the
// period ?dal=&al= (yyyy-mm-dd); ?formato=csv downloads the counts, ?formato=csv&
// dati=commenti every comment of the period.
func MountRatings(r Router, d RatingsDeps) {
	h := func(c echo.Context) error { return ratings(c, d) }
	r.GET("", h)
	r.GET("/", h)
}

func ratings(c echo.Context, d RatingsDeps) error {
	ctx := c.Request().Context()
	db := enti.For(ctx, d.DB)
	p := ratingsPage{From: strings.TrimSpace(c.QueryParam("dal")), To: strings.TrimSpace(c.QueryParam("al")), Errors: web.FormErrors{}}
	var period Period
	parse := func(field, v string) time.Time {
		if v == "" {
			return time.Time{}
		}
		t, err := time.ParseInLocation("2006-01-02", v, web.Rome)
		if err != nil {
			p.Errors.Add(field, "feedback.staff.date_invalid")
		}
		return t
	}
	period.From, period.To = parse("dal", p.From), parse("al", p.To)
	if !p.Errors.Any() && !period.From.IsZero() && !period.To.IsZero() && period.To.Before(period.From) {
		p.Errors.Add("al", "feedback.staff.period_reversed")
	}
	if p.Errors.Any() {
		return d.Render.Render(c, http.StatusUnprocessableEntity, "backoffice/ratings.html", p)
	}
	q := make([]string, 0, 2)
	if p.From != "" {
		q = append(q, "dal="+p.From)
	}
	if p.To != "" {
		q = append(q, "al="+p.To)
	}
	p.Query = strings.Join(q, "&")
	if c.QueryParam("formato") == "csv" {
		if c.QueryParam("dati") == "commenti" {
			return commentsCSV(c, db, period, p)
		}
		return countsCSV(c, db, period, p)
	}
	var err error
	if p.Pages, err = PageCountsIn(ctx, db, period); err != nil {
		return err
	}
	for _, pc := range p.Pages {
		p.Answers += pc.Total
	}
	if p.Comments, err = Comments(ctx, db, period, maxComments+1); err != nil {
		return err
	}
	if len(p.Comments) > maxComments {
		p.Comments, p.More = p.Comments[:maxComments], true
	}
	return d.Render.Render(c, http.StatusOK, "backoffice/ratings.html", p)
}

// cell keeps a spreadsheet from reading a comment as a formula (CSV injection).
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func csvName(kind string, p ratingsPage) string {
	name := "valutazioni-" + kind
	if p.From != "" {
		name += "-dal-" + p.From
	}
	if p.To != "" {
		name += "-al-" + p.To
	}
	return name + ".csv"
}

func sendCSV(c echo.Context, name string, rows [][]string) error {
	var b strings.Builder
	b.WriteString("\ufeff") // so that spreadsheet programs read UTF-8
	w := csv.NewWriter(&b)
	w.Comma = ';' // the separator Italian spreadsheets expect
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s"`, name))
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", []byte(b.String()))
}

func countsCSV(c echo.Context, db *gorm.DB, period Period, p ratingsPage) error {
	pages, err := PageCountsIn(c.Request().Context(), db, period)
	if err != nil {
		return err
	}
	rows := [][]string{{"pagina", "risposte", "per_niente_chiare", "poco_chiare", "abbastanza_chiare", "chiare", "molto_chiare", "media"}}
	for _, pc := range pages {
		row := []string{cell(pc.Path), strconv.FormatInt(pc.Total, 10)}
		for _, n := range pc.Scores {
			row = append(row, strconv.FormatInt(n, 10))
		}
		row = append(row, pc.AverageText())
		rows = append(rows, row)
	}
	return sendCSV(c, csvName("pagine", p), rows)
}

func commentsCSV(c echo.Context, db *gorm.DB, period Period, p ratingsPage) error {
	list, err := Comments(c.Request().Context(), db, period, 100000)
	if err != nil {
		return err
	}
	rows := [][]string{{"data", "pagina", "voto", "commento"}}
	for _, r := range list {
		rows = append(rows, []string{r.CreatedAt.In(web.Rome).Format("02/01/2006 15:04"), cell(r.Path),
			strconv.Itoa(r.Score), cell(r.Comment)})
	}
	return sendCSV(c, csvName("commenti", p), rows)
}
