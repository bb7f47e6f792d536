package pdf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// unhinted returns a copy of the TrueType font ttf without its hinting: the
// font-wide programs and tables (fpgm, prep, cvt , cvar, hdmx, VDMX) and
// every glyph's instructions, with maxp's hinting limits zeroed, as
// fontTools' subsetter does with --no-hinting, and without a digital
// signature (DSIG), which the change would void. The outlines, metrics,
// cmap and names are unchanged.
//
// Hinting is for rasterising at small pixel sizes on low-resolution
// screens; PDF readers scale and anti-alias the outlines. In the Go fonts
// it is about 40% of every subset the voucher embeds (the glyphs'
// instructions are half of their glyf data), and every byte of the voucher
// is paid for again downstream: stored, fetched, base64-encoded into the
// confirmation email, dot-stuffed onto SMTP and parsed by the mail server
// (docs/results/benchmarks.md, "Fifth round").
func unhinted(ttf []byte) ([]byte, error) {
	tables, err := readTables(ttf)
	if err != nil {
		return nil, err
	}
	for _, tag := range []string{"head", "maxp", "loca", "glyf"} {
		if tables[tag] == nil {
			return nil, fmt.Errorf("truetype font without a %s table", tag)
		}
	}
	for _, tag := range []string{"fpgm", "prep", "cvt ", "cvar", "hdmx", "VDMX"} {
		delete(tables, tag)
	}
	delete(tables, "DSIG") // a signature of the font as it was no longer holds
	head, maxp := tables["head"], tables["maxp"]
	if len(head) < 54 || len(maxp) < 6 {
		return nil, errors.New("truetype font: head or maxp too short")
	}
	longLoca := binary.BigEndian.Uint16(head[50:]) == 1
	numGlyphs := int(binary.BigEndian.Uint16(maxp[4:]))
	offsets, err := glyphOffsets(tables["loca"], longLoca, numGlyphs, len(tables["glyf"]))
	if err != nil {
		return nil, err
	}

	glyf := make([]byte, 0, len(tables["glyf"]))
	loca := make([]byte, 0, len(tables["loca"]))
	for g := 0; g < numGlyphs; g++ {
		loca = appendOffset(loca, len(glyf), longLoca)
		stripped, err := withoutInstructions(tables["glyf"][offsets[g]:offsets[g+1]])
		if err != nil {
			return nil, fmt.Errorf("glyph %d: %w", g, err)
		}
		glyf = append(glyf, stripped...)
		for len(glyf)%4 != 0 { // the short loca needs even offsets; 4 keeps the glyphs aligned
			glyf = append(glyf, 0)
		}
	}
	loca = appendOffset(loca, len(glyf), longLoca)
	if !longLoca && len(glyf)/2 > 0xFFFF {
		return nil, errors.New("truetype font: glyf too large for its short loca")
	}
	tables["glyf"], tables["loca"] = glyf, loca

	maxp = append([]byte(nil), maxp...)
	if binary.BigEndian.Uint32(maxp) == 0x00010000 && len(maxp) >= 32 {
		binary.BigEndian.PutUint16(maxp[14:], 1) // maxZones: no twilight zone
		for off := 16; off <= 26; off += 2 {     // twilight points, storage, function and instruction defs, stack, instruction size
			binary.BigEndian.PutUint16(maxp[off:], 0)
		}
	}
	tables["maxp"] = maxp
	return writeTables(binary.BigEndian.Uint32(ttf), tables), nil
}

// readTables returns the font's tables by tag (copies).
func readTables(ttf []byte) (map[string][]byte, error) {
	if len(ttf) < 12 {
		return nil, errors.New("truetype font: too short")
	}
	switch binary.BigEndian.Uint32(ttf) {
	case 0x00010000, 0x74727565: // TrueType outlines ("true" on Apple's)
	default:
		return nil, errors.New("not a TrueType font (a collection, or CFF outlines)")
	}
	n := int(binary.BigEndian.Uint16(ttf[4:]))
	if len(ttf) < 12+16*n {
		return nil, errors.New("truetype font: table directory cut short")
	}
	tables := make(map[string][]byte, n)
	for i := 0; i < n; i++ {
		rec := ttf[12+16*i:]
		off, length := int(binary.BigEndian.Uint32(rec[8:])), int(binary.BigEndian.Uint32(rec[12:]))
		if off < 0 || length < 0 || off+length > len(ttf) {
			return nil, fmt.Errorf("truetype font: table %q outside the file", rec[:4])
		}
		tables[string(rec[:4])] = append([]byte(nil), ttf[off:off+length]...)
	}
	return tables, nil
}

// glyphOffsets decodes loca: numGlyphs+1 offsets into glyf.
func glyphOffsets(loca []byte, long bool, numGlyphs, glyfLen int) ([]int, error) {
	size := 2
	if long {
		size = 4
	}
	if len(loca) < size*(numGlyphs+1) {
		return nil, errors.New("truetype font: loca shorter than maxp's glyph count")
	}
	offsets := make([]int, numGlyphs+1)
	for i := range offsets {
		if long {
			offsets[i] = int(binary.BigEndian.Uint32(loca[4*i:]))
		} else {
			offsets[i] = 2 * int(binary.BigEndian.Uint16(loca[2*i:]))
		}
		if offsets[i] > glyfLen || (i > 0 && offsets[i] < offsets[i-1]) {
			return nil, fmt.Errorf("truetype font: loca entry %d out of order or outside glyf", i)
		}
	}
	return offsets, nil
}

func appendOffset(loca []byte, off int, long bool) []byte {
	if long {
		return binary.BigEndian.AppendUint32(loca, uint32(off))
	}
	return binary.BigEndian.AppendUint16(loca, uint16(off/2))
}

// Composite glyph component flags (the glyf table's specification).
const (
	argsAreWords     = 0x0001
	haveScale        = 0x0008
	moreComponents   = 0x0020
	haveXYScale      = 0x0040
	haveTwoByTwo     = 0x0080
	haveInstructions = 0x0100
)

// withoutInstructions returns glyph g's data without its instructions.
func withoutInstructions(g []byte) ([]byte, error) {
	if len(g) == 0 {
		return nil, nil // no outline (a space)
	}
	if len(g) < 10 {
		return nil, errors.New("glyph header cut short")
	}
	contours := int(int16(binary.BigEndian.Uint16(g)))
	if contours >= 0 { // simple: header, endPtsOfContours, instructionLength, instructions, flags and points
		at := 10 + 2*contours
		if len(g) < at+2 {
			return nil, errors.New("simple glyph cut short")
		}
		n := int(binary.BigEndian.Uint16(g[at:]))
		if len(g) < at+2+n {
			return nil, errors.New("glyph instructions cut short")
		}
		out := append([]byte(nil), g[:at]...)
		out = append(out, 0, 0)
		return append(out, g[at+2+n:]...), nil
	}
	// composite: components up to the last, then (if flagged) the instructions
	out := append([]byte(nil), g...)
	at := 10
	for {
		if len(out) < at+4 {
			return nil, errors.New("composite glyph cut short")
		}
		flags := binary.BigEndian.Uint16(out[at:])
		binary.BigEndian.PutUint16(out[at:], flags&^haveInstructions)
		at += 4 // flags, glyph index
		if flags&argsAreWords != 0 {
			at += 4
		} else {
			at += 2
		}
		switch {
		case flags&haveScale != 0:
			at += 2
		case flags&haveXYScale != 0:
			at += 4
		case flags&haveTwoByTwo != 0:
			at += 8
		}
		if len(out) < at {
			return nil, errors.New("composite glyph cut short")
		}
		if flags&moreComponents == 0 {
			return out[:at], nil
		}
	}
}

// writeTables lays out a font file of the given version with tables, each
// four-byte aligned with its checksum, and head's checkSumAdjustment set.
func writeTables(version uint32, tables map[string][]byte) []byte {
	tags := make([]string, 0, len(tables))
	for tag := range tables {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	n := len(tags)
	entrySelector := 0
	for 1<<(entrySelector+1) <= n {
		entrySelector++
	}
	searchRange := (1 << entrySelector) * 16

	out := binary.BigEndian.AppendUint32(nil, version)
	out = binary.BigEndian.AppendUint16(out, uint16(n))
	out = binary.BigEndian.AppendUint16(out, uint16(searchRange))
	out = binary.BigEndian.AppendUint16(out, uint16(entrySelector))
	out = binary.BigEndian.AppendUint16(out, uint16(n*16-searchRange))
	dir := len(out)
	out = append(out, make([]byte, 16*n)...)
	headAt := 0
	for i, tag := range tags {
		data := tables[tag]
		if tag == "head" {
			data = append([]byte(nil), data...)
			binary.BigEndian.PutUint32(data[8:], 0) // checkSumAdjustment, set below
			headAt = len(out)
		}
		rec := out[dir+16*i:]
		copy(rec, tag)
		binary.BigEndian.PutUint32(rec[4:], checksum(data))
		binary.BigEndian.PutUint32(rec[8:], uint32(len(out)))
		binary.BigEndian.PutUint32(rec[12:], uint32(len(data)))
		out = append(out, data...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	binary.BigEndian.PutUint32(out[headAt+8:], 0xB1B0AFBA-checksum(out))
	return out
}

// checksum is the sfnt checksum: the sum of big-endian uint32s, the last
// padded with zeros.
func checksum(b []byte) uint32 {
	var sum uint32
	for len(b) >= 4 {
		sum += binary.BigEndian.Uint32(b)
		b = b[4:]
	}
	if len(b) > 0 {
		var last [4]byte
		copy(last[:], b)
		sum += binary.BigEndian.Uint32(last[:])
	}
	return sum
}
