package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// AxeTags are the axe-core rule tags every page is checked against: WCAG 2.0 and 2.1,
// levels A and AA, the level Italian public administrations must meet.
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// axePath is axe-core's browser build, from the npm package pinned in package.json.
const axePath = "node_modules/axe-core/axe.min.js"

var (
	axeOnce sync.Once
	axeJS   string
	axeErr  error
)

// axeSource returns the text of axe.min.js, read once per test binary.
func axeSource(t testing.TB) string {
	t.Helper()
	axeOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			axeErr = err
			return
		}
		b, err := os.ReadFile(filepath.Join(root, axePath))
		if err != nil {
			axeErr = fmt.Errorf("%w (run `make assets`, which runs npm ci)", err)
			return
		}
		axeJS = string(b)
	})
	if axeErr != nil {
		t.Fatalf("e2e: axe-core: %v", axeErr)
	}
	return axeJS
}

// axeResult is the part of axe.run's results the harness reads.
type axeResult struct {
	Version    string       `json:"version"`
	URL        string       `json:"url"`
	Passes     int          `json:"passes"`
	Violations []axeProblem `json:"violations"`
	Incomplete []axeProblem `json:"incomplete"`
}

// axeProblem is a rule that failed (or that axe could not decide) on some nodes.
type axeProblem struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  string `json:"target"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// targets lists the CSS targets of the first maxNodes nodes.
func (p axeProblem) targets() string {
	var out []string
	for i, n := range p.Nodes {
		if i == maxNodes {
			out = append(out, fmt.Sprintf("and %d more", len(p.Nodes)-maxNodes))
			break
		}
		out = append(out, n.Target)
	}
	return strings.Join(out, ", ")
}

// axeRun runs the WCAG 2.1 A/AA rules on the whole document and keeps what the report
// needs. A node's target is a list of CSS selectors, one per frame on the way to the
// node, each itself a list inside shadow DOM.
var axeRun = `(() => {
	const problems = list => list.map(v => ({
		id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({
			target: n.target.map(s => Array.isArray(s) ? s.join(' >>> ') : String(s)).join(' | '),
			summary: n.failureSummary || '',
		})),
	}));
	return axe.run(document, {runOnly: {type: 'tag', values: ` + jsList(AxeTags) + `}}).then(r => ({
		version: axe.version, url: r.url, passes: r.passes.length,
		violations: problems(r.violations), incomplete: problems(r.incomplete),
	}));
})()`

// maxNodes is how many offending nodes of one rule a report lists.
const maxNodes = 5

// CheckA11y runs axe-core on the current page with the rules of AxeTags and reports
// each violation as an error of t: rule id, impact, help text and link, the CSS
// targets of the first offending nodes and axe's explanation for the first one. What
// axe cannot decide alone ("incomplete", such as contrast over a background image) is
// logged for a human to review. It also reports form labels that other text covers
// (see labelOverlapsJS), which axe does not check, and the page's reflow at 320 px
// (CheckReflow: nothing past the viewport, no text over text). It marks the page as
// checked.
//
// About the Content-Security-Policy: the portal sends script-src 'self' with neither
// 'unsafe-inline' nor 'unsafe-eval'. Evaluating axe.min.js with Runtime.evaluate is
// not an inline <script>, so the policy does not stop the injection, and the protocol
// exempts the synchronous part of an evaluation from 'unsafe-eval' too (its parameter
// allowUnsafeEvalBlockedByCSP defaults to true). That exemption ends when the
// evaluation returns, though: in the page's own world, new Function() in a timer or
// promise callback throws "EvalError: ... 'unsafe-eval' is not an allowed source of
// script" (tried: it does). axe.run is asynchronous and axe builds some functions with
// new Function() (its message templates, es5-ext helpers), so in the page's world a
// rule could break depending on when axe compiles them. Hence axe runs in an isolated
// world (Page.createIsolatedWorld, the kind of context extensions' content scripts
// get): it shares the page's DOM and computed styles, but has its own globals and no
// CSP. Page.setBypassCSP(true) before navigating would work too, but it switches the
// CSP off for the whole page: the journeys would no longer test the pages under the
// policy citizens get, and a CSP violation of the portal's own scripts or styles (a
// console error, which fails the test) would go unseen. The isolated world is made
// afresh for each check (a navigation destroys it). Limitation: from there axe does
// not descend into iframes; the portal has none.
func (b *Browser) CheckA11y(t testing.TB) {
	t.Helper()
	src := axeSource(t)
	res := run(b, "run axe-core", func(ctx context.Context, tg *chromedp.Target) (axeResult, error) {
		var res axeResult
		tree, err := cdp.Call(ctx, tg, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			return res, err
		}
		world, err := cdp.Call(ctx, tg, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{
			FrameID: tree.FrameTree.Frame.ID, WorldName: "e2e-axe",
		})
		if err != nil {
			return res, err
		}
		for _, expr := range []string{src, axeRun} {
			r, err := cdp.Call(ctx, tg, runtime.Evaluate, runtime.EvaluateParams{
				Expression: expr, ContextID: world.ExecutionContextID,
				ReturnByValue: new(true), AwaitPromise: new(true),
			})
			if err == nil && r.ExceptionDetails != nil {
				err = &chromedp.ExceptionError{ExceptionDetails: r.ExceptionDetails}
			}
			if err != nil {
				return res, err
			}
			if expr == axeRun {
				err = json.Unmarshal(r.Result.Value, &res)
			}
			if err != nil {
				return res, err
			}
		}
		return res, nil
	})
	where := res.URL
	if u := strings.TrimPrefix(where, b.BaseURL); b.BaseURL != "" && u != where {
		where = u
	}
	for _, v := range res.Violations {
		var summary string
		if len(v.Nodes) > 0 && v.Nodes[0].Summary != "" {
			summary = "\n\tfirst node: " + strings.ReplaceAll(strings.TrimSpace(v.Nodes[0].Summary), "\n", "\n\t\t")
		}
		t.Errorf("axe-core on %s: %s (impact %s): %s\n\t%s\n\tnodes (%d): %s%s",
			where, v.ID, v.Impact, v.Help, v.HelpURL, len(v.Nodes), v.targets(), summary)
	}
	msg := fmt.Sprintf("axe-core %s on %s: %d rules passed, %d violated", res.Version, where, res.Passes, len(res.Violations))
	for _, v := range res.Incomplete {
		msg += fmt.Sprintf("\n\tto review by hand: %s (%s), %d nodes: %s", v.ID, v.Help, len(v.Nodes), v.targets())
		if len(v.Nodes) > 0 && v.Nodes[0].Summary != "" {
			msg += "\n\t\tfirst node: " + strings.Join(strings.Fields(v.Nodes[0].Summary), " ")
		}
	}
	t.Log(msg)
	b.checkLabelOverlaps(t, where)
	b.CheckReflow(t, where)
	eval[bool](b, `(window.__e2eA11y = 'checked') !== ''`)
}

// labelOverlap is a form field's label whose text another text covers.
type labelOverlap struct {
	Field  string  `json:"field"`  // the labelled control's id
	Label  string  `json:"label"`  // the label's text
	Other  string  `json:"other"`  // the covering text's element, as tag
	Text   string  `json:"text"`   // the covering text
	Width  float64 `json:"width"`  // size of the overlap, CSS pixels
	Height float64 `json:"height"` //
}

// labelOverlapsJS finds form labels whose text overlaps other visible text, which
// axe-core does not look for. Bootstrap Italia positions a field's label absolutely,
// raised above the field, so the label covers whatever sits just above it unless the
// layout leaves room (a fieldset's legend, say). Text boxes are those of the text's
// lines (Range.getClientRects), trimmed by a fifth of their height at the top and at
// the bottom, where the font keeps room for accents and descenders: text that comes
// close without touching is not reported.
const labelOverlapsJS = `(() => {
	const shown = e => { for (; e; e = e.parentElement) { const s = getComputedStyle(e);
		if (s.display === 'none' || s.visibility === 'hidden' || s.opacity === '0') return false;
		const r = e.getBoundingClientRect();
		if (s.overflow !== 'visible' && (r.width <= 1 || r.height <= 1)) return false; } return true; };
	const lines = root => { const out = []; const w = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
		for (let n; (n = w.nextNode());) {
			if (!n.textContent.trim() || !shown(n.parentElement)) continue;
			const r = document.createRange(); r.selectNodeContents(n);
			for (const q of r.getClientRects()) { const trim = q.height / 5;
				if (q.width > 1 && q.height > 1) out.push({n, l: q.left, r: q.right, t: q.top + trim, b: q.bottom - trim}); } }
		return out; };
	const all = lines(document.body), out = [], seen = new Set();
	for (const label of document.querySelectorAll('label')) {
		const c = label.control;
		if (!c || !shown(label)) continue;
		for (const a of lines(label)) for (const o of all) {
			if (label.contains(o.n) || c.contains(o.n)) continue;
			const w = Math.min(a.r, o.r) - Math.max(a.l, o.l), h = Math.min(a.b, o.b) - Math.max(a.t, o.t);
			const key = (c.id || c.name) + '|' + o.n.parentElement.tagName + '|' + o.n.textContent;
			if (w > 2 && h > 2 && !seen.has(key)) { seen.add(key);
				out.push({field: c.id || c.name, label: label.innerText.trim(), other: o.n.parentElement.tagName.toLowerCase(),
					text: o.n.textContent.trim(), width: Math.round(w), height: Math.round(h)}); }
		}
	}
	return out;
})()`

// checkLabelOverlaps reports, as errors of t, the form labels of the current page whose
// text other text covers: such a label cannot be read, and neither can what covers it.
// CheckA11y runs it on every page.
func (b *Browser) checkLabelOverlaps(t testing.TB, where string) {
	t.Helper()
	for _, o := range eval[[]labelOverlap](b, labelOverlapsJS) {
		t.Errorf("layout on %s: the label %q of #%s overlaps the text %q of a <%s> (by %gx%g px): move them apart",
			where, abbrev(o.Label), o.Field, abbrev(o.Text), o.Other, o.Width, o.Height)
	}
}

// SkipA11y marks the current page as deliberately not checked, for a page that axe
// cannot judge (a PDF, say). The reason goes to the test log.
func (b *Browser) SkipA11y(reason string) {
	b.t.Helper()
	b.t.Logf("e2e: accessibility check of %s skipped: %s", b.Location(), reason)
	eval[bool](b, `(window.__e2eA11y = 'skipped') !== ''`)
}

// leavePage reports the current page if the journey is leaving it (or ending on it)
// without CheckA11y or SkipA11y. Each page is reported once.
func (b *Browser) leavePage() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	type state struct {
		URL   string `json:"url"`
		State string `json:"state"`
	}
	st, err := chromedp.Run(ctx, chromedp.Evaluate[state](
		`(s => (window.__e2eA11y = s || 'reported', {url: location.href, state: s}))(window.__e2eA11y || '')`))
	if err != nil {
		b.t.Logf("e2e: cannot tell whether %s was checked: %v", b.location(), err)
		return
	}
	if st.State == "" && (strings.HasPrefix(st.URL, "http://") || strings.HasPrefix(st.URL, "https://")) {
		b.t.Errorf("e2e: the journey left %s without an accessibility check: call CheckA11y (or VisitAndCheck), or SkipA11y with a reason", st.URL)
	}
}

func jsList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = jsString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
