package notify_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/comuni-italiani/sportello/app/notify"
)

// mailServer is a real SMTP server on 127.0.0.1 that records what it accepts and can be
// told to refuse given recipients.
type mailServer struct {
	port int

	mu       sync.Mutex
	received []received
	rcptSeen map[string]int             // RCPT TO commands per address, accepted or not
	refuse   map[string]*smtp.SMTPError // answer for RCPT TO of that address
}

type received struct {
	From string
	To   []string
	Data []byte
}

func newMailServer(t *testing.T) *mailServer {
	t.Helper()
	ms := &mailServer{rcptSeen: map[string]int{}, refuse: map[string]*smtp.SMTPError{}}
	s := smtp.NewServer(ms)
	s.Domain = "mx.test"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.MaxMessageBytes = 1 << 20
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return ms
}

// answer makes the server reply code (451, 550, ...) to RCPT TO:<rcpt>; 0 accepts again.
func (ms *mailServer) answer(rcpt string, code int) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	switch {
	case code == 0:
		delete(ms.refuse, rcpt)
	case code >= 500:
		ms.refuse[rcpt] = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	default:
		ms.refuse[rcpt] = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	}
}

func (ms *mailServer) messages() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.received...)
}

func (ms *mailServer) rcptCount(addr string) int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.rcptSeen[addr]
}

func (ms *mailServer) sender(t *testing.T) *notify.SMTPSender {
	t.Helper()
	s, err := notify.NewSMTPSender(notify.SMTPConfig{
		Host:    "127.0.0.1",
		Port:    ms.port,
		From:    "Comune di Esempio <noreply@comune.esempio.it>",
		TLS:     notify.TLSNone,
		Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// NewSession implements smtp.Backend.
func (ms *mailServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{ms: ms}, nil }

type session struct {
	ms   *mailServer
	from string
	to   []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	s.ms.rcptSeen[to]++
	if e := s.ms.refuse[to]; e != nil {
		return e
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	s.ms.received = append(s.ms.received, received{From: s.from, To: append([]string(nil), s.to...), Data: b})
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// parsedMail is a received message as a mail client shows it.
type parsedMail struct {
	From, To        *mail.Address
	Subject         string
	MessageID       string
	AutoSubmitted   string
	Text, HTML      string
	ContentTypeRoot string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received mail does not parse: %v\n%s", err, data)
	}
	var p parsedMail
	if p.From, err = mail.ParseAddress(m.Header.Get("From")); err != nil {
		t.Fatalf("From: %v", err)
	}
	if p.To, err = mail.ParseAddress(m.Header.Get("To")); err != nil {
		t.Fatalf("To: %v", err)
	}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("Subject: %v", err)
	}
	p.MessageID = m.Header.Get("Message-ID")
	p.AutoSubmitted = m.Header.Get("Auto-Submitted")
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	p.ContentTypeRoot = mt
	if !strings.HasPrefix(mt, "multipart/") {
		p.Text = readPart(t, m.Body, m.Header.Get("Content-Transfer-Encoding"))
		return p
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		// NextPart already decodes quoted-printable.
		body := readPart(t, part, part.Header.Get("Content-Transfer-Encoding"))
		pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch pt {
		case "text/plain":
			p.Text = body
		case "text/html":
			p.HTML = body
		}
	}
	return p
}

func readPart(t *testing.T, r io.Reader, cte string) string {
	t.Helper()
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return strings.TrimRight(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
}

// clock is a settable WorkerOptions.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func runOnce(t *testing.T, w *notify.Worker) int {
	t.Helper()
	n, err := w.RunOnce(ctx)
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return n
}
