package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// ChromiumPath is the browser the suite drives (Debian's chromium package).
const ChromiumPath = "/usr/bin/chromium"

// ActionTimeout bounds every browser action: a selector that never appears fails the
// test after this long instead of hanging until the suite's timeout.
const ActionTimeout = 15 * time.Second

// Browser is a headless Chromium with one tab, bound to the test that created it. Use
// it from that test's goroutine only (its methods call t.Fatalf). Selectors are CSS.
type Browser struct {
	// BaseURL resolves the relative paths given to Visit and VisitAndCheck; set it to
	// the portal's URL.
	BaseURL string

	t   testing.TB
	ctx context.Context
	// label tells the screenshots of a test's second and later browsers apart ("b2-");
	// empty for its first browser.
	label string

	mu        sync.Mutex
	console   []chromedp.ConsoleMessage // errors and exceptions the pages wrote
	errorDocs map[string]bool           // documents that answered 4xx/5xx on purpose
	lastDoc   *network.Response         // response of the last document loaded by navigation
}

// DefaultLanguage is the Accept-Language of a new Browser: an Italian citizen's. The
// suite does not depend on the host's locale (Chromium says en-US by default).
const DefaultLanguage = "it-IT,it;q=0.9"

// browsersOf counts the browsers each running test has started (test name → *atomic.
// Int32): the first one clears the test's old PNG files, and the later ones name their
// screenshots apart (<test>-b2-failure.png), so a journey with several browsers (a
// citizen and a clerk, say) keeps every screenshot and the files it wrote meanwhile.
var browsersOf sync.Map

// NewBrowser starts a headless Chromium with a fresh profile and a 1280x900 window.
// When t ends, a failed test gets a screenshot of the current page, a page left without
// an accessibility check is reported, and the browser is closed. A test may start
// several browsers (people with separate sessions).
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	Require(t)
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Fatalf("e2e: Chromium is needed at %s: %v (apt-get install chromium)", ChromiumPath, err)
	}
	axeSource(t) // fail before starting a browser when axe-core is missing
	count, started := browsersOf.LoadOrStore(t.Name(), new(atomic.Int32))
	if !started {
		t.Cleanup(func() { browsersOf.Delete(t.Name()) })
	}
	label := ""
	if n := count.(*atomic.Int32).Add(1); n > 1 {
		label = fmt.Sprintf("b%d-", n)
	} else if dir, err := outDir(); err == nil {
		// Screenshots of an earlier run of this test would mislead.
		old, _ := filepath.Glob(filepath.Join(dir, fileName(t.Name())+"-*.png"))
		for _, f := range old {
			_ = os.Remove(f)
		}
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(ChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	b := &Browser{t: t, ctx: ctx, label: label, errorDocs: map[string]bool{}}

	// The first action starts the browser; it must run on the browser's own context,
	// with no timeout (a timeout there would end the browser with it).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("e2e: start Chromium: %v", err)
	}
	b.watchConsole()
	b.SetLanguage(DefaultLanguage)
	// Bootstrap Italia scrolls smoothly unless the user prefers reduced motion. A click
	// is aimed where its element is once scrolled into view; during a smooth scroll it
	// lands elsewhere (seen: a checkbox's label missed after typing in a field above).
	// A person who prefers reduced motion is as real a visitor as any.
	b.EmulateMedia("prefers-reduced-motion", "reduce")

	t.Cleanup(func() {
		if !t.Failed() {
			b.leavePage() // the last page of the journey must have been checked too
		}
		b.reportConsole()
		if t.Failed() {
			if path, err := b.screenshot("failure"); err != nil {
				t.Logf("e2e: no failure screenshot: %v", err)
			} else {
				t.Logf("e2e: screenshot of the page at the failure: %s", path)
			}
		}
	})
	return b
}

// SetLanguage sets the Accept-Language header of every request from now on, such as
// "en-GB,en;q=0.9".
func (b *Browser) SetLanguage(acceptLanguage string) {
	b.t.Helper()
	run(b, "set Accept-Language", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": acceptLanguage},
		})
		return err
	}))
}

// EmulateMedia makes the pages see the CSS media feature name (such as
// "prefers-reduced-motion" or "prefers-color-scheme") with value, from now on, in
// place of the feature emulated before. NewBrowser sets prefers-reduced-motion: reduce.
func (b *Browser) EmulateMedia(name, value string) {
	b.t.Helper()
	run(b, "emulate "+name+": "+value, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: name, Value: value}},
		})
		return err
	}))
}

// run runs one action with ActionTimeout and fails the test with what on error.
func run[T any](b *Browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("e2e: %s (on %s): %v", what, b.location(), err)
	}
	return v
}

// navigate runs an action that leads to a new page, waits until that page has loaded
// and returns the HTTP status of its document.
func (b *Browser) navigate(what string, a chromedp.Action[chromedp.Void]) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, a)
	if err != nil {
		b.t.Fatalf("e2e: %s (on %s): %v", what, b.location(), err)
	}
	return b.status(resp)
}

// eval evaluates a JavaScript expression in the page and decodes its JSON result.
func eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	return run(b, "evaluate "+abbrev(expr), chromedp.Evaluate[T](expr))
}

// resolve makes a path absolute against BaseURL.
func (b *Browser) resolve(ref string) string {
	b.t.Helper()
	if strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://") {
		return ref
	}
	if b.BaseURL == "" {
		b.t.Fatalf("e2e: Visit(%q): relative path but Browser.BaseURL is not set", ref)
	}
	base, err := url.Parse(b.BaseURL)
	if err != nil {
		b.t.Fatalf("e2e: Browser.BaseURL %q: %v", b.BaseURL, err)
	}
	u, err := base.Parse(ref)
	if err != nil {
		b.t.Fatalf("e2e: Visit(%q): %v", ref, err)
	}
	return u.String()
}

// Visit loads ref (an absolute URL, or a path resolved against BaseURL), waits for the
// load event and returns the HTTP status of the document.
func (b *Browser) Visit(ref string) int {
	b.t.Helper()
	b.leavePage()
	u := b.resolve(ref)
	resp := run(b, "visit "+u, chromedp.NavigateResponse(u))
	return b.status(resp)
}

// VisitAndCheck visits path and checks the page's accessibility with axe-core. It
// returns the HTTP status.
func (b *Browser) VisitAndCheck(path string) int {
	b.t.Helper()
	code := b.Visit(path)
	b.CheckA11y(b.t)
	return code
}

// Click clicks the first visible element matching sel, waiting for it to appear. It
// does not wait for a navigation: use Follow or FollowLink for links and Submit for
// forms.
func (b *Browser) Click(sel string) {
	b.t.Helper()
	run(b, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// Follow clicks the element matching sel (a link or a submit button), waits until the
// page it leads to has loaded, and returns its HTTP status.
func (b *Browser) Follow(sel string) int {
	b.t.Helper()
	b.leavePage()
	return b.navigate("follow "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// FollowLink clicks the visible link whose text is text (spaces normalised), as a
// user would choose it, waits for the page it leads to and returns its HTTP status.
func (b *Browser) FollowLink(text string) int {
	b.t.Helper()
	b.leavePage()
	sel := chromedp.Search(fmt.Sprintf(`//a[normalize-space(.)=%s]`, xpathString(text)))
	return b.navigate(fmt.Sprintf("follow the link %q", text), chromedp.Click(sel))
}

// Fill replaces the value of the field matching sel by typing value into it.
func (b *Browser) Fill(sel, value string) {
	b.t.Helper()
	run(b, "wait for "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	// chromedp.Clear empties a textarea by removing its text node, and fails on an
	// empty textarea, which has none: that one needs no clearing.
	empty := eval[bool](b, fmt.Sprintf(`(e => e.tagName === 'TEXTAREA' && e.value === '')(document.querySelector(%s))`, jsString(sel)))
	if !empty {
		run(b, "clear "+sel, chromedp.Clear(chromedp.CSS(sel)))
	}
	run(b, "fill "+sel, chromedp.SendKeys(chromedp.CSS(sel), value))
}

// Submit clicks the submit button matching sel (so its name and value are sent, and
// the browser's own form validation runs), waits for the page the form leads to and
// returns its HTTP status.
func (b *Browser) Submit(sel string) int {
	b.t.Helper()
	return b.Follow(sel)
}

// Text returns the visible text of the first element matching sel, trimmed, waiting
// for it to appear.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(run(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// Texts returns the visible texts of every element matching sel now, trimmed (no
// waiting; empty when nothing matches).
func (b *Browser) Texts(sel string) []string {
	b.t.Helper()
	return eval[[]string](b, fmt.Sprintf(
		`Array.from(document.querySelectorAll(%s), e => e.innerText.trim())`, jsString(sel)))
}

// Count returns how many elements match sel now.
func (b *Browser) Count(sel string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(sel)))
}

// Attr returns the attribute name of the first element matching sel now, and whether
// the element and the attribute exist.
func (b *Browser) Attr(sel, name string) (string, bool) {
	b.t.Helper()
	v := eval[*string](b, fmt.Sprintf(`(e => e ? e.getAttribute(%s) : null)(document.querySelector(%s))`,
		jsString(name), jsString(sel)))
	if v == nil {
		return "", false
	}
	return *v, true
}

// Lang returns the lang attribute of the html element.
func (b *Browser) Lang() string {
	b.t.Helper()
	return eval[string](b, `document.documentElement.lang`)
}

// WaitVisible waits until an element matching sel is visible.
func (b *Browser) WaitVisible(sel string) {
	b.t.Helper()
	run(b, "wait for "+sel+" to be visible", chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Location returns the URL of the current page.
func (b *Browser) Location() string {
	b.t.Helper()
	return run(b, "location", chromedp.Location())
}

// Path returns the path of the current page's URL.
func (b *Browser) Path() string {
	b.t.Helper()
	u, err := url.Parse(b.Location())
	if err != nil {
		b.t.Fatalf("e2e: location: %v", err)
	}
	return u.Path
}

// Press sends keys to the focused element, as a keyboard does: each rune is a key, and
// the kb package names the special ones (kb.Tab, kb.Enter, kb.ArrowDown...). It does
// not wait for a navigation.
func (b *Browser) Press(keys string) {
	b.t.Helper()
	run(b, fmt.Sprintf("press %q", keys), chromedp.KeyEvent(keys))
}

// PressFollow sends keys to the focused element, like Press, when they lead to a new
// page (Enter in a form's field submits it): it waits until that page has loaded and
// returns its HTTP status.
func (b *Browser) PressFollow(keys string) int {
	b.t.Helper()
	b.leavePage()
	return b.navigate(fmt.Sprintf("press %q", keys), chromedp.KeyEvent(keys))
}

// Tab presses the Tab key.
func (b *Browser) Tab() {
	b.t.Helper()
	b.Press(kb.Tab)
}

// ShiftTab presses Shift+Tab.
func (b *Browser) ShiftTab() {
	b.t.Helper()
	run(b, "press Shift+Tab", chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
}

// Enter presses the Enter key. It does not wait for a navigation.
func (b *Browser) Enter() {
	b.t.Helper()
	b.Press(kb.Enter)
}

// Element describes a DOM element, as Focused returns it.
type Element struct {
	Tag  string `json:"tag"`  // lower case, such as "a"
	ID   string `json:"id"`   // id attribute
	Text string `json:"text"` // visible text, trimmed
	Href string `json:"href"` // href attribute, for links
	// Width and Height are its rendered size in CSS pixels: a "visually hidden"
	// element is 1x1 or smaller.
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
	// InMain reports whether it is inside (or is) the main landmark.
	InMain bool `json:"inMain"`
}

func (e Element) String() string {
	s := "<" + e.Tag
	if e.ID != "" {
		s += ` id="` + e.ID + `"`
	}
	if e.Href != "" {
		s += ` href="` + e.Href + `"`
	}
	return s + ">" + abbrev(e.Text) + "</" + e.Tag + ">"
}

// Focused describes the element that has the keyboard focus (the body when none has).
func (b *Browser) Focused() Element {
	b.t.Helper()
	return eval[Element](b, `(e => { const r = e.getBoundingClientRect(); const m = document.querySelector('main');
		return {tag: e.tagName.toLowerCase(), id: e.id, text: (e.innerText || '').trim(),
			href: e.getAttribute('href') || '', width: r.width, height: r.height,
			inMain: !!m && m.contains(e)}; })(document.activeElement || document.body)`)
}

// Screenshot saves a PNG of the viewport as e2e/testdata/out/<test>-<name>.png (from a
// test's second and later browsers, <test>-b<n>-<name>.png) and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	path, err := b.screenshot(name)
	if err != nil {
		b.t.Fatalf("e2e: screenshot %s: %v", name, err)
	}
	return path
}

func (b *Browser) screenshot(name string) (string, error) {
	dir, err := outDir()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fileName(b.t.Name()+"-"+b.label+name)+".png")
	return path, os.WriteFile(path, png, 0o644)
}

// location is the current URL for messages; it never fails the test.
func (b *Browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(unknown page)"
	}
	return loc
}

// watchConsole collects what pages write to the console as errors (uncaught
// exceptions, console.error, and the browser's own errors such as a resource that
// failed to load or was refused by the Content-Security-Policy), to report them when
// the test ends.
func (b *Browser) watchConsole() {
	msgs := chromedp.Console(b.ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				b.mu.Lock()
				b.console = append(b.console, m)
				b.mu.Unlock()
			}
		}
	}()
}

// knownConsoleErrors are console errors that are understood, harmless and tracked
// elsewhere; each is tolerated (and logged) until its fix lands. Match is a substring
// of the message.
var knownConsoleErrors = []struct{ Match, Why string }{}

// reportConsole fails the test for every console error collected so far: a page that
// throws, misses a resource or breaks its CSP is broken for some users.
func (b *Browser) reportConsole() {
	b.mu.Lock()
	defer b.mu.Unlock()
	tolerated := map[string]int{}
next:
	for _, m := range b.console {
		if m.Source == "network" && b.errorDocs[m.URL] {
			continue
		}
		for _, k := range knownConsoleErrors {
			if strings.Contains(m.Text, k.Match) {
				tolerated[k.Why]++
				continue next
			}
		}
		b.t.Errorf("e2e: browser console: %s (%s:%d)", m, m.URL, m.Line+1)
	}
	for why, n := range tolerated {
		b.t.Logf("e2e: known console error tolerated %d times: %s", n, why)
	}
	b.console = nil
}

// status returns the HTTP status of a document, remembering the documents that
// answered with an error: the browser logs "Failed to load resource" for them, which
// is no fault of the page when the journey went there on purpose (a 404 page).
func (b *Browser) status(resp *network.Response) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastDoc = resp
	if resp == nil {
		return 0
	}
	if resp.Status >= 400 {
		b.errorDocs[resp.URL] = true
	}
	return int(resp.Status)
}

// ResponseHeader returns the header name (case-insensitive) of the response that
// brought the current document, as Visit, Follow, FollowLink, Submit or PressFollow
// loaded it (after any redirects); empty when there is none.
func (b *Browser) ResponseHeader(name string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lastDoc == nil {
		return ""
	}
	for k, v := range b.lastDoc.Headers {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// xpathString quotes s as an XPath 1.0 string literal (which has no escapes).
func xpathString(s string) string {
	switch {
	case !strings.Contains(s, `'`):
		return `'` + s + `'`
	case !strings.Contains(s, `"`):
		return `"` + s + `"`
	}
	parts := strings.Split(s, `'`)
	return `concat('` + strings.Join(parts, `', "'", '`) + `')`
}

func abbrev(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
