package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of SMTPConfig.
const (
	// TLSStartTLS connects in clear and requires STARTTLS before anything else (port 587).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit = "tls"
	// TLSNone never encrypts: only for a relay on localhost or a test server.
	TLSNone = "none"
)

// SMTPConfig says how to reach the mail server.
type SMTPConfig struct {
	// Host is the server's name (also checked against its certificate).
	Host string
	// Port defaults to 587 for starttls, 465 for tls and 25 for none.
	Port int
	// Username and Password enable SMTP AUTH (mechanism negotiated with the server);
	// leave Username empty for an unauthenticated relay.
	Username, Password string
	// From is the sender, with an optional display name:
	// "Comune di Esempio <noreply@comune.esempio.it>".
	From string
	// TLS is "starttls" (default), "tls" or "none".
	TLS string
	// Timeout bounds connecting and each exchange with the server (default 30s).
	Timeout time.Duration
}

// Validate checks the configuration without connecting.
func (c SMTPConfig) Validate() error {
	if strings.TrimSpace(c.Host) == "" {
		return errors.New("notify: smtp host is empty")
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("notify: smtp port %d is out of range", c.Port)
	}
	switch c.TLS {
	case "", TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return fmt.Errorf("notify: smtp tls must be %q, %q or %q, not %q", TLSStartTLS, TLSImplicit, TLSNone, c.TLS)
	}
	if c.Timeout < 0 {
		return errors.New("notify: smtp timeout is negative")
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("notify: smtp password given without a username")
	}
	a, err := mail.ParseAddress(c.From)
	if err != nil {
		return fmt.Errorf("notify: smtp from %q is not an address: %w", c.From, err)
	}
	if _, domain, _ := strings.Cut(a.Address, "@"); domain == "" {
		return fmt.Errorf("notify: smtp from %q has no domain", c.From)
	}
	return nil
}

// SMTPSender delivers messages to an SMTP server with github.com/wneessen/go-mail,
// one connection per message. It is safe for concurrent use.
type SMTPSender struct {
	client   *gomail.Client
	from     *mail.Address
	domain   string
	password string
}

// NewSMTPSender checks cfg and returns a sender for it. It does not connect.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	from, _ := mail.ParseAddress(cfg.From)
	_, domain, _ := strings.Cut(from.Address, "@")
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	opts := []gomail.Option{
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}),
	}
	port := cfg.Port
	switch cfg.TLS {
	case "", TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		if port == 0 {
			port = 587
		}
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
		if port == 0 {
			port = 465
		}
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		if port == 0 {
			port = 25
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if cfg.Username != "" {
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username),
			gomail.WithPassword(cfg.Password))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("notify: smtp client: %w", err)
	}
	return &SMTPSender{client: client, from: from, domain: domain, password: cfg.Password}, nil
}

// Send delivers env in one SMTP session. Refusals of the recipient or the content with
// a 5xx reply are permanent (see Permanent); everything else is worth a retry.
func (s *SMTPSender) Send(ctx context.Context, env Envelope) error {
	msg, err := s.build(env)
	if err != nil {
		return MarkPermanent(fmt.Errorf("notify: build message %d: %w", env.ID, err))
	}
	c, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.redact(fmt.Errorf("notify: smtp connect: %w", err))
	}
	if err := ctx.Err(); err != nil {
		_ = s.client.CloseWithSMTPClient(c)
		return err
	}
	err = s.client.SendWithSMTPClient(c, msg)
	_ = s.client.CloseWithSMTPClient(c) // QUIT: failures after acceptance do not matter
	if err != nil && !msg.IsDelivered() {
		return s.redact(fmt.Errorf("notify: smtp send: %w", err))
	}
	return nil
}

func (s *SMTPSender) build(env Envelope) (*gomail.Msg, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	from := s.from
	if env.From != "" {
		a, err := mail.ParseAddress(env.From)
		if err != nil {
			return nil, MarkPermanent(fmt.Errorf("notify: sender %q is not an address: %w", env.From, err))
		}
		from = a
	}
	m.SetAddrHeaderFromMailAddress(gomail.HeaderFrom, from)
	to, err := mail.ParseAddress(env.To)
	if err != nil {
		return nil, err
	}
	to.Name = env.ToName
	m.SetAddrHeaderFromMailAddress(gomail.HeaderTo, to)
	m.Subject(env.Subject)
	m.SetMessageIDWithValue(env.MessageID + "@" + s.domain)
	m.SetDate()
	// RFC 3834: no out-of-office replies to the portal's notifications.
	m.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	m.SetBodyString(gomail.TypeTextPlain, env.Text)
	if env.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, env.HTML)
	}
	for _, a := range env.Attachments {
		if err := m.AttachReader(a.Name, bytes.NewReader(a.Data),
			gomail.WithFileContentType(gomail.ContentType(a.ContentType)), gomail.WithFileEncoding(gomail.EncodingB64)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// redact keeps the password out of error text that ends up in logs and last_error.
func (s *SMTPSender) redact(err error) error {
	if s.password == "" || !strings.Contains(err.Error(), s.password) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), s.password, "[REDACTED]"), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
