package notify_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/comuni-italiani/sportello/app/notify"
	"github.com/comuni-italiani/sportello/app/store/storetest"
)

// mimePart is one leaf of a received message's MIME tree.
type mimePart struct {
	Type, Disposition, Filename string
	Body                        []byte
}

// leaves walks a MIME tree (multipart/mixed holding multipart/alternative and files)
// and returns its leaves, decoded, with the types of the containers seen.
func leaves(t *testing.T, h mail.Header, body io.Reader, containers *[]string) []mimePart {
	t.Helper()
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(body)
		if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
			d, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(b)))
			if err != nil {
				t.Fatalf("base64 part: %v", err)
			}
			b = d
		}
		disp, dp, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
		return []mimePart{{Type: mt, Disposition: disp, Filename: dp["filename"], Body: b}}
	}
	*containers = append(*containers, mt)
	mr := multipart.NewReader(body, params["boundary"])
	var out []mimePart
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		out = append(out, leaves(t, mail.Header(p.Header), p, containers)...)
	}
}

// An attachment is stored with the outbox row and delivered through the real SMTP
// exchange as a part of a multipart/mixed message, byte for byte.
func TestAttachmentsDeliveredAsMultipartMixed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, notify.Migrations(), func(t *testing.T, db *gorm.DB) {
		ms := newMailServer(t)
		ics := []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//IT\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n")
		bin := []byte{0, 1, 2, 255, 254, 'x'}
		msg := protocolMail("mario.rossi@example.it")
		msg.Attachments = []notify.Attachment{
			{Name: "appuntamento.ics", ContentType: "text/calendar; method=REQUEST; charset=utf-8", Data: ics},
			{Name: "ricevuta.bin", ContentType: "application/octet-stream", Data: bin},
		}
		id := mustEnqueue(t, db, msg)
		files, err := mustGet(t, db, id).Files()
		if err != nil || len(files) != 2 || !bytes.Equal(files[0].Data, ics) || !bytes.Equal(files[1].Data, bin) {
			t.Fatalf("stored attachments: %+v %v", files, err)
		}
		w := notify.NewWorker(db, ms.sender(t), notify.WorkerOptions{})
		if n := runOnce(t, w); n != 1 {
			t.Fatalf("sent %d", n)
		}
		got := ms.messages()
		if len(got) != 1 {
			t.Fatalf("received %d", len(got))
		}
		m, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
		if err != nil {
			t.Fatal(err)
		}
		var containers []string
		parts := leaves(t, m.Header, m.Body, &containers)
		if len(containers) == 0 || containers[0] != "multipart/mixed" {
			t.Fatalf("root containers %v, want multipart/mixed first", containers)
		}
		var text, html, cal, other *mimePart
		for i := range parts {
			p := &parts[i]
			switch p.Type {
			case "text/plain":
				text = p
			case "text/html":
				html = p
			case "text/calendar":
				cal = p
			case "application/octet-stream":
				other = p
			}
		}
		if text == nil || html == nil || strings.TrimRight(strings.ReplaceAll(string(text.Body), "\r\n", "\n"), "\n") != msg.Text {
			t.Fatalf("body parts missing: %+v", parts)
		}
		if cal == nil || cal.Filename != "appuntamento.ics" || cal.Disposition != "attachment" || !bytes.Equal(cal.Body, ics) {
			t.Fatalf("calendar part: %+v", cal)
		}
		if other == nil || other.Filename != "ricevuta.bin" || !bytes.Equal(other.Body, bin) {
			t.Fatalf("binary part: %+v", other)
		}
	})
}

// Bad attachments are refused at Enqueue and nothing is stored.
func TestAttachmentsRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, notify.Migrations(), func(t *testing.T, db *gorm.DB) {
		ok := notify.Attachment{Name: "a.ics", ContentType: "text/calendar", Data: []byte("x")}
		many := make([]notify.Attachment, notify.MaxAttachments+1)
		for i := range many {
			many[i] = ok
		}
		cases := map[string][]notify.Attachment{
			"path":        {{Name: "../a.ics", ContentType: "text/calendar", Data: []byte("x")}},
			"newline":     {{Name: "a\r\nBcc: x", ContentType: "text/calendar", Data: []byte("x")}},
			"empty name":  {{Name: "", ContentType: "text/calendar", Data: []byte("x")}},
			"bad type":    {{Name: "a.ics", ContentType: "not a type;;", Data: []byte("x")}},
			"empty data":  {{Name: "a.ics", ContentType: "text/calendar"}},
			"too many":    many,
			"too large":   {{Name: "a.bin", ContentType: "application/octet-stream", Data: make([]byte, notify.MaxAttachmentBytes+1)}},
			"quoted name": {{Name: `a".ics`, ContentType: "text/calendar", Data: []byte("x")}},
		}
		for name, as := range cases {
			msg := protocolMail("mario.rossi@example.it")
			msg.Attachments = as
			if _, err := notify.NewOutbox(nil).Enqueue(t.Context(), db, msg); !errors.Is(err, notify.ErrInvalidMessage) {
				t.Errorf("%s: err %v, want ErrInvalidMessage", name, err)
			}
		}
		var n int64
		if err := db.Model(&notify.Record{}).Count(&n).Error; err != nil || n != 0 {
			t.Fatalf("rows stored after refusals: %d %v", n, err)
		}
	})
}
