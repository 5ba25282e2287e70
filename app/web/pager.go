package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// MaxPage is the largest page number PageParam accepts.
const MaxPage = 1_000_000

// PageParam reads the 1-based page number of a paginated list from the query
// parameter name ("pagina"). An absent or empty parameter is page 1; anything else
// that is not a whole number from 1 to MaxPage answers 400 with a message naming the
// parameter (errors.page.invalid).
func PageParam(c echo.Context, name string) (int, error) {
	s := strings.TrimSpace(c.QueryParam(name))
	if s == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPage {
		return 0, &Error{Status: http.StatusBadRequest, Key: "errors.page.invalid", Args: []any{"Field", name}}
	}
	return n, nil
}

// Pager is one page of a list shown newest first, PerPage items a page: what the
// pagination partial ("partials/pagination.html") draws.
type Pager struct {
	Page, Pages, PerPage int
	Total                int64
	// Prev and Next are the addresses of the previous and next page ("" on the
	// first and the last).
	Prev, Next string
	// Links are the numbered links: the first and last pages, and two either side
	// of the current one; Gap marks an elided run.
	Links []PageLink
}

// PageLink is one numbered link of a Pager.
type PageLink struct {
	Number  int
	URL     string
	Current bool
	Gap     bool
}

// NewPager returns page page of a list of total items, perPage a page; url gives the
// address of a page. A page past the last one (an empty list has one, empty, page)
// answers 400 naming the number of pages (errors.page.beyond).
func NewPager(page, perPage int, total int64, url func(page int) string) (*Pager, error) {
	if perPage < 1 {
		perPage = 1
	}
	pages := int((total + int64(perPage) - 1) / int64(perPage))
	if pages < 1 {
		pages = 1
	}
	if page < 1 || page > pages {
		return nil, &Error{Status: http.StatusBadRequest, Key: "errors.page.beyond", Args: []any{"Page", page, "Pages", pages}}
	}
	p := &Pager{Page: page, Pages: pages, PerPage: perPage, Total: total}
	if page > 1 {
		p.Prev = url(page - 1)
	}
	if page < pages {
		p.Next = url(page + 1)
	}
	gap := false
	for n := 1; n <= pages; n++ {
		if n != 1 && n != pages && (n < page-2 || n > page+2) {
			if !gap {
				p.Links = append(p.Links, PageLink{Gap: true})
				gap = true
			}
			continue
		}
		gap = false
		p.Links = append(p.Links, PageLink{Number: n, URL: url(n), Current: n == page})
	}
	return p, nil
}

// Offset is the number of items before the page.
func (p *Pager) Offset() int { return (p.Page - 1) * p.PerPage }
