package pdf

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// gofpdf (v1.16.2) gives every UTF-8 font this ToUnicode CMap, which maps
// the whole two-byte range in one bfrange. ISO 32000-1 (9.10.3) lets a
// bfrange vary only in its last byte, and strict readers apply it so:
// PDFium (Chrome's viewer) and github.com/ledongthuc/pdf turn "Łukasz"
// (U+0141...) into "Aukasz" when text is copied, searched or extracted;
// veraPDF rejects it. The glyphs are drawn right either way; only the
// text behind them is wrong. fixToUnicode swaps in an equivalent,
// conforming map.
const gofpdfToUnicode = "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n1 beginbfrange\n<0000> <FFFF> <0000>\nendbfrange\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"

var (
	gofpdfToUnicodeObject = []byte("<</Length " + strconv.Itoa(len(gofpdfToUnicode)) + ">>\nstream\n" + gofpdfToUnicode + "\nendstream")
	// conformingToUnicodeObject is built once: it depends on nothing.
	conformingToUnicodeObject = buildToUnicodeObject()
)

// buildToUnicodeObject writes the identity map (a CID is the Unicode code
// point in gofpdf's UTF-8 fonts) as 256 bfranges of 256 codes each, at most
// 100 to a block as the CMap format asks, compressed.
func buildToUnicodeObject() []byte {
	var cmap strings.Builder
	cmap.WriteString("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n" +
		"/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n" +
		"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n" +
		"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n")
	for start := 0; start < 256; start += 100 {
		end := min(start+100, 256)
		fmt.Fprintf(&cmap, "%d beginbfrange\n", end-start)
		for hi := start; hi < end; hi++ {
			fmt.Fprintf(&cmap, "<%02X00> <%02XFF> <%02X00>\n", hi, hi, hi)
		}
		cmap.WriteString("endbfrange\n")
	}
	cmap.WriteString("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend")

	var z bytes.Buffer
	w, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	w.Write([]byte(cmap.String()))
	w.Close()
	return []byte("<</Length " + strconv.Itoa(z.Len()) + " /Filter /FlateDecode>>\nstream\n" + z.String() + "\nendstream")
}

// fixToUnicode replaces gofpdf's ToUnicode streams in doc by conforming
// ones and rewrites the cross-reference table, whose byte offsets move. A
// document without such streams (core fonts only) is returned unchanged.
func fixToUnicode(doc []byte) ([]byte, error) {
	if !bytes.Contains(doc, gofpdfToUnicodeObject) {
		return doc, nil
	}
	type edit struct{ at, delta int } // an edit at byte at of the old document
	var edits []edit
	out := make([]byte, 0, len(doc)+2*len(conformingToUnicodeObject))
	rest, pos := doc, 0
	for {
		i := bytes.Index(rest, gofpdfToUnicodeObject)
		if i < 0 {
			break
		}
		out = append(out, rest[:i]...)
		out = append(out, conformingToUnicodeObject...)
		edits = append(edits, edit{pos + i, len(conformingToUnicodeObject) - len(gofpdfToUnicodeObject)})
		rest = rest[i+len(gofpdfToUnicodeObject):]
		pos += i + len(gofpdfToUnicodeObject)
	}
	out = append(out, rest...)
	return rewriteXref(out, func(off int) int {
		moved := off
		for _, e := range edits {
			if e.at < off {
				moved += e.delta
			}
		}
		return moved
	})
}

// rewriteXref moves the offsets of the cross-reference table of out, and
// the trailer's offset of that table, by shift (an offset in the old
// document to its offset in out).
func rewriteXref(out []byte, shift func(off int) int) ([]byte, error) {
	// The trailer ends "startxref\n<offset>\n%%EOF\n"; the table it points
	// at is "xref\n0 <n>\n" and n lines of exactly 20 bytes.
	k := bytes.LastIndex(out, []byte("startxref\n"))
	if k < 0 {
		return nil, errors.New("fix ToUnicode: no startxref")
	}
	numEnd := k + len("startxref\n") + bytes.IndexByte(out[k+len("startxref\n"):], '\n')
	oldXref, err := strconv.Atoi(string(out[k+len("startxref\n") : numEnd]))
	if err != nil {
		return nil, fmt.Errorf("fix ToUnicode: startxref: %w", err)
	}
	xref := shift(oldXref)
	if !bytes.HasPrefix(out[xref:], []byte("xref\n0 ")) {
		return nil, errors.New("fix ToUnicode: no xref table where startxref points")
	}
	line := xref + len("xref\n")
	countEnd := line + bytes.IndexByte(out[line:], '\n')
	n, err := strconv.Atoi(strings.TrimPrefix(string(out[line:countEnd]), "0 "))
	if err != nil {
		return nil, fmt.Errorf("fix ToUnicode: xref size: %w", err)
	}
	entries := countEnd + 1
	if entries+20*n > len(out) {
		return nil, errors.New("fix ToUnicode: xref table cut short")
	}
	for i := 0; i < n; i++ {
		e := out[entries+20*i : entries+20*i+20]
		if e[17] != 'n' {
			continue
		}
		off, err := strconv.Atoi(string(e[:10]))
		if err != nil {
			return nil, fmt.Errorf("fix ToUnicode: xref entry %d: %w", i, err)
		}
		copy(e[:10], fmt.Sprintf("%010d", shift(off)))
	}
	fixed := append(out[:k:k], []byte("startxref\n"+strconv.Itoa(xref))...)
	return append(fixed, out[numEnd:]...), nil
}
