package pdf

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"regexp"
	"strconv"
	"testing"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// eachGoFont runs check on each Go font, hinted as shipped and unhinted,
// in parallel subtests.
func eachGoFont(t *testing.T, check func(t *testing.T, hinted, stripped []byte)) {
	t.Helper()
	for name, ttf := range map[string][]byte{"regular": goregular.TTF, "bold": gobold.TTF} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stripped, err := unhinted(ttf)
			if err != nil {
				t.Fatal(err)
			}
			check(t, ttf, stripped)
		})
	}
}

// Every glyph keeps its outline, advance and cmap entry: sfnt (a reader
// independent of the writer) loads the same segments from both files.
func TestUnhinted_KeepsEveryGlyphsOutlineMetricsAndCmap(t *testing.T) {
	t.Parallel()
	eachGoFont(t, func(t *testing.T, ttf, stripped []byte) {
		before, after := parseFont(t, ttf), parseFont(t, stripped)
		if before.NumGlyphs() != after.NumGlyphs() || before.NumGlyphs() < 100 {
			t.Fatalf("%d glyphs after, %d before", after.NumGlyphs(), before.NumGlyphs())
		}
		var b1, b2 sfnt.Buffer
		ppem := fixed.I(2048)
		for g := sfnt.GlyphIndex(0); int(g) < before.NumGlyphs(); g++ {
			s1, err1 := before.LoadGlyph(&b1, g, ppem, nil)
			s2, err2 := after.LoadGlyph(&b2, g, ppem, nil)
			if err1 != nil || err2 != nil {
				t.Fatalf("glyph %d: load: %v / %v", g, err1, err2)
			}
			if !reflect.DeepEqual(s1, s2) {
				t.Fatalf("glyph %d: outline changed", g)
			}
			a1, err1 := before.GlyphAdvance(&b1, g, ppem, font.HintingNone)
			a2, err2 := after.GlyphAdvance(&b2, g, ppem, font.HintingNone)
			if err1 != nil || err2 != nil || a1 != a2 {
				t.Fatalf("glyph %d: advance %v (%v), was %v (%v)", g, a2, err2, a1, err1)
			}
		}
		for _, c := range "Aaéßłжω€0 " {
			g1, _ := before.GlyphIndex(&b1, c)
			g2, _ := after.GlyphIndex(&b2, c)
			if g1 == 0 || g1 != g2 {
				t.Errorf("%q maps to glyph %d, was %d", c, g2, g1)
			}
		}
	})
}

// Nothing of the hinting is left, the file is smaller by far, and its
// checksums are right.
func TestUnhinted_DropsTheProgramsAndEveryGlyphsInstructions(t *testing.T) {
	t.Parallel()
	eachGoFont(t, func(t *testing.T, ttf, stripped []byte) {
		if len(stripped) > len(ttf)*3/4 {
			t.Errorf("%d bytes unhinted, %d hinted: want at least a quarter less", len(stripped), len(ttf))
		}
		tables, err := readTables(ttf)
		if err != nil {
			t.Fatal(err)
		}
		if tables["fpgm"] == nil || instructionBytes(t, tables) == 0 {
			t.Fatal("the Go font is not hinted: this test checks nothing")
		}
		checkUnhinted(t, stripped)
	})
}

// checkUnhinted fails unless font has no hinting table, no glyph with
// instructions, zero hinting limits in maxp and valid checksums.
func checkUnhinted(t *testing.T, ttf []byte) {
	t.Helper()
	tables, err := readTables(ttf)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"fpgm", "prep", "cvt ", "cvar", "hdmx", "VDMX", "DSIG"} {
		if tables[tag] != nil {
			t.Errorf("table %q is still there", tag)
		}
	}
	if n := instructionBytes(t, tables); n != 0 {
		t.Errorf("%d bytes of glyph instructions left", n)
	}
	if maxp := tables["maxp"]; len(maxp) >= 32 {
		if z := binary.BigEndian.Uint16(maxp[14:]); z > 1 {
			t.Errorf("maxZones %d, want 1", z)
		}
		for off := 16; off <= 26; off += 2 {
			if v := binary.BigEndian.Uint16(maxp[off:]); v != 0 {
				t.Errorf("maxp field at %d is %d, want 0", off, v)
			}
		}
	}
	if sum := checksum(ttf); sum != 0xB1B0AFBA {
		t.Errorf("whole-file checksum %#x, want 0xB1B0AFBA", sum)
	}
	n := int(binary.BigEndian.Uint16(ttf[4:]))
	for i := 0; i < n; i++ {
		rec := ttf[12+16*i:]
		tag := string(rec[:4])
		data := tables[tag]
		if tag == "head" {
			data = append([]byte(nil), data...)
			binary.BigEndian.PutUint32(data[8:], 0)
		}
		if want := checksum(data); binary.BigEndian.Uint32(rec[4:]) != want {
			t.Errorf("table %q: checksum %#x, want %#x", tag, binary.BigEndian.Uint32(rec[4:]), want)
		}
	}
}

// instructionBytes sums the instructions of the font's simple glyphs.
func instructionBytes(t *testing.T, tables map[string][]byte) int {
	t.Helper()
	long := binary.BigEndian.Uint16(tables["head"][50:]) == 1
	numGlyphs := int(binary.BigEndian.Uint16(tables["maxp"][4:]))
	offsets, err := glyphOffsets(tables["loca"], long, numGlyphs, len(tables["glyf"]))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for g := 0; g < numGlyphs; g++ {
		glyph := tables["glyf"][offsets[g]:offsets[g+1]]
		if len(glyph) == 0 {
			continue
		}
		contours := int(int16(binary.BigEndian.Uint16(glyph)))
		if contours < 0 {
			continue
		}
		total += int(binary.BigEndian.Uint16(glyph[10+2*contours:]))
	}
	return total
}

// A composite glyph (the Go fonts have none) loses its instructions and
// the flag announcing them; its components stay as they were.
func TestUnhinted_CompositeGlyphLosesItsInstructions(t *testing.T) {
	t.Parallel()
	header := []byte{0xFF, 0xFF, 0, 0, 0, 0, 0, 10, 0, 10} // -1 contours, bounding box
	first := []byte{0x00, byte(moreComponents | argsAreWords | haveScale), 0, 5, 0, 1, 0, 2, 0x40, 0}
	last := []byte{byte(haveInstructions >> 8), byte(haveTwoByTwo), 0, 6, 3, 4, 0x40, 0, 0, 0, 0, 0, 0x40, 0}
	instructions := []byte{0, 3, 0xB0, 0x01, 0x2F}
	glyph := append(append(append(append([]byte(nil), header...), first...), last...), instructions...)

	got, err := withoutInstructions(glyph)
	if err != nil {
		t.Fatal(err)
	}
	wantLast := append([]byte(nil), last...)
	wantLast[0] = 0 // WE_HAVE_INSTRUCTIONS cleared
	want := append(append(append([]byte(nil), header...), first...), wantLast...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x\nwant % x", got, want)
	}
	if _, err := withoutInstructions(glyph[:len(header)+len(first)+3]); err == nil {
		t.Error("a composite glyph cut short was accepted")
	}
}

func TestUnhinted_RefusesWhatIsNotATrueTypeFont(t *testing.T) {
	t.Parallel()
	for name, b := range map[string][]byte{
		"empty":        nil,
		"OpenType CFF": append([]byte("OTTO"), make([]byte, 12)...),
		"cut short":    goregular.TTF[:200],
	} {
		if _, err := unhinted(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The voucher embeds the fonts without their hinting: the subsets gofpdf
// cuts from them have no fpgm, prep or cvt table and no instructions.
func TestRender_EmbeddedFontSubsetsCarryNoHinting(t *testing.T) {
	t.Parallel()
	_, doc := render(t, newRenderer(t, Config{}), sampleVoucher(t))
	streams := regexp.MustCompile(`/Length (\d+)\s*/Filter /FlateDecode\s*/Length1 \d+\s*>>\s*stream\n`).FindAllSubmatchIndex(doc, -1)
	if len(streams) != 2 {
		t.Fatalf("%d embedded fonts, want 2 (regular and bold)", len(streams))
	}
	for _, m := range streams {
		n, _ := strconv.Atoi(string(doc[m[2]:m[3]]))
		subset := inflate(t, doc[m[1]:m[1]+n])
		parseFont(t, subset)
		tables, err := readTables(subset)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range []string{"fpgm", "prep", "cvt "} {
			if tables[tag] != nil {
				t.Errorf("the embedded subset has a %q table", tag)
			}
		}
		if n := instructionBytes(t, tables); n != 0 {
			t.Errorf("the embedded subset has %d bytes of glyph instructions", n)
		}
	}
}

func parseFont(t *testing.T, ttf []byte) *sfnt.Font {
	t.Helper()
	f, err := sfnt.Parse(ttf)
	if err != nil {
		t.Fatalf("sfnt cannot parse it: %v", err)
	}
	return f
}

// A signed font loses its signature (DSIG), which the change voids.
func TestUnhinted_DropsADigitalSignature(t *testing.T) {
	t.Parallel()
	tables, err := readTables(goregular.TTF)
	if err != nil {
		t.Fatal(err)
	}
	tables["DSIG"] = []byte{0, 0, 0, 1, 0, 0, 0, 0}
	signed := writeTables(0x00010000, tables)
	if got, _ := readTables(signed); got["DSIG"] == nil {
		t.Fatal("the signed font has no DSIG: this test checks nothing")
	}
	stripped, err := unhinted(signed)
	if err != nil {
		t.Fatal(err)
	}
	checkUnhinted(t, stripped)
}
