package certificates_test

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/comuni-italiani/sportello/config"
	"github.com/comuni-italiani/sportello/services/certificates"
)

// TestKeyDirWarning: a start with a stamp key directory readable by others logs a
// warning naming it; an owner-only one logs none.
func TestKeyDirWarning(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	s, err := certificates.LoadSettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	if _, err := certificates.LoadKeys(cfg, s, log); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "readable by group or others") {
		t.Fatalf("warning for a fresh owner-only directory:\n%s", buf.String())
	}
	if err := os.Chmod(s.KeyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	cfg.Env = "production"
	if _, err := certificates.LoadKeys(cfg, s, log); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "readable by group or others") ||
		!strings.Contains(out, s.KeyDir+" (mode 0755") {
		t.Fatalf("no warning for a 0755 key directory:\n%s", out)
	}
}
