package pdf

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/jung-kurt/gofpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/staybook/staybook/shared/testkit"
)

// BenchmarkRender measures the cost of one voucher with the embedded Go
// fonts and with the core fonts. README.md quotes its figures:
//
//	go test -run '^$' -bench Render -benchmem ./internal/adapters/pdf/
func BenchmarkRender(b *testing.B) {
	for _, bc := range []struct {
		name  string
		fonts Fonts
	}{{"embedded-go-fonts", GoFonts}, {"core-fonts", CoreFonts}} {
		b.Run(bc.name, func(b *testing.B) {
			r := newRenderer(b, Config{Fonts: bc.fonts})
			v := sampleVoucher(b)
			v.GuestName = "Łukasz Żółć" // the core fonts replace what they lack
			ctx := context.Background()
			size := 0
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				doc, err := r.Render(ctx, v)
				if err != nil {
					b.Fatal(err)
				}
				size = len(doc)
			}
			b.ReportMetric(float64(size), "bytes/pdf")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "renders/s")
		})
	}
}

// BenchmarkGofpdfUTF8Floor is the least a document set in gofpdf's UTF-8
// fonts costs: the two Go fonts, one page, one line, nothing else of the
// voucher. gofpdf v1.16.2 parsed each font, JSON-encoded and hashed its
// 65,536-entry width table, and compressed four streams (two of them
// 128 KB CID-to-glyph maps) with a new zlib writer each, for every
// document; the patched copy Staybook builds with (third_party/gofpdf)
// keeps the parsed font between documents and leaves the subsets and their
// compression (docs/upstream/gofpdf-utf8-font-per-document.md).
// BenchmarkRender's embedded-go-fonts can be no cheaper than this.
func BenchmarkGofpdfUTF8Floor(b *testing.B) {
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		f := gofpdf.New("P", "mm", "A4", "")
		f.AddUTF8FontFromBytes("go", "", bytes.Clone(goregular.TTF))
		f.AddUTF8FontFromBytes("go", "B", bytes.Clone(gobold.TTF))
		f.AddPage()
		f.SetFont("go", "", 12)
		f.Text(20, 20, "Łukasz")
		f.SetFont("go", "B", 12)
		f.Text(20, 30, "Łukasz")
		if err := f.Output(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU reports the process's CPU time (user and system, every thread:
// the garbage collector's too) per iteration as cpu-ns/op, which is what a
// render costs a busy service; ns/op is wall time. Call it as
// defer reportCPU(b)() before the loop.
func reportCPU(b *testing.B) func() {
	start := testkit.ProcessCPU(b)
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(testkit.ProcessCPU(b)-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
