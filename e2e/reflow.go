package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// ReflowWidth is the narrowest viewport every page must fit (WCAG 2.1, 1.4.10 Reflow:
// 320 CSS pixels, the width of 1280 px at 400 % zoom and of the smallest phones).
const ReflowWidth = 320

// reflowProblem is one thing that breaks reflow on the current page.
type reflowProblem struct {
	Kind  string  `json:"kind"` // "wide" (past the viewport) or "overlap" (text over text)
	Tag   string  `json:"tag"`
	Text  string  `json:"text"`
	Other string  `json:"other"` // for an overlap: the other text's element and text
	OText string  `json:"otext"`
	Right float64 `json:"right"` // for "wide": where the text ends, CSS px
	W     float64 `json:"w"`     // for an overlap: its size
	H     float64 `json:"h"`
}

// reflowJS looks at the page as laid out at ReflowWidth and reports text that reaches
// past the viewport (unless a scroll container, such as a table's responsive wrapper,
// holds it: that one scrolls by itself and by keyboard) and text lines that overlap
// other text lines. The label check of a11y.go looks at labels only; this one at
// every element with text. Line boxes are trimmed by a fifth of their height at the
// top and the bottom (room for accents and descenders), as in labelOverlapsJS.
const reflowJS = `(() => {
	const vw = document.documentElement.clientWidth;
	const shown = e => { for (; e; e = e.parentElement) { const s = getComputedStyle(e);
		if (s.display === 'none' || s.visibility === 'hidden' || s.opacity === '0') return false;
		const r = e.getBoundingClientRect();
		if (s.overflow !== 'visible' && (r.width <= 1 || r.height <= 1)) return false; } return true; };
	const scrolled = e => { for (; e && e !== document.body; e = e.parentElement) {
		const x = getComputedStyle(e).overflowX; if (x === 'auto' || x === 'scroll' || x === 'hidden' || x === 'clip') return true; } return false; };
	const out = [], lines = [], seen = new Set();
	const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	for (let n; (n = w.nextNode());) {
		const p = n.parentElement;
		if (!n.textContent.trim() || !p || p.closest('script,style,noscript') || !shown(p)) continue;
		const r = document.createRange(); r.selectNodeContents(n);
		for (const q of r.getClientRects()) {
			if (q.width <= 1 || q.height <= 1) continue;
			const trim = q.height / 5;
			lines.push({n, l: q.left, r: q.right, t: q.top + trim + window.scrollY, b: q.bottom - trim + window.scrollY});
			if ((q.right > vw + 1 || q.left < -1) && !scrolled(p)) {
				const key = 'w|' + n.textContent;
				if (!seen.has(key)) { seen.add(key);
					out.push({kind: 'wide', tag: p.tagName.toLowerCase(), text: n.textContent.trim(), right: Math.round(q.right)}); }
			}
		}
	}
	if (document.documentElement.scrollWidth > vw + 1 && out.length === 0) {
		// No text is out, yet the page scrolls sideways: name the innermost element
		// that sticks out (by tag, id and classes).
		let worst = null;
		for (const e of document.body.querySelectorAll('*')) {
			const r = e.getBoundingClientRect();
			// Tiny elements count too: a visually hidden text positioned outside its
			// table's scroll container widens the page all the same.
			if (r.right > vw + 1 && getComputedStyle(e).display !== 'none' && !scrolled(e.parentElement)) worst = e;
		}
		const name = worst ? worst.tagName.toLowerCase() + (worst.id ? '#' + worst.id : '') +
			[...worst.classList].map(c => '.' + c).join('') : 'html';
		out.push({kind: 'wide', tag: name, text: 'the page scrolls sideways', right: document.documentElement.scrollWidth});
	}
	// Sorted by top, each line is compared only with the lines that start above its
	// bottom: linear on a page of text, rather than every pair.
	lines.sort((x, y) => x.t - y.t);
	for (let i = 0; i < lines.length; i++) for (let j = i + 1; j < lines.length && lines[j].t < lines[i].b; j++) {
		const a = lines[i], o = lines[j];
		if (a.n === o.n) continue;
		const ow = Math.min(a.r, o.r) - Math.max(a.l, o.l), oh = Math.min(a.b, o.b) - Math.max(a.t, o.t);
		if (ow <= 2 || oh <= 2) continue;
		const key = 'o|' + a.n.textContent + '|' + o.n.textContent;
		if (seen.has(key)) continue; seen.add(key);
		out.push({kind: 'overlap', tag: a.n.parentElement.tagName.toLowerCase(), text: a.n.textContent.trim(),
			other: o.n.parentElement.tagName.toLowerCase(), otext: o.n.textContent.trim(), w: Math.round(ow), h: Math.round(oh)});
	}
	return out;
})()`

// CheckReflow lays the current page out ReflowWidth pixels wide (as a phone: touch,
// mobile viewport) and reports as errors of t any text past the viewport's edge that
// no scroll container holds, and any text overlapping other text; then it restores the
// window. CheckA11y runs it on every page.
func (b *Browser) CheckReflow(t testing.TB, where string) {
	t.Helper()
	b.setWidth(ReflowWidth)
	defer b.setWidth(0)
	for _, p := range eval[[]reflowProblem](b, reflowJS) {
		switch p.Kind {
		case "wide":
			t.Errorf("reflow on %s at %d px: the text %q of a <%s> reaches %g px, past the viewport: make it wrap or give it a scroll container",
				where, ReflowWidth, abbrev(p.Text), p.Tag, p.Right)
		default:
			t.Errorf("reflow on %s at %d px: the text %q of a <%s> overlaps %q of a <%s> (by %gx%g px)",
				where, ReflowWidth, abbrev(p.Text), p.Tag, abbrev(p.OText), p.Other, p.W, p.H)
		}
	}
}

// setWidth overrides the viewport's width (0 restores the window's own) and waits for
// two animation frames, so that the page is laid out again before it is measured.
func (b *Browser) setWidth(width int64) {
	b.t.Helper()
	run(b, "resize the viewport", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		if width == 0 {
			_, err = cdp.Call(ctx, tg, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
		} else {
			_, err = cdp.Call(ctx, tg, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
				Width: width, Height: 640, DeviceScaleFactor: 1, Mobile: true,
			})
		}
		return err
	}))
	run(b, "wait for the layout", chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise))
}

// DocScreenshotWidth is the phone width of the screenshots kept in docs/screenshots.
const DocScreenshotWidth = 390

// DocScreenshot saves the current page as a phone shows it (DocScreenshotWidth px
// wide, the first 844 px of the page) to docs/screenshots/<name>.png for reviewers,
// when SPORTELLO_E2E_SCREENSHOTS=1 (so that ordinary runs leave the tree clean).
func (b *Browser) DocScreenshot(name string) {
	b.t.Helper()
	if os.Getenv("SPORTELLO_E2E_SCREENSHOTS") != "1" {
		return
	}
	root, err := moduleRoot()
	if err != nil {
		b.t.Fatalf("e2e: screenshot %s: %v", name, err)
	}
	run(b, "phone viewport", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: DocScreenshotWidth, Height: 844, DeviceScaleFactor: 1, Mobile: true,
		})
		return err
	}))
	defer b.setWidth(0)
	run(b, "wait for the layout", chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise))
	png := run(b, "screenshot "+name, chromedp.CaptureScreenshot())
	dir := filepath.Join(root, "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
