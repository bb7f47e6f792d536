package smtptest

import (
	"bytes"
	"errors"
	"io"
	"testing"

	_ "github.com/emersion/go-message/charset" // decodes non-UTF-8 parts, should any come
	"github.com/emersion/go-message/mail"
)

// Attachment is one attached file of a parsed mail.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
}

// ParsedMail is a received message taken apart the way a mail client does.
type ParsedMail struct {
	Header      mail.Header
	Text        []string // the text/plain inline parts
	HTML        []string // the text/html inline parts
	Attachments []Attachment
}

// ParseMail parses a raw message with go-message (nested multiparts
// flattened, transfer encodings decoded).
func ParseMail(t testing.TB, raw []byte) ParsedMail {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse mail: %v", err)
	}
	p := ParsedMail{Header: r.Header}
	for {
		part, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("parse mail part: %v", err)
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatalf("read mail part: %v", err)
		}
		switch h := part.Header.(type) {
		case *mail.InlineHeader:
			ct, _, _ := h.ContentType()
			switch ct {
			case "text/plain":
				p.Text = append(p.Text, string(body))
			case "text/html":
				p.HTML = append(p.HTML, string(body))
			}
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			ct, _, _ := h.ContentType()
			p.Attachments = append(p.Attachments, Attachment{Filename: name, ContentType: ct, Data: body})
		}
	}
	return p
}
