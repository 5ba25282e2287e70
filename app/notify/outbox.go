package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"reflect"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/enti"
)

// ErrInvalidMessage is returned (wrapped, with the reason) by Enqueue for a message that
// could never be delivered: a bad address, an empty subject or body, a missing kind.
var ErrInvalidMessage = errors.New("notify: invalid message")

// Message is a mail to enqueue.
type Message struct {
	// To is the recipient's bare address ("mario.rossi@example.it"), required.
	To string
	// ToName is the recipient's display name, optional.
	ToName string
	// Subject is required, one line, at most 255 characters.
	Subject string
	// Text is the plain-text body, required (every mail has a text part).
	Text string
	// HTML is an optional HTML alternative of Text.
	HTML string
	// Kind says what the mail is about, as "<module>.<event>" ("cases.protocol"), required.
	Kind string
	// CitizenCF is the tax code of the citizen concerned, optional; it lets staff find
	// the mails sent about a citizen.
	CitizenCF string
	// Attachments are files sent with the message (multipart/mixed), optional.
	Attachments []Attachment
}

// Record is a stored outbox message, as List and Get return it.
type Record struct {
	ID int64 `gorm:"primaryKey"`
	// EnteID is the comune on whose behalf the mail is sent (its sender address).
	EnteID    string `gorm:"column:ente_id"`
	CreatedAt time.Time
	// To is the recipient's address.
	To        string `gorm:"column:to_addr"`
	ToName    string `gorm:"column:to_name"`
	Subject   string
	Text      string `gorm:"column:body_text"`
	HTML      string `gorm:"column:body_html"`
	Kind      string
	CitizenCF string `gorm:"column:citizen_cf"`
	Status    Status
	// Attempts counts the times a worker claimed the message to send it.
	Attempts int
	// NextAttemptAt is when a pending message becomes due.
	NextAttemptAt time.Time
	// ClaimedUntil is the end of the current claim's lease while sending.
	ClaimedUntil *time.Time
	// SentAt is when the mail server accepted the message.
	SentAt *time.Time
	// LastError is the reason of the last failed attempt, truncated.
	LastError string `gorm:"column:last_error"`
	// Attachments holds the message's attachments, JSON ("" for none); see Files.
	Attachments string `gorm:"column:attachments"`
}

// TableName fixes the table name.
func (Record) TableName() string { return "outbox_messages" }

// Outbox enqueues messages. It is built once at start-up and shared by every module;
// it holds no database handle because each Enqueue runs on the caller's transaction.
type Outbox struct {
	hold bool
	now  func() time.Time
}

// NewOutbox returns the portal's outbox. A nil sender means no mail server is configured
// (dev mode): messages are then stored as held, never sent. The zero Outbox enqueues for
// delivery.
func NewOutbox(sender Sender) *Outbox {
	return &Outbox{hold: isNilSender(sender), now: time.Now}
}

// Holding reports whether the outbox keeps messages as held instead of queueing them
// for delivery (dev mode).
func (o *Outbox) Holding() bool { return o.hold }

// Enqueue validates m and stores it for delivery (or as held in dev mode) using db,
// which may be a transaction handle: the message then commits or rolls back with it.
// It returns the new message's id. Invalid messages are refused with an error wrapping
// ErrInvalidMessage and nothing is stored.
func (o *Outbox) Enqueue(ctx context.Context, db *gorm.DB, m Message) (int64, error) {
	m, err := normalize(m)
	if err != nil {
		return 0, err
	}
	now := time.Now
	if o.now != nil {
		now = o.now
	}
	t := now().UTC().Truncate(time.Microsecond)
	status := StatusPending
	if o.hold {
		status = StatusHeld
	}
	files, err := encodeAttachments(m.Attachments)
	if err != nil {
		return 0, fmt.Errorf("notify: enqueue: %w", err)
	}
	rec := Record{
		Attachments:   files,
		CreatedAt:     t,
		To:            m.To,
		ToName:        m.ToName,
		Subject:       m.Subject,
		Text:          m.Text,
		HTML:          m.HTML,
		Kind:          m.Kind,
		CitizenCF:     m.CitizenCF,
		Status:        status,
		NextAttemptAt: t,
	}
	if err := enti.For(ctx, db).Create(&rec).Error; err != nil {
		return 0, fmt.Errorf("notify: enqueue: %w", err)
	}
	return rec.ID, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidMessage}, args...)...)
}

// normalize checks m and returns it trimmed, with the tax code in upper case.
func normalize(m Message) (Message, error) {
	m.To = strings.TrimSpace(m.To)
	if m.To == "" {
		return m, invalid("recipient address is empty")
	}
	if len(m.To) > maxAddrLen || hasControl(m.To) {
		return m, invalid("recipient address is malformed")
	}
	a, err := mail.ParseAddress(m.To)
	if err != nil {
		return m, invalid("recipient address is malformed")
	}
	if a.Address != m.To {
		// "Mario <mario@example.it>" or a group: the name belongs in ToName.
		return m, invalid("recipient must be a bare address, put the name in ToName")
	}
	m.ToName = strings.TrimSpace(m.ToName)
	if hasControl(m.ToName) || utf8.RuneCountInString(m.ToName) > maxNameRunes {
		return m, invalid("recipient name must be one line of at most %d characters", maxNameRunes)
	}
	m.Subject = strings.TrimSpace(m.Subject)
	if m.Subject == "" {
		return m, invalid("subject is empty")
	}
	if hasControl(m.Subject) || utf8.RuneCountInString(m.Subject) > maxSubjRunes {
		return m, invalid("subject must be one line of at most %d characters", maxSubjRunes)
	}
	if strings.TrimSpace(m.Text) == "" {
		return m, invalid("text body is empty")
	}
	if !textOK(m.Text) || !textOK(m.HTML) {
		return m, invalid("body is not valid UTF-8 text")
	}
	m.Kind = strings.TrimSpace(m.Kind)
	if m.Kind == "" || len(m.Kind) > maxKindLen || strings.IndexFunc(m.Kind, notKindRune) >= 0 {
		return m, invalid("kind must be 1-%d characters of a-z, 0-9, '.', '_', '-'", maxKindLen)
	}
	m.CitizenCF = strings.ToUpper(strings.TrimSpace(m.CitizenCF))
	if m.CitizenCF != "" && !cfShape(m.CitizenCF) {
		return m, invalid("citizen tax code is malformed")
	}
	if err := checkAttachments(m.Attachments); err != nil {
		return m, err
	}
	return m, nil
}

// hasControl reports a control character (CR, LF, NUL, ...) or invalid UTF-8 in a
// header value: they would allow header injection or be refused by PostgreSQL.
func hasControl(s string) bool {
	return !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0
}

// textOK accepts multi-line text but not NUL or invalid UTF-8.
func textOK(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func notKindRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
}

// cfShape accepts the shapes of an Italian tax code: 16 letters and digits (persons) or
// 11 digits (provisional codes). The check character is anagrafe's business.
func cfShape(s string) bool {
	if len(s) != 16 && len(s) != 11 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
		if len(s) == 11 && !(r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// isNilSender also catches a typed nil pointer stored in the interface, such as a
// (*SMTPSender)(nil) returned with an error.
func isNilSender(s Sender) bool {
	if s == nil {
		return true
	}
	v := reflect.ValueOf(s)
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Func, reflect.Slice, reflect.Chan:
		return v.IsNil()
	}
	return false
}
