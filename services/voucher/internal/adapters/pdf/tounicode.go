package pdf

import (
	"bytes"
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

var gofpdfToUnicodeObject = []byte("<</Length " + strconv.Itoa(len(gofpdfToUnicode)) + ">>\nstream\n" + gofpdfToUnicode + "\nendstream")

// codeRows is the set of rows of 256 codes a document's text uses: the
// high bytes of its CIDs, which in gofpdf's UTF-8 fonts are the Unicode
// code points (of the Basic Multilingual Plane, all the Go fonts cover).
type codeRows [256]bool

// add puts the rows of s's runes in the set.
func (r *codeRows) add(s string) {
	for _, c := range s {
		if c < 0x10000 {
			r[c>>8] = true
		}
	}
}

// toUnicodeObject writes the identity map (a CID is its code point) for
// the rows used, one bfrange of 256 codes per row, at most 100 to a block
// as the CMap format asks. A map of every row would be 256 ranges (5.7 KB,
// 1.7 KB compressed, in each of the two fonts); a voucher's text uses one
// to four rows, so the map is a few lines, left uncompressed.
func toUnicodeObject(rows *codeRows) []byte {
	used := make([]int, 0, 4)
	for hi, ok := range rows {
		if ok {
			used = append(used, hi)
		}
	}
	if len(used) == 0 {
		used = append(used, 0) // a CMap needs a range
	}
	var cmap strings.Builder
	cmap.WriteString("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n" +
		"/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n" +
		"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n" +
		"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n")
	for start := 0; start < len(used); start += 100 {
		block := used[start:min(start+100, len(used))]
		fmt.Fprintf(&cmap, "%d beginbfrange\n", len(block))
		for _, hi := range block {
			fmt.Fprintf(&cmap, "<%02X00> <%02XFF> <%02X00>\n", hi, hi, hi)
		}
		cmap.WriteString("endbfrange\n")
	}
	cmap.WriteString("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend")
	return []byte("<</Length " + strconv.Itoa(cmap.Len()) + ">>\nstream\n" + cmap.String() + "\nendstream")
}

// fixToUnicode replaces gofpdf's ToUnicode streams in doc by conforming
// ones covering the rows of codes its text uses, and rewrites the
// cross-reference table, whose byte offsets move. A document without such
// streams (core fonts only) is returned unchanged.
func fixToUnicode(doc []byte, rows *codeRows) ([]byte, error) {
	if !bytes.Contains(doc, gofpdfToUnicodeObject) {
		return doc, nil
	}
	conformingToUnicodeObject := toUnicodeObject(rows)
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
