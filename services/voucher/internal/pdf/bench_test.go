package pdf

import (
	"context"
	"testing"
)

// BenchmarkRender measures the cost of one voucher with the embedded Go
// fonts and with the core fonts. README.md quotes its figures:
//
//	go test -run '^$' -bench Render -benchmem ./internal/pdf/
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
