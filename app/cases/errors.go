package cases

import "errors"

// Error is a refusal the user can act on: Key is a message key present in every
// language, Field the form field it belongs to ("" for the whole form).
type Error struct {
	Key   string
	Field string
}

func (e *Error) Error() string { return "cases: " + e.Key }

// The refusals. Compare with errors.Is; errors.As with *Error gives the message key.
var (
	// ErrNotFound: no such case, or not one the actor may see.
	ErrNotFound = &Error{Key: "cases.error.not_found"}
	// ErrNotAllowed: the actor may not make this transition (wrong kind, role or
	// applicant), or the transition is unknown.
	ErrNotAllowed = &Error{Key: "cases.error.not_allowed"}
	// ErrConflict: the case is not (or no longer) in a state this transition leaves,
	// typically because someone else acted first ("already decided").
	ErrConflict = &Error{Key: "cases.error.conflict"}
	// ErrReasonRequired and ErrMessageRequired: the transition needs the text.
	ErrReasonRequired  = &Error{Key: "cases.error.reason_required", Field: "reason"}
	ErrMessageRequired = &Error{Key: "cases.error.message_required", Field: "message"}
	// ErrTextTooLong: a reason or message over MaxTextRunes.
	ErrTextTooLong = &Error{Key: "cases.error.text_too_long", Field: "message"}
	// ErrAttachmentType: a document that is not a PDF, JPEG or PNG by content.
	ErrAttachmentType = &Error{Key: "cases.error.attachment_type", Field: "documents"}
	// ErrAttachmentSize: a document over the type's size cap (or empty).
	ErrAttachmentSize = &Error{Key: "cases.error.attachment_size", Field: "documents"}
	// ErrAttachmentCount: more documents than the type allows on one case.
	ErrAttachmentCount = &Error{Key: "cases.error.attachment_count", Field: "documents"}
	// ErrAttachmentsRefused: documents sent with a transition that takes none.
	ErrAttachmentsRefused = &Error{Key: "cases.error.attachments_refused", Field: "documents"}
	// ErrFormData: form data that is not a JSON object or is too large.
	ErrFormData = &Error{Key: "cases.error.form_data"}
	// ErrUnknownType: no such case type.
	ErrUnknownType = &Error{Key: "cases.error.unknown_type"}
)

// Key returns the message key of err's *Error, or "" when err is not a refusal.
func Key(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Key
	}
	return ""
}
