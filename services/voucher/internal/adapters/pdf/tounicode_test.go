package pdf

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jung-kurt/gofpdf"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/staybook/staybook/services/voucher/internal/adapters/pdf/pdftest"
)

// Without fixToUnicode a strict reader gets gofpdf's UTF-8 text wrong; with
// it, right. (If a gofpdf release fixes its CMap, the first half fails:
// then fixToUnicode can go.)
func TestFixToUnicode_IsWhatMakesTextBeyondLatin1Extractable(t *testing.T) {
	t.Parallel()
	f := gofpdf.New("P", "mm", "A4", "")
	f.AddUTF8FontFromBytes("go", "", bytes.Clone(goregular.TTF))
	f.AddPage()
	f.SetFont("go", "", 12)
	f.Text(20, 20, "Łukasz Дмитрий Γιώργος")
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		t.Fatal(err)
	}
	raw, err := pdftest.Read(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw.Text, "Łukasz") {
		t.Fatalf("gofpdf's own ToUnicode map reads right now (%q): fixToUnicode is no longer needed", raw.Text)
	}
	fixed, err := fixToUnicode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := pdftest.Read(fixed)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc.Text, "Łukasz Дмитрий Γιώργος") {
		t.Fatalf("fixed document reads %q", doc.Text)
	}
}

func TestFixToUnicode_LeavesDocumentsWithoutUTF8FontsAlone(t *testing.T) {
	t.Parallel()
	doc := []byte("%PDF-1.3\nno fonts here\n%%EOF\n")
	got, err := fixToUnicode(doc)
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("got %q, %v", got, err)
	}
}
