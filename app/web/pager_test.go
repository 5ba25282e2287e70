package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestNewPagerLinks(t *testing.T) {
	u := func(n int) string { return "/l?p=" + strconv.Itoa(n) }
	draw := func(p *Pager) string {
		s := ""
		for _, l := range p.Links {
			switch {
			case l.Gap:
				s += "… "
			case l.Current:
				s += "[" + strconv.Itoa(l.Number) + "] "
			default:
				s += strconv.Itoa(l.Number) + " "
			}
		}
		return s
	}
	for _, c := range []struct {
		page  int
		total int64
		want  string
		pages int
	}{
		{1, 0, "[1] ", 1},
		{1, 50, "[1] ", 1},
		{2, 51, "1 [2] ", 2},
		{1, 500, "[1] 2 3 … 10 ", 10},
		{5, 500, "1 … 3 4 [5] 6 7 … 10 ", 10},
		{10, 500, "1 … 8 9 [10] ", 10},
		{4, 500, "1 2 3 [4] 5 6 … 10 ", 10},
	} {
		p, err := NewPager(c.page, 50, c.total, u)
		if err != nil || draw(p) != c.want || p.Pages != c.pages || p.Offset() != (c.page-1)*50 {
			t.Errorf("page %d of %d items: %q %v, want %q", c.page, c.total, draw(p), err, c.want)
			continue
		}
		if (c.page > 1) != (p.Prev == u(c.page-1)) || (c.page < c.pages) != (p.Next == u(c.page+1)) {
			t.Errorf("page %d of %d items: prev %q next %q", c.page, c.total, p.Prev, p.Next)
		}
	}
	for _, bad := range []struct {
		page  int
		total int64
	}{{2, 0}, {3, 100}, {0, 100}} {
		var we *Error
		if _, err := NewPager(bad.page, 50, bad.total, u); !errors.As(err, &we) || we.Status != http.StatusBadRequest || we.Key != "errors.page.beyond" {
			t.Errorf("page %d of %d items: %v", bad.page, bad.total, err)
		}
	}
}

func TestPageParam(t *testing.T) {
	e := echo.New()
	for q, want := range map[string]int{"": 1, "pagina=": 1, "pagina=1": 1, "pagina=7": 7, "pagina=abc": 0, "pagina=0": 0,
		"pagina=-2": 0, "pagina=2.5": 0, "pagina=1000001": 0, "pagina=99999999999999999999": 0} {
		c := e.NewContext(httptest.NewRequest(http.MethodGet, "/l?"+q, nil), httptest.NewRecorder())
		n, err := PageParam(c, "pagina")
		var we *Error
		if want == 0 {
			if !errors.As(err, &we) || we.Status != http.StatusBadRequest || we.Key != "errors.page.invalid" {
				t.Errorf("%q: %d %v, want 400", q, n, err)
			}
		} else if err != nil || n != want {
			t.Errorf("%q: %d %v, want %d", q, n, err, want)
		}
	}
}
