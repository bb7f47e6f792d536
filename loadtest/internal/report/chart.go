package report

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// Series is one line of a chart.
type Series struct {
	Name string
	X, Y []float64
	// Dashed draws the line dashed (the second run of a comparison).
	Dashed bool
	// Color overrides the palette.
	Color string
}

// Chart is a line chart drawn as inline SVG: the report needs no script
// and no network, so it opens anywhere, offline included.
type Chart struct {
	Title, Unit string
	Series      []Series
	// LogY draws the Y axis in decades (latencies from ms to seconds).
	LogY bool
	// Band shades an X range (the spike).
	Band *[2]float64
	// XLabel names the X axis (default "seconds since the start").
	XLabel string
	// XMax, if above the data's, extends the X axis (one scale for a page of charts).
	XMax float64
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

const (
	chartW, chartH             = 760, 280
	padL, padR, padT, padB     = 64, 16, 40, 40
	plotW, plotH               = chartW - padL - padR, chartH - padT - padB
	legendRow, legendItemWidth = 16, 172
	legendGap                  = 12
)

// SVG renders the chart.
func (c Chart) SVG() template.HTML {
	var minX, maxX, minY, maxY = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	points := 0
	for _, s := range c.Series {
		for i := range s.X {
			y := s.Y[i]
			if c.LogY && y <= 0 {
				continue
			}
			minX, maxX = math.Min(minX, s.X[i]), math.Max(maxX, s.X[i])
			minY, maxY = math.Min(minY, y), math.Max(maxY, y)
			points++
		}
	}
	legendRows := (len(c.Series) + 3) / 4
	h := chartH + legendGap + legendRows*legendRow
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		chartW, h, template.HTMLEscapeString(c.Title))
	fmt.Fprintf(&b, `<text x="%d" y="18" class="title">%s</text>`, padL, template.HTMLEscapeString(c.Title))
	if points == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="empty">no data</text></svg>`, padL+plotW/2-30, padT+plotH/2)
		return template.HTML(b.String())
	}
	if c.Band != nil {
		maxX = math.Max(maxX, c.Band[1])
	}
	maxX = math.Max(maxX, c.XMax)
	minX = math.Min(minX, 0)
	xTicks := niceTicks(minX, maxX, 8)
	maxX = xTicks[len(xTicks)-1]
	var yTicks []float64
	if c.LogY {
		lo, hi := math.Floor(math.Log10(minY)), math.Ceil(math.Log10(maxY))
		if hi == lo {
			hi++
		}
		for e := lo; e <= hi; e++ {
			yTicks = append(yTicks, math.Pow(10, e))
		}
	} else {
		yTicks = niceTicks(math.Min(minY, 0), maxY, 5)
	}
	y0, y1 := yTicks[0], yTicks[len(yTicks)-1]
	px := func(x float64) float64 { return padL + (x-minX)/(maxX-minX)*plotW }
	py := func(y float64) float64 {
		if c.LogY {
			return padT + plotH - (math.Log10(y)-math.Log10(y0))/(math.Log10(y1)-math.Log10(y0))*plotH
		}
		if y1 == y0 {
			return padT + plotH
		}
		return padT + plotH - (y-y0)/(y1-y0)*plotH
	}
	if c.Band != nil {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" class="band"/>`,
			px(c.Band[0]), padT, px(c.Band[1])-px(c.Band[0]), plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="bandlabel">spike</text>`, px(c.Band[0])+4, padT+12)
	}
	for _, t := range yTicks {
		y := py(t)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, padL, padL+plotW, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="ytick">%s</text>`, padL-6, y+4, label(t))
	}
	for _, t := range xTicks {
		x := px(t)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" class="grid"/>`, x, x, padT, padT+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="xtick">%s</text>`, x, padT+plotH+16, label(t))
	}
	xl := c.XLabel
	if xl == "" {
		xl = "seconds since the start"
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis">%s</text>`, padL+plotW/2, padT+plotH+34, template.HTMLEscapeString(xl))
	fmt.Fprintf(&b, `<text x="14" y="%d" class="axis" transform="rotate(-90 14 %d)">%s</text>`,
		padT+plotH/2, padT+plotH/2, template.HTMLEscapeString(c.Unit))
	for i, s := range c.Series {
		color := s.Color
		if color == "" {
			color = palette[i%len(palette)]
		}
		var path strings.Builder
		pen := false
		for j := range s.X {
			y := s.Y[j]
			if c.LogY && y <= 0 || math.IsNaN(y) {
				pen = false // a gap, not a line to zero
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, px(s.X[j]), py(y))
			pen = true
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.6"%s/>`, strings.TrimSpace(path.String()), color, dash)
		lx, ly := padL+(i%4)*legendItemWidth, chartH+legendGap+(i/4)*legendRow
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"%s/>`, lx, lx+18, ly-4, ly-4, color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="legend">%s</text>`, lx+24, ly, template.HTMLEscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var out []float64
	for v := start; v < hi+step*0.999; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	if len(out) < 2 {
		out = append(out, start+step)
	}
	return out
}

// label formats a tick: 1500 -> 1.5k, 0.25 -> 0.25.
func label(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return trim(v/1e9) + "G"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e4:
		return trim(v/1e3) + "k"
	default:
		return trim(v)
	}
}

func trim(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}
