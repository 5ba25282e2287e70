package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// Environment variables that switch the suite on and point it at the binary. The
// Makefile's e2e target sets both.
const (
	EnvEnable = "SPORTELLO_E2E"
	EnvBinary = "SPORTELLO_BIN"
)

// Timeouts of the portal process.
const (
	demoTimeout  = 90 * time.Second // `sportello demo`: migrations and demo data
	readyTimeout = 30 * time.Second // from start to the first 200 on /readyz
	stopTimeout  = 20 * time.Second // from SIGTERM to exit
)

// Require skips t unless the suite is switched on (SPORTELLO_E2E=1), and fails it when
// the portal binary named by SPORTELLO_BIN is missing. StartPortal and NewBrowser call
// it; a journey may call it first to skip before any work.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(EnvEnable) != "1" {
		t.Skipf("browser journeys are off: run `make e2e` (or set %s=1 and %s=/path/to/sportello)", EnvEnable, EnvBinary)
	}
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		t.Fatalf("e2e: %s is not set: it must name the sportello binary (make e2e builds bin/sportello and sets it)", EnvBinary)
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatalf("e2e: %s=%s: %v (run `make build`)", EnvBinary, bin, err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("e2e: %s=%s is not an executable file", EnvBinary, bin)
	}
}

// PortalOptions choose how StartPortal runs the portal.
type PortalOptions struct {
	// Postgres runs the portal on a fresh, empty PostgreSQL database (from
	// storetest.PostgresURL, dropped when the test ends) instead of embedded SQLite.
	// `sportello demo` migrates it and `sportello serve --migrate` starts on it. When
	// PostgreSQL cannot be reached the test is skipped with a notice, unless
	// SPORTELLO_REQUIRE_POSTGRES=1.
	Postgres bool
	// Env adds SPORTELLO_* settings ("KEY=value") to both commands, such as
	// "SPORTELLO_MODULES_DISABLED=urp". The harness sets the address, base URL, data
	// directory, database URL and log level itself; Env overrides them.
	Env []string
}

// Portal is a running `sportello serve` process.
type Portal struct {
	// URL is the portal's base URL, such as http://127.0.0.1:41234 (no trailing slash).
	URL string
	// Addr is the host:port it listens on.
	Addr string
	// DataDir is its fresh data directory (the SQLite file lives there).
	DataDir string
	// DatabaseURL is the PostgreSQL URL, empty on SQLite.
	DatabaseURL string
	// DemoOutput is what `sportello demo` printed on stdout: the demo comune and,
	// once login exists, the demo accounts.
	DemoOutput string
	// LogPath is the file with the log (stderr) of both commands.
	LogPath string

	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited; then err is set
	err  error
	totp totpState // TOTP steps used, for TOTPCode
}

// StartPortal runs `sportello demo` then `sportello serve` on a free port of 127.0.0.1
// with a fresh data directory (and, with opts.Postgres, a fresh PostgreSQL database),
// and returns once /readyz answers 200. When t ends the process gets SIGTERM and must
// exit with status 0 within 20 seconds. If t fails, the end of the portal's log is
// printed.
func StartPortal(t testing.TB, opts PortalOptions) *Portal {
	t.Helper()
	Require(t)
	bin := os.Getenv(EnvBinary)

	p := &Portal{t: t, DataDir: t.TempDir()}
	if opts.Postgres {
		// Registered before the process, so the database is dropped after it stops.
		p.DatabaseURL = storetest.PostgresURL(t, nil)
	}
	dir, err := outDir()
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	p.LogPath = filepath.Join(dir, fileName(t.Name())+".portal.log")
	logf, err := os.Create(p.LogPath)
	if err != nil {
		t.Fatalf("e2e: portal log: %v", err)
	}
	t.Cleanup(func() { logf.Close() })

	// The free port is found by listening on port 0 and closing the listener; another
	// process could take it before the portal binds, so a bind failure is retried.
	for attempt := 1; ; attempt++ {
		p.Addr, err = freeAddr()
		if err != nil {
			t.Fatalf("e2e: no free port: %v", err)
		}
		p.URL = "http://" + p.Addr
		env := p.env(opts)
		if attempt == 1 {
			p.runDemo(bin, env, logf)
		}
		err = p.start(bin, env, logf, opts.Postgres)
		if err == nil {
			break
		}
		if attempt < 3 && errors.Is(err, errAddrInUse) {
			t.Logf("e2e: %s was taken meanwhile, trying another port", p.Addr)
			continue
		}
		p.showLog()
		t.Fatalf("e2e: portal did not start: %v (log: %s)", err, p.LogPath)
	}
	t.Cleanup(p.stop)
	return p
}

// env is the environment of both commands: the test process's own, without any
// SPORTELLO_* variable (a developer's SPORTELLO_DATABASE_URL must not leak in), plus
// the portal's settings.
func (p *Portal) env(opts PortalOptions) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SPORTELLO_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"SPORTELLO_HTTP_ADDR="+p.Addr,
		"SPORTELLO_HTTP_BASE_URL="+p.URL,
		"SPORTELLO_DATA_DIR="+p.DataDir,
		"SPORTELLO_LOG_LEVEL=debug",
	)
	if p.DatabaseURL != "" {
		env = append(env, "SPORTELLO_DATABASE_URL="+p.DatabaseURL)
	}
	return append(env, opts.Env...)
}

func (p *Portal) runDemo(bin string, env []string, logf *os.File) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "demo")
	cmd.Env, cmd.Dir = env, p.DataDir
	cmd.Stdout = &stdout
	cmd.Stderr = logf
	fmt.Fprintf(logf, "### %s demo\n", bin)
	err := cmd.Run()
	p.DemoOutput = stdout.String()
	// The demo enrols its staff's TOTP with the code of the current step, which the
	// portal then refuses for a login: TOTPCode starts after it.
	p.totp.floor = time.Now().Unix() / totpPeriod
	if err != nil {
		p.showLog()
		p.t.Fatalf("e2e: `sportello demo` failed: %v\nstdout:\n%s\n(log: %s)", err, p.DemoOutput, p.LogPath)
	}
}

var errAddrInUse = errors.New("address already in use")

// start runs `sportello serve` and waits for /readyz.
func (p *Portal) start(bin string, env []string, logf *os.File, migrate bool) error {
	args := []string{"serve"}
	if migrate {
		args = append(args, "--migrate")
	}
	fmt.Fprintf(logf, "### %s %s on %s\n", bin, strings.Join(args, " "), p.Addr)
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = env, p.DataDir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		p.err = cmd.Wait()
		close(done)
	}()
	p.cmd, p.done = cmd, done

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-done:
			if log, _ := os.ReadFile(p.LogPath); bytes.Contains(log, []byte("address already in use")) {
				return errAddrInUse
			}
			return fmt.Errorf("sportello serve exited before it was ready: %v", p.err)
		default:
		}
		resp, err := client.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			if err == nil {
				err = fmt.Errorf("status %s", resp.Status)
			}
			return fmt.Errorf("/readyz did not answer 200 within %s (last: %v)", readyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and expects a clean exit (status 0) within stopTimeout.
func (p *Portal) stop() {
	t := p.t
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		select {
		case <-p.done:
			t.Errorf("e2e: the portal had already exited before the end of the test: %v", p.err)
		default:
			t.Errorf("e2e: SIGTERM to the portal: %v", err)
		}
	} else {
		select {
		case <-p.done:
			if p.err != nil {
				t.Errorf("e2e: after SIGTERM the portal exited with %v, want status 0", p.err)
			}
		case <-time.After(stopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("e2e: the portal did not exit within %s of SIGTERM; killed", stopTimeout)
		}
	}
	if t.Failed() {
		p.showLog()
	}
}

// Log returns the portal's log so far.
func (p *Portal) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		p.t.Errorf("e2e: read portal log: %v", err)
	}
	return string(b)
}

// Request is one line of the portal's access log: a request and the status it got.
type Request struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Route     string `json:"route"`
	Status    int    `json:"status"`
	RequestID string `json:"request_id"`
}

// RequestLogged returns the access-log line of the request with the given id (the
// X-Request-Id header of its response: Browser.ResponseHeader), waiting up to two
// seconds for it, since the portal writes it once the response is sent. It fails t when
// the line does not come.
func (p *Portal) RequestLogged(t testing.TB, requestID string) Request {
	t.Helper()
	if requestID == "" {
		t.Fatalf("e2e: RequestLogged: no request id (did the response carry X-Request-Id?)")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, err := os.ReadFile(p.LogPath)
		if err != nil {
			t.Fatalf("e2e: read portal log: %v", err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if !bytes.Contains(line, []byte(requestID)) {
				continue
			}
			var r struct {
				Msg string `json:"msg"`
				Request
			}
			if json.Unmarshal(line, &r) == nil && r.Msg == "request" && r.RequestID == requestID {
				return r.Request
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("e2e: no access-log line for request %s in %s", requestID, p.LogPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// showLog prints the end of the portal's log in the test output.
func (p *Portal) showLog() {
	const maxLines = 40
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		p.t.Logf("e2e: portal log unreadable: %v", err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	p.t.Logf("e2e: last %d lines of the portal log %s:\n%s", len(lines), p.LogPath, strings.Join(lines, "\n"))
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// outDir returns e2e/testdata/out, creating it. Tests run in the package directory.
func outDir() (string, error) {
	dir, err := filepath.Abs(filepath.Join("testdata", "out"))
	if err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o755)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileName turns a test name (with slashes) into a file name.
func fileName(s string) string {
	return strings.Trim(unsafeName.ReplaceAllString(s, "_"), "_")
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// EachDatabase runs fn as two parallel subtests, "sqlite" and "postgres", each on a
// fresh portal with that database. Portal.DatabaseURL tells them apart.
func EachDatabase(t *testing.T, fn func(t *testing.T, p *Portal)) {
	t.Helper()
	Require(t)
	for _, db := range []struct {
		name     string
		postgres bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			fn(t, StartPortal(t, PortalOptions{Postgres: db.postgres}))
		})
	}
}
