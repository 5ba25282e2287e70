package notify

import (
	"context"
	"errors"

	gomail "github.com/wneessen/go-mail"
)

// Sender delivers one message. It returns nil once the mail server has accepted the
// message, an error for which Permanent is true when retrying cannot help, and any other
// error for a failure worth retrying. Send should give up when ctx is done. A Sender is
// used by several goroutines at once.
type Sender interface {
	Send(ctx context.Context, env Envelope) error
}

// Envelope is what a Sender needs to deliver one outbox message.
type Envelope struct {
	// ID is the outbox message id.
	ID int64
	// MessageID is the left part of the Message-ID header, unique and the same on every
	// attempt; the sender adds "@" and its own domain.
	MessageID string
	// To and ToName name the recipient; To is a bare address.
	To, ToName string
	// Subject, Text and HTML are the content; HTML may be empty.
	Subject, Text, HTML string
	// Kind is the message's kind ("cases.protocol").
	Kind string
	// Attachments are sent after the body, as parts of a multipart/mixed message.
	Attachments []Attachment
	// Attempt counts from 1.
	Attempt int
	// From is the sender for this message ("Comune di X <noreply@x.it>"), the comune's
	// own; "" means the sender's configured address.
	From string
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// MarkPermanent wraps err so that Permanent reports true for it. Senders use it for
// failures that no retry can fix. It returns nil for a nil err.
func MarkPermanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Permanent reports whether err means the message can never be delivered, so that it
// is failed at once instead of retried: an error marked with MarkPermanent, an invalid
// message, or an SMTP 5xx reply to the recipient (RCPT TO) or to the content (DATA).
//
// Everything else is temporary: 4xx replies, network errors, timeouts, and also 5xx
// replies while connecting, authenticating or to MAIL FROM, because those speak of the
// portal's configuration or the server, not of this message, and failing every queued
// mail at once for them would lose mail that a fixed configuration would deliver.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	var pe *permanentError
	if errors.As(err, &pe) || errors.Is(err, ErrInvalidMessage) {
		return true
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		switch se.Reason {
		case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
			code := se.ErrorCode()
			return code >= 500 && code <= 599
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			return true
		}
	}
	return false
}
