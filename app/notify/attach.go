package notify

import (
	"encoding/json"
	"mime"
	"strings"
	"unicode"
)

// Attachment is a file sent with a message (an .ics invitation, a receipt). It is
// stored with the outbox row, so that a retry sends the same bytes.
type Attachment struct {
	// Name is the file name the recipient sees ("appuntamento.ics"): one line, no path.
	Name string `json:"name"`
	// ContentType is its media type ("text/calendar; method=REQUEST").
	ContentType string `json:"type"`
	// Data is the content.
	Data []byte `json:"data"`
}

// Limits on attachments: the outbox is a queue of notifications, not a file store.
const (
	MaxAttachments     = 5
	MaxAttachmentBytes = 2 << 20 // all attachments of one message together
	maxAttachNameRunes = 100
)

// checkAttachments validates a message's attachments.
func checkAttachments(as []Attachment) error {
	if len(as) > MaxAttachments {
		return invalid("at most %d attachments", MaxAttachments)
	}
	total := 0
	for _, a := range as {
		name := strings.TrimSpace(a.Name)
		if name == "" || name != a.Name || hasControl(name) || len([]rune(name)) > maxAttachNameRunes ||
			strings.ContainsAny(name, `/\"`) || strings.IndexFunc(name, unicode.IsSpace) == 0 {
			return invalid("attachment name %q must be one line of at most %d characters, no path", a.Name, maxAttachNameRunes)
		}
		if _, _, err := mime.ParseMediaType(a.ContentType); err != nil || hasControl(a.ContentType) {
			return invalid("attachment %q has no valid content type", a.Name)
		}
		if len(a.Data) == 0 {
			return invalid("attachment %q is empty", a.Name)
		}
		total += len(a.Data)
	}
	if total > MaxAttachmentBytes {
		return invalid("attachments exceed %d bytes", MaxAttachmentBytes)
	}
	return nil
}

// encodeAttachments is the stored form: JSON (data in base64), "" for none.
func encodeAttachments(as []Attachment) (string, error) {
	if len(as) == 0 {
		return "", nil
	}
	b, err := json.Marshal(as)
	return string(b), err
}

// decodeAttachments reads the stored form.
func decodeAttachments(s string) ([]Attachment, error) {
	if s == "" {
		return nil, nil
	}
	var as []Attachment
	err := json.Unmarshal([]byte(s), &as)
	return as, err
}

// Files returns the record's attachments (nil when it has none).
func (r Record) Files() ([]Attachment, error) { return decodeAttachments(r.Attachments) }
