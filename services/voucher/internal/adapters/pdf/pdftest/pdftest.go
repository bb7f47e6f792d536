// Package pdftest reads PDFs back in tests, with a reader independent of the
// writer (github.com/ledongthuc/pdf, pure Go, from the module proxy), so that
// a test sees the text a PDF viewer or a search index would.
package pdftest

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/ledongthuc/pdf"
)

// Document is what a reader finds in a PDF.
type Document struct {
	Pages int
	Text  string // the plain text of every page, in order
}

// Read parses doc and extracts its text.
func Read(doc []byte) (Document, error) {
	if !bytes.HasPrefix(doc, []byte("%PDF-")) {
		return Document{}, fmt.Errorf("not a PDF: starts with %q", doc[:min(len(doc), 8)])
	}
	r, err := pdf.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		return Document{}, fmt.Errorf("read PDF: %w", err)
	}
	d := Document{Pages: r.NumPage()}
	var text strings.Builder
	for i := 1; i <= d.Pages; i++ {
		p := r.Page(i)
		if p.V.IsNull() {
			return Document{}, fmt.Errorf("page %d is missing", i)
		}
		s, err := p.GetPlainText(nil)
		if err != nil {
			return Document{}, fmt.Errorf("text of page %d: %w", i, err)
		}
		text.WriteString(s)
		text.WriteByte('\n')
	}
	d.Text = text.String()
	return d, nil
}
