package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFileThenEnv(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("http:\n  addr: 0.0.0.0:9000\n  read_timeout: 5s\ncomune:\n  name: Comune di Prova\nmodules:\n  disabled: [ztl]\n"), 0o600)
	cfg, err := Load(path, []string{"SPORTELLO_HTTP_ADDR=127.0.0.1:7000", "SPORTELLO_DATABASE_URL=postgres://x@h/db", "SPORTELLO_MODULES_DISABLED=info, certificati", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != "127.0.0.1:7000" || cfg.HTTP.ReadTimeout != 5*time.Second || cfg.Comune.Name != "Comune di Prova" {
		t.Fatalf("precedence wrong: %+v", cfg.HTTP)
	}
	if cfg.Database.URL != "postgres://x@h/db" || cfg.ModuleEnabled("info") || !cfg.ModuleEnabled("ztl") {
		t.Fatalf("env override wrong: %+v %v", cfg.Database, cfg.Modules.Disabled)
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("htp:\n  addr: x\n"), 0o600)
	if _, err := Load(path, nil); err == nil {
		t.Fatal("a misspelt key must be refused")
	}
}

func TestValidateNamesKey(t *testing.T) {
	t.Parallel()
	cases := map[string]func(*Config){
		"http.addr":       func(c *Config) { c.HTTP.Addr = "nonsense" },
		"http.base_url":   func(c *Config) { c.HTTP.BaseURL = "ftp://x" },
		"database.url":    func(c *Config) { c.Database.URL = "mysql://x" },
		"mail.tls":        func(c *Config) { c.Mail.SMTPHost = "smtp.example"; c.Mail.TLS = "maybe" },
		"http.body_limit": func(c *Config) { c.HTTP.BodyLimit = "lots" },
		"env":             func(c *Config) { c.Env = "staging" },
	}
	for key, mutate := range cases {
		c := Default()
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: want error naming the key, got %v", key, err)
		}
	}
	c := Default()
	c.Env = "production"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("production over http must be refused: %v", err)
	}
}

func TestBadEnvValue(t *testing.T) {
	t.Parallel()
	_, err := Load("", []string{"SPORTELLO_HTTP_READ_TIMEOUT=soon"})
	if err == nil || !strings.Contains(err.Error(), "SPORTELLO_HTTP_READ_TIMEOUT") {
		t.Fatalf("want error naming the variable, got %v", err)
	}
}

func TestEnvNames(t *testing.T) {
	t.Parallel()
	n := EnvNames()
	if n["SPORTELLO_HTTP_ADDR"] != "http.addr" || n["SPORTELLO_MAIL_SMTP_HOST"] != "mail.smtp_host" {
		t.Fatalf("%v", n)
	}
}

// TestExampleDocumentsEveryKey keeps sportello.example.yaml complete and loadable.
func TestExampleDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("sportello.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load("sportello.example.yaml", nil); err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	for env, path := range EnvNames() {
		parts := strings.Split(path, ".")
		if !strings.Contains(string(b), parts[len(parts)-1]+":") {
			t.Errorf("%s (%s) is not documented in the example", path, env)
		}
	}
}

func TestSystemSecrets(t *testing.T) {
	t.Parallel()
	a, b := strings.Repeat("a", 32), strings.Repeat("b", 40)
	cfg, err := Load("", []string{"SPORTELLO_SECRETS_SYSTEM=" + b + ", " + a})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Secrets.System) != 2 || cfg.Secrets.System[0] != b || cfg.Secrets.System[1] != a {
		t.Fatalf("secrets.system from the environment = %q, want newest first", cfg.Secrets.System)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("two good secrets refused: %v", err)
	}
	prod := Default()
	prod.Env, prod.HTTP.BaseURL = "production", "https://servizi.comune.example"
	if err := prod.Validate(); err == nil || !strings.Contains(err.Error(), "secrets.system") ||
		!strings.Contains(err.Error(), "SPORTELLO_SECRETS_SYSTEM") {
		t.Fatalf("production without a system secret: %v", err)
	}
	prod.Secrets.System = []string{b}
	if err := prod.Validate(); err != nil {
		t.Fatalf("production with a system secret: %v", err)
	}
	for name, list := range map[string][]string{"short": {"short"}, "repeated": {a, b, a}} {
		c := Default()
		c.Secrets.System = list
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "secrets.system[") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
