package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that keeps errors instead of failing, so that the harness
// can show that its own checks fire. Once passthrough is set, errors go to the test.
type recorder struct {
	testing.TB
	mu          sync.Mutex
	errs        []string
	passthrough bool
}

func (r *recorder) Errorf(format string, args ...any) {
	r.TB.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.passthrough {
		r.TB.Errorf(format, args...)
		return
	}
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

// want fails t unless a recorded error contains every part, and forgets that error.
func (r *recorder) want(t *testing.T, parts ...string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.errs {
		found := true
		for _, p := range parts {
			found = found && strings.Contains(e, p)
		}
		if found {
			r.errs = slices.Delete(r.errs, i, i+1)
			return
		}
	}
	t.Errorf("want an error containing %q; got %d errors:\n%s", parts, len(r.errs), strings.Join(r.errs, "\n"))
}

// TestHarnessCatchesMistakes shows that the checks of the harness fire: a page left
// without an accessibility check is reported, axe-core, injected into a page under
// the portal's Content-Security-Policy, finds violations planted in it, and so does
// the check of labels covered by other text. A checker that
// silently passes everything would make every journey worthless.
func TestHarnessCatchesMistakes(t *testing.T) {
	Require(t)
	t.Parallel()
	p := StartPortal(t, PortalOptions{})
	rec := &recorder{TB: t}
	b := NewBrowser(rec)
	b.BaseURL = p.URL

	b.Visit("/")
	b.Visit("/servizi")
	rec.want(t, "left "+p.URL+"/ without an accessibility check")

	eval[bool](b, `(document.querySelector('main').insertAdjacentHTML('beforeend',
		'<img src="/static/img/stemma.svg" id="e2e-no-alt"><input type="text" id="e2e-no-label">'), true)`)
	// A label raised over the heading above its field (styles set from script: the
	// CSP refuses inline style attributes).
	eval[bool](b, `(() => { const m = document.querySelector('main');
		m.insertAdjacentHTML('beforeend', '<h2 class="h4">Titolo piantato</h2><div id="e2e-box"><label for="e2e-covered">Etichetta piantata</label><input type="text" id="e2e-covered"></div>');
		document.querySelector('#e2e-box').style.position = 'relative';
		const l = document.querySelector('label[for=e2e-covered]').style; l.position = 'absolute'; l.top = '-1.6em';
		return true; })()`)
	b.CheckA11y(rec)
	rec.want(t, "axe-core on /servizi: image-alt (impact critical)", "#e2e-no-alt", "https://dequeuniversity.com/rules/axe/")
	rec.want(t, "axe-core on /servizi: label (impact critical)", "#e2e-no-label", "first node: Fix any of the following")
	rec.want(t, `layout on /servizi: the label "Etichetta piantata" of #e2e-covered overlaps the text "Titolo piantato" of a <h2>`)
	// The reflow check at 320 px sees the same overlap.
	rec.want(t, `reflow on /servizi at 320 px: the text "Titolo piantato" of a <h2> overlaps "Etichetta piantata" of a <label>`)

	rec.mu.Lock()
	rec.passthrough = true // from here on (and in the cleanups) errors are real
	for _, e := range rec.errs {
		t.Errorf("unexpected: %s", e)
	}
	rec.mu.Unlock()
}
