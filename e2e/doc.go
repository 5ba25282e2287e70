// Package e2e holds the browser journeys of Sportello del Cittadino: a citizen's path
// through the real portal binary, driven in headless Chromium, with an axe-core
// accessibility check (WCAG 2.1 A and AA rules) of every page the journey visits.
// WCAG 2.1 AA is a legal duty for Italian public administrations (Legge Stanca).
//
// Run the suite with
//
//	make e2e
//
// which builds bin/sportello and the front-end assets (axe-core comes from npm,
// pinned in package.json) and then runs
//
//	SPORTELLO_E2E=1 SPORTELLO_BIN=$PWD/bin/sportello go test -count=1 -timeout 15m -v ./e2e/
//
// Without SPORTELLO_E2E=1 every test skips, so `go test ./...` stays fast and needs no
// browser. The suite needs Chromium at /usr/bin/chromium, axe-core at
// node_modules/axe-core/axe.min.js, and, for the PostgreSQL journeys, the server that
// app/store/storetest uses (SPORTELLO_TEST_DATABASE_URL; skipped with a notice when it
// cannot be reached, unless SPORTELLO_REQUIRE_POSTGRES=1).
//
// The harness is meant for every journey, current and future:
//
//   - StartPortal runs `sportello demo` and `sportello serve` on a free port of
//     127.0.0.1 over a fresh database (SQLite in a temporary directory, or a fresh
//     PostgreSQL database), waits for /readyz and stops the process with SIGTERM when
//     the test ends, failing the test if it does not exit cleanly. Its log goes to a
//     file whose tail is printed when the test fails.
//   - NewBrowser starts a headless Chromium with a fresh profile, speaking Italian
//     (Accept-Language it-IT; SetLanguage changes it). Its methods take CSS selectors
//     (FollowLink takes a link's visible text, as a user sees it) and fail the test on
//     error. Errors on the browser console (exceptions, resources that fail to load or
//     that the Content-Security-Policy refuses) fail the test, but for the documented
//     knownConsoleErrors. A failed test leaves a screenshot.
//     The browser prefers reduced motion (no smooth scrolling, which made clicks miss).
//   - CheckA11y runs axe-core on the current page (in an isolated world, under the
//     portal's real CSP: see CheckA11y) and reports every violation, and reports form
//     labels that other text covers, which axe does not check;
//     VisitAndCheck does a visit and the check in one step. The browser remembers
//     whether the current page was checked: leaving a page unchecked (with Visit,
//     FollowLink, Follow or Submit, or at the end of the test) is an error, so no
//     journey can forget a page.
//   - Logging in: Portal.DemoAccount reads the demo accounts `sportello demo` printed
//     (password, role, TOTP secret); Portal.TOTPCode gives a code the portal accepts
//     now (each TOTP time step works once per account, and the demo spent the step of
//     its enrolment); Browser.LoginComune walks the login with the comune's
//     credentials, second factor included, and Browser.Logout presses "Esci".
//   - Portal.RequestLogged finds the access-log line of the current page's request
//     (Browser.ResponseHeader("X-Request-Id")), to compare the status it records.
//   - Files: Browser.Fetch downloads with the browser's session (its cookies) outside
//     the browser; PDFText, RenderPDFPage and DecodeQRFile read a PDF as a person
//     does (poppler-utils for the text and the page image, gozxing for the QR code, as
//     a phone's camera); SaveOut keeps a file for a look after the run.
//   - A journey may start several browsers (a citizen, a clerk, an officer: separate
//     sessions); their screenshots are named apart.
//
// Screenshots, saved files and portal logs go to e2e/testdata/out/ (ignored by git),
// named after the test. harness.go has the portal, browser.go the browser, a11y.go the
// checks, accounts.go and login.go the accounts and the login, certificates.go the
// downloads, PDFs and QR codes; journeys live in journey_<name>_test.go files.
package e2e
