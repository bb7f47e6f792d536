package pdf

import (
	"bytes"
	"compress/zlib"
	"context"
	"io"
	"regexp"
	"runtime"
	"strconv"
	"testing"
)

// gofpdf is the patched copy in third_party/gofpdf (services/voucher/go.mod
// replaces v1.16.2 with it; docs/upstream/gofpdf-utf8-font-per-document.md).
// Upstream writes a 131,072-byte CID-to-glyph map per font (every CID of the
// two-byte range); the patched copy stops at the last CID the document uses.
func TestRender_GofpdfIsThePatchedCopy_CIDToGlyphMapsStopAtTheLastCIDUsed(t *testing.T) {
	t.Parallel()
	_, doc := render(t, newRenderer(t, Config{}), sampleVoucher(t))
	refs := regexp.MustCompile(`/CIDToGIDMap (\d+) 0 R`).FindAllSubmatch(doc, -1)
	if len(refs) != 2 {
		t.Fatalf("%d CIDToGIDMaps, want 2 (regular and bold)", len(refs))
	}
	for _, ref := range refs {
		m := cidToGlyphMap(t, doc, string(ref[1]))
		if len(m) >= 2*0x10000 || len(m) < 2 || len(m)%2 != 0 {
			t.Fatalf("CIDToGIDMap %s is %d bytes: want 2 per CID up to the last one used, not 131,072 (is go.mod's replace of gofpdf in effect?)", ref[1], len(m))
		}
		// It ends at a CID the text uses, which has a glyph.
		if m[len(m)-2] == 0 && m[len(m)-1] == 0 {
			t.Errorf("CIDToGIDMap %s (%d bytes) ends with a CID without a glyph", ref[1], len(m))
		}
	}
}

// cidToGlyphMap returns the decompressed stream of object obj of doc.
func cidToGlyphMap(t *testing.T, doc []byte, obj string) []byte {
	t.Helper()
	m := regexp.MustCompile(`(?s)\n` + obj + ` 0 obj\n<</Length (\d+)/Filter /FlateDecode>>\nstream\n`).FindSubmatchIndex(doc)
	if m == nil {
		t.Fatalf("object %s: no compressed stream", obj)
	}
	n, _ := strconv.Atoi(string(doc[m[2]:m[3]]))
	return inflate(t, doc[m[1]:m[1]+n])
}

// inflate decompresses a FlateDecode stream's bytes.
func inflate(t *testing.T, compressed []byte) []byte {
	t.Helper()
	z, err := zlib.NewReader(bytes.NewReader(compressed))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The patched gofpdf parses each font once per process, so a render
// allocates well under 1 MB; gofpdf v1.16.2 allocated about 11 MB per
// render (the fonts parsed again, their 512 KB width tables JSON-encoded,
// a zlib writer per stream). Not parallel: it reads the process's
// allocation counter, which the parallel tests would move too.
func TestRender_FontsAreParsedOncePerProcess_ARenderAllocatesLittle(t *testing.T) {
	r := newRenderer(t, Config{})
	v := sampleVoucher(t)
	render(t, r, v) // the first render parses the fonts
	const renders = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range renders {
		if _, err := r.Render(context.Background(), v); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / renders; per > 3<<20 {
		t.Errorf("a render allocates %d bytes: is the font parsed per document again (third_party/gofpdf)?", per)
	}
}

// Documents share the parsed fonts: concurrent renders with different text
// (so different subsets of the same fonts) come out as they do alone. Run
// with -race.
func TestRender_ConcurrentRendersOfDifferentTextShareTheFontsSafely(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, Config{MaxConcurrent: 4})
	names := []string{"Łukasz Żółć", "Дмитрий Иванов", "Γιώργος Παπαδόπουλος", "Zoë Ångström", "Ștefan Nețoiu", "Nguyễn Ｔａｒｏ", "Ana…", "O'Brien"}
	want := make([][]byte, len(names))
	for i, name := range names {
		v := sampleVoucher(t)
		v.GuestName = name
		_, want[i] = render(t, r, v)
	}
	got := make([][]byte, 4*len(names))
	done := make(chan struct{})
	for i := range got {
		go func() {
			defer func() { done <- struct{}{} }()
			v := sampleVoucher(t)
			v.GuestName = names[i%len(names)]
			doc, err := r.Render(context.Background(), v)
			if err != nil {
				t.Error(err)
			}
			got[i] = doc
		}()
	}
	for range got {
		<-done
	}
	for i, doc := range got {
		if !bytes.Equal(doc, want[i%len(names)]) {
			t.Errorf("%q rendered concurrently differs from its lone render", names[i%len(names)])
		}
	}
}
