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
	const text = "Łukasz Дмитрий Γιώργος"
	f.Text(20, 20, text)
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
	var rows codeRows
	rows.add(text)
	fixed, err := fixToUnicode(buf.Bytes(), &rows)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := pdftest.Read(fixed)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc.Text, text) {
		t.Fatalf("fixed document reads %q", doc.Text)
	}
}

func TestFixToUnicode_LeavesDocumentsWithoutUTF8FontsAlone(t *testing.T) {
	t.Parallel()
	doc := []byte("%PDF-1.3\nno fonts here\n%%EOF\n")
	got, err := fixToUnicode(doc, &codeRows{})
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("got %q, %v", got, err)
	}
}

// The map covers the rows of 256 codes the text uses, one range each, and
// no others: Latin-1 and Latin Extended-A (Ł) here, plus the ellipsis's
// row when a line is cut.
func TestToUnicodeObject_CoversTheRowsTheTextUses(t *testing.T) {
	t.Parallel()
	var rows codeRows
	rows.add("Łukasz Żółć, Zürich…")
	obj := string(toUnicodeObject(&rows))
	for _, want := range []string{"3 beginbfrange\n", "<0000> <00FF> <0000>\n", "<0100> <01FF> <0100>\n", "<2000> <20FF> <2000>\n"} {
		if !strings.Contains(obj, want) {
			t.Errorf("map lacks %q:\n%s", want, obj)
		}
	}
	if n := strings.Count(obj, "FF> <"); n != 3 {
		t.Errorf("%d ranges, want 3:\n%s", n, obj)
	}
	var none codeRows
	if obj := string(toUnicodeObject(&none)); !strings.Contains(obj, "1 beginbfrange\n<0000> <00FF> <0000>\n") {
		t.Errorf("a map without text has no range:\n%s", obj)
	}
}
