// Package config holds the portal's typed configuration.
//
// Values come, in increasing precedence, from the defaults in Default, a YAML file
// (sportello.example.yaml documents every key), and SPORTELLO_* environment variables
// named from each key's path: http.addr -> SPORTELLO_HTTP_ADDR. Validate is called at
// start and fails with a message naming the offending key.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of one portal process.
type Config struct {
	// Env is "development" (default) or "production". Production refuses demo
	// accounts and insecure cookies.
	Env     string `yaml:"env"`
	DataDir string `yaml:"data_dir"`
	// Comune is the ente the portal serves (the only one in a single-comune set-up).
	Comune Comune `yaml:"comune"`
	// Enti are further enti served by the same installation: the members of a union
	// (and the union itself), or a provider's comuni. YAML only; `sportello enti`
	// manages enti in the database as well.
	Enti     []Comune `yaml:"enti"`
	HTTP     HTTP     `yaml:"http"`
	Database Database `yaml:"database"`
	Mail     Mail     `yaml:"mail"`
	Auth     Auth     `yaml:"auth"`
	Log      Log      `yaml:"log"`
	Modules  Modules  `yaml:"modules"`
	Secrets  Secrets  `yaml:"secrets"`
	// Payments connects the enti to pagoPA (see payments.go).
	Payments Payments `yaml:"payments"`
}

// Secrets holds what the portal keeps outside its database.
type Secrets struct {
	// System are the system secrets, newest first, that encrypt what the database
	// holds to sign or check credentials (identity provider keys, TOTP secrets): a
	// copy of the database alone is then not enough to impersonate anyone. The first
	// one encrypts; every one decrypts, so a secret is rotated by putting a new one
	// in front and running `sportello secrets rotate`. Each at least 32 characters
	// (generate one with `openssl rand -base64 32`). Required in production; in
	// development one is generated into <data_dir>/system-secret on first start.
	// Environment: SPORTELLO_SECRETS_SYSTEM, comma-separated, newest first.
	System []string `yaml:"system"`
}

// SystemSecretKey names the configuration key of the system secrets in messages.
const SystemSecretKey = "secrets.system (SPORTELLO_SECRETS_SYSTEM)"

// Comune describes an ente (a comune or a union of comuni) the portal serves.
type Comune struct {
	// ID is the ente's stable short name (lower case, digits, dashes): the value that
	// marks its rows in the database. Never change it once data exists.
	ID string `yaml:"id"`
	// Kind is "comune" (default) or "unione".
	Kind string `yaml:"kind"`
	// Parent is the id of the union that hosts this comune, if any.
	Parent    string `yaml:"parent"`
	Name      string `yaml:"name"`
	Province  string `yaml:"province"`
	IstatCode string `yaml:"istat_code"`
	Address   string `yaml:"address"`
	Phone     string `yaml:"phone"`
	Email     string `yaml:"email"`
	PEC       string `yaml:"pec"`
	Website   string `yaml:"website"`
	// FiscalCode is the ente's codice fiscale (shown in the footer, used by pagoPA).
	FiscalCode string `yaml:"fiscal_code"`
	// CoatOfArms is the address of the coat of arms image (/static/... or https://...).
	CoatOfArms string `yaml:"coat_of_arms"`
	// ThemeColor is the primary colour of the pages, #rrggbb (empty: Bootstrap Italia's).
	ThemeColor string `yaml:"theme_color"`
	// MailFrom is the sender of the ente's mails (empty: mail.from).
	MailFrom string `yaml:"mail_from"`
	// Hosts are the host names the ente's portal answers on. A single ente with no
	// hosts answers on every host; with several enti each needs its own.
	Hosts []string `yaml:"hosts"`
	// DisabledModules lists modules this ente does not offer.
	DisabledModules []string `yaml:"disabled_modules"`
	// VATNumber is the ente's partita IVA when it differs from FiscalCode.
	VATNumber string `yaml:"vat_number"`
	// Links are the pages of the comune's institutional site the portal's header and
	// footer point to, as the Designers Italia model for comuni asks.
	Links SiteLinks `yaml:"links"`
	// Modules are the ente's own settings of modules: modules.<id> is laid over the
	// installation's modules.settings.<id> for requests on this ente's host (a module
	// reads them with Mount.SettingsFor).
	Modules map[string]yaml.Node `yaml:"modules"`
}

// ModuleSettingsText returns Modules as YAML text per module (nil when none), the
// form the enti table stores.
func (c Comune) ModuleSettingsText() map[string]string {
	if len(c.Modules) == 0 {
		return nil
	}
	out := make(map[string]string, len(c.Modules))
	for id, n := range c.Modules {
		b, err := yaml.Marshal(&n)
		if err != nil {
			continue // a node decoded from YAML marshals again
		}
		out[id] = string(b)
	}
	return out
}

// SiteLinks are addresses on the comune's institutional site (absolute URLs). An empty
// one is left out of the header (the first-level menu then shows Servizi only) or, in
// the footer, replaced by the portal's own page where it has one.
type SiteLinks struct {
	// The first-level menu of the model: Amministrazione, Novità, Vivere il Comune
	// (Servizi is the portal itself).
	Administration string `yaml:"amministrazione"`
	News           string `yaml:"novita"`
	Living         string `yaml:"vivere_il_comune"`
	// Transparency is the "Amministrazione trasparente" section (D.Lgs. 33/2013).
	Transparency string `yaml:"amministrazione_trasparente"`
	// LegalNotes is the "Note legali" page.
	LegalNotes string `yaml:"note_legali"`
	// Search is the institutional site's search page; the portal searches its own
	// services, offices and FAQs either way.
	Search string `yaml:"ricerca"`
	// DPO is the data protection officer's contact (responsabile della protezione dei
	// dati), shown on the privacy page.
	DPO string `yaml:"rpd"`
}

// AllEnti returns the configured enti: comune first, then enti.
func (c Config) AllEnti() []Comune {
	return append([]Comune{c.Comune}, c.Enti...)
}

// HTTP configures the web server.
type HTTP struct {
	Addr string `yaml:"addr"`
	// BaseURL is the public address citizens use (links in mails, QR codes).
	BaseURL string `yaml:"base_url"`
	// TrustProxy makes the server believe X-Forwarded-For/-Proto from a reverse proxy.
	TrustProxy      bool          `yaml:"trust_proxy"`
	BodyLimit       string        `yaml:"body_limit"`
	ReadTimeout     time.Duration `yaml:"read_timeout"`
	WriteTimeout    time.Duration `yaml:"write_timeout"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	SessionIdle     time.Duration `yaml:"session_idle"`
}

// Database selects the store.
type Database struct {
	// URL is empty for embedded SQLite in data_dir, or a postgres:// URL.
	URL          string `yaml:"url"`
	MaxOpenConns int    `yaml:"max_open_conns"`
	// AutoMigrate applies pending migrations at start. It is implied for the embedded
	// database; with PostgreSQL use `sportello migrate` or `serve --migrate`.
	AutoMigrate bool `yaml:"auto_migrate"`
}

// Mail configures outgoing mail. With no SMTP host, mails are kept in the database and
// shown to staff in the development mailbox instead of being sent.
type Mail struct {
	SMTPHost string `yaml:"smtp_host"`
	SMTPPort int    `yaml:"smtp_port"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	From     string `yaml:"from"`
	// TLS is "starttls" (default), "tls" or "none".
	TLS string `yaml:"tls"`
}

// Auth configures how people log in. The portal is an OpenID Connect relying party;
// the embedded provider at /idp (URP-issued credentials, staff accounts) is one
// provider among those configured, reached over HTTP like any other.
type Auth struct {
	// Embedded enables the portal's own identity provider at /idp.
	Embedded bool `yaml:"embedded"`
	// Providers are external OpenID Connect providers (a SPID/CIE broker such as
	// Keycloak or SATOSA, the region's identity provider). YAML only.
	Providers []OIDCProvider `yaml:"providers"`
}

// OIDCProvider is one external OpenID Connect provider.
type OIDCProvider struct {
	// ID is a short name used in URLs (/auth/login/<id>).
	ID string `yaml:"id"`
	// Label is shown on the login button ("SPID", "CIE").
	Label        string   `yaml:"label"`
	Issuer       string   `yaml:"issuer"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
	// FiscalClaim names the claim with the tax code when the provider does not use
	// https://attributes.eid.gov.it/fiscal_number.
	FiscalClaim string `yaml:"fiscal_claim"`
	// TrustRoles accepts the provider's "roles" claim for staff (only for a provider
	// the comune runs itself).
	TrustRoles bool `yaml:"trust_roles"`
	// Kind is "spid" or "cie" for a SPID or CIE broker: the login page draws AgID's
	// "Entra con SPID" or "Entra con CIE" button for it. Empty: a plain button.
	Kind string `yaml:"kind"`
	// IdPs are the SPID identity providers listed in the SPID button's menu (kind
	// spid); choosing one sends its hint in the idp_hint_param parameter of the
	// authorization request (Keycloak: kc_idp_hint).
	IdPs         []SPIDIdP `yaml:"idps"`
	IdPHintParam string    `yaml:"idp_hint_param"`
}

// SPIDIdP is one SPID identity provider in the SPID button's menu.
type SPIDIdP struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Hint is the broker's name for the provider.
	Hint string `yaml:"hint"`
}

// Log configures the process log.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json (default) or text.
	Format string `yaml:"format"`
}

// Modules switches service modules off and carries their own settings.
type Modules struct {
	Disabled []string `yaml:"disabled"`
	// Settings holds each module's own section, by module id.
	Settings map[string]yaml.Node `yaml:"settings"`
}

// Default returns the configuration used when nothing is configured: the embedded
// database in ./data, the server on 127.0.0.1:8080 and a fictional demo comune.
func Default() Config {
	return Config{
		Env:     "development",
		DataDir: "data",
		Comune: Comune{
			ID:        "valdoria",
			Kind:      "comune",
			Name:      "Comune di Valdoria",
			Province:  "Provincia di Valdoria",
			IstatCode: "099999",
			// Fictional, like the rest of the demo comune.
			FiscalCode: "00000000000",
			Address:    "Piazza del Municipio 1, 00000 Valdoria",
			Phone:      "+39 0000 000000",
			Email:      "urp@comune.valdoria.example",
			PEC:        "protocollo@pec.comune.valdoria.example",
			Website:    "https://www.comune.valdoria.example",
			Links: SiteLinks{
				Administration: "https://www.comune.valdoria.example/amministrazione",
				News:           "https://www.comune.valdoria.example/novita",
				Living:         "https://www.comune.valdoria.example/vivere-il-comune",
				Transparency:   "https://www.comune.valdoria.example/amministrazione-trasparente",
				LegalNotes:     "https://www.comune.valdoria.example/note-legali",
				DPO:            "rpd@comune.valdoria.example",
			},
		},
		HTTP: HTTP{
			Addr:            "127.0.0.1:8080",
			BaseURL:         "http://127.0.0.1:8080",
			BodyLimit:       "12M",
			ReadTimeout:     30 * time.Second,
			WriteTimeout:    60 * time.Second,
			ShutdownTimeout: 20 * time.Second,
			SessionLifetime: 8 * time.Hour,
			SessionIdle:     30 * time.Minute,
		},
		Auth: Auth{Embedded: true},
		Mail: Mail{SMTPPort: 587, TLS: "starttls", From: "Comune di Valdoria <noreply@comune.valdoria.example>"},
		Log:  Log{Level: "info", Format: "json"},
	}
}

// EnvPrefix starts every environment variable the portal reads.
const EnvPrefix = "SPORTELLO_"

// Load reads the YAML file at path (skipped when path is empty) over the defaults,
// then applies SPORTELLO_* variables from environ (os.Environ() in production).
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	if err := applyEnv(reflect.ValueOf(&cfg).Elem(), EnvPrefix, env); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// EnvNames lists every environment variable Load understands, with its key path.
func EnvNames() map[string]string {
	out := map[string]string{}
	var walk func(t reflect.Type, prefix, path string)
	walk = func(t reflect.Type, prefix, path string) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := yamlName(f)
			if tag == "" || yamlOnly(f.Type) {
				continue
			}
			name := prefix + strings.ToUpper(tag)
			p := strings.TrimPrefix(path+"."+tag, ".")
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, name+"_", p)
				continue
			}
			out[name] = p
		}
	}
	walk(reflect.TypeFor[Config](), EnvPrefix, "")
	return out
}

// yamlOnly reports whether a field can only be set in the YAML file (maps and lists of
// structs have no sensible single environment variable).
func yamlOnly(t reflect.Type) bool {
	return t.Kind() == reflect.Map || (t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct)
}

func yamlName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "-" {
		return ""
	}
	return tag
}

func applyEnv(v reflect.Value, prefix string, env map[string]string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := yamlName(f)
		if tag == "" || yamlOnly(f.Type) {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			if err := applyEnv(fv, name+"_", env); err != nil {
				return err
			}
			continue
		}
		raw, ok := env[name]
		if !ok {
			continue
		}
		if err := setFromString(fv, raw); err != nil {
			return fmt.Errorf("config: %s=%q: %w", name, raw, err)
		}
	}
	return nil
}

func setFromString(fv reflect.Value, raw string) error {
	switch {
	case fv.Type() == reflect.TypeFor[time.Duration]():
		d, err := time.ParseDuration(raw)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
	case fv.Kind() == reflect.String:
		fv.SetString(raw)
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case fv.Kind() == reflect.Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return err
		}
		fv.SetInt(int64(n))
	case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
		var parts []string
		for p := range strings.SplitSeq(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		fv.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// Production reports whether the portal runs in production mode.
func (c Config) Production() bool { return c.Env == "production" }

// Embedded reports whether the embedded SQLite database is in use.
func (c Config) Embedded() bool { return c.Database.URL == "" }

// Validate checks the configuration and names the first offending key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !slices.Contains([]string{"development", "production"}, c.Env) {
		bad("env", "must be development or production, not %q", c.Env)
	}
	seenEnti := map[string]bool{}
	seenHosts := map[string]string{}
	for i, e := range c.AllEnti() {
		key := "comune"
		if i > 0 {
			key = fmt.Sprintf("enti[%d]", i-1)
		}
		if e.Name == "" {
			bad(key+".name", "is required")
		}
		if !enteIDRE.MatchString(e.ID) || seenEnti[e.ID] {
			bad(key+".id", "must be a unique short name: 2-40 lower-case letters, digits or dashes")
		}
		seenEnti[e.ID] = true
		if e.Kind != "" && e.Kind != "comune" && e.Kind != "unione" {
			bad(key+".kind", "must be comune or unione")
		}
		for _, h := range e.Hosts {
			if other, ok := seenHosts[h]; ok {
				bad(key+".hosts", "%q is already a host of %s", h, other)
			}
			seenHosts[h] = e.ID
		}
	}
	if len(c.Enti) > 0 {
		for i, e := range c.AllEnti() {
			if len(e.Hosts) == 0 && e.Kind != "unione" {
				key := "comune"
				if i > 0 {
					key = fmt.Sprintf("enti[%d]", i-1)
				}
				bad(key+".hosts", "must list the host names of %s when several enti are configured", e.ID)
			}
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		bad("http.addr", "must be host:port (%v)", err)
	}
	u, err := url.Parse(c.HTTP.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		bad("http.base_url", "must be an absolute http(s) URL with no path, such as https://sportello.comune.example")
	} else if c.Production() && u.Scheme != "https" {
		bad("http.base_url", "must be https in production")
	}
	if _, err := ParseBytes(c.HTTP.BodyLimit); err != nil {
		bad("http.body_limit", "%v", err)
	}
	for key, d := range map[string]time.Duration{
		"http.read_timeout": c.HTTP.ReadTimeout, "http.write_timeout": c.HTTP.WriteTimeout,
		"http.shutdown_timeout": c.HTTP.ShutdownTimeout, "http.session_lifetime": c.HTTP.SessionLifetime,
		"http.session_idle": c.HTTP.SessionIdle,
	} {
		if d <= 0 {
			bad(key, "must be a positive duration such as 30s")
		}
	}
	if c.Database.URL != "" && !strings.HasPrefix(c.Database.URL, "postgres://") && !strings.HasPrefix(c.Database.URL, "postgresql://") {
		bad("database.url", "must be empty (embedded SQLite) or a postgres:// URL")
	}
	if c.Database.MaxOpenConns < 0 {
		bad("database.max_open_conns", "must not be negative")
	}
	if c.Mail.SMTPHost != "" {
		if c.Mail.SMTPPort <= 0 || c.Mail.SMTPPort > 65535 {
			bad("mail.smtp_port", "must be a port number")
		}
		if !slices.Contains([]string{"starttls", "tls", "none"}, c.Mail.TLS) {
			bad("mail.tls", "must be starttls, tls or none")
		}
	}
	if c.Mail.From != "" {
		if _, err := mail.ParseAddress(c.Mail.From); err != nil {
			bad("mail.from", "is not a valid address: %v", err)
		}
	} else if c.Mail.SMTPHost != "" {
		bad("mail.from", "is required when mail.smtp_host is set")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "must be debug, info, warn or error")
	}
	if !slices.Contains([]string{"json", "text"}, c.Log.Format) {
		bad("log.format", "must be json or text")
	}
	if c.DataDir == "" {
		bad("data_dir", "is required")
	}
	if c.Production() && len(c.Secrets.System) == 0 {
		bad("secrets.system", "is required in production: set SPORTELLO_SECRETS_SYSTEM to a random secret of at least 32 characters (openssl rand -base64 32) and keep it apart from database backups")
	}
	seenSecrets := map[string]bool{}
	for i, s := range c.Secrets.System {
		if len(s) < 32 {
			bad(fmt.Sprintf("secrets.system[%d]", i), "must be at least 32 characters long")
		}
		if seenSecrets[s] {
			bad(fmt.Sprintf("secrets.system[%d]", i), "repeats an earlier secret")
		}
		seenSecrets[s] = true
	}
	if !c.Auth.Embedded && len(c.Auth.Providers) == 0 {
		bad("auth.providers", "must list at least one provider when auth.embedded is false")
	}
	seenIDs := map[string]bool{"comune": true}
	for i, p := range c.Auth.Providers {
		key := fmt.Sprintf("auth.providers[%d]", i)
		if p.ID == "" || strings.ContainsAny(p.ID, "/?#% ") || seenIDs[p.ID] {
			bad(key+".id", "must be a unique URL-safe name (and not \"comune\", the embedded provider)")
		}
		seenIDs[p.ID] = true
		if u, err := url.Parse(p.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad(key+".issuer", "must be the provider's issuer URL")
		}
		if p.ClientID == "" {
			bad(key+".client_id", "is required")
		}
		if p.Kind != "" && p.Kind != "spid" && p.Kind != "cie" {
			bad(key+".kind", `must be "spid", "cie" or empty`)
		}
		if len(p.IdPs) > 0 && (p.Kind != "spid" || p.IdPHintParam == "") {
			bad(key+".idps", "needs kind spid and idp_hint_param")
		}
		for j, ip := range p.IdPs {
			if ip.ID == "" || strings.ContainsAny(ip.ID, "/?#%& ") || ip.Name == "" || ip.Hint == "" {
				bad(fmt.Sprintf("%s.idps[%d]", key, j), "needs a URL-safe id, a name and a hint")
			}
		}
	}
	c.validatePayments(bad)
	return errors.Join(errs...)
}

var enteIDRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,39}$`)

// ParseBytes reads a size such as "12M", "512K" or "1048576".
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("must be a size such as 12M or 512K")
	}
	return n * mult, nil
}

// ModuleEnabled reports whether the module with this id is switched on.
func (c Config) ModuleEnabled(id string) bool { return !slices.Contains(c.Modules.Disabled, id) }

// DecodeModule decodes the module's own settings section (modules.settings.<id>) into
// out; it leaves out untouched when there is none.
func (c Config) DecodeModule(id string, out any) error {
	n, ok := c.Modules.Settings[id]
	if !ok {
		return nil
	}
	if err := n.Decode(out); err != nil {
		return fmt.Errorf("config: modules.settings.%s: %w", id, err)
	}
	return nil
}
