// Package pdf renders a voucher as a one-page A4 PDF with gofpdf.
//
// Text is set in the Go fonts (golang.org/x/image/font/gofont, BSD licence),
// embedded as UTF-8 TrueType subsets: they ship inside a Go module, so the
// build needs no system font, and they cover Latin, Greek and Cyrillic, which
// gofpdf's core fonts (Latin-1 only) do not. Characters the fonts lack are
// transliterated where a close letter exists and otherwise replaced by
// U+FFFD, visibly (see printable).
//
// gofpdf is a patched copy of v1.16.2 (third_party/gofpdf, replaced in
// go.mod): it parses each UTF-8 font once per process instead of once per
// document (docs/upstream/gofpdf-utf8-font-per-document.md).
package pdf

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"

	"github.com/jung-kurt/gofpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/sync/semaphore"
	"golang.org/x/text/encoding/charmap"

	"github.com/staybook/staybook/services/voucher/internal/domain"
)

// Fonts selects the fonts a voucher is set in.
type Fonts int

const (
	// GoFonts embeds the Go fonts (regular and bold) as UTF-8 subsets: every
	// Latin, Greek and Cyrillic name prints as written. The default.
	GoFonts Fonts = iota
	// CoreFonts uses Helvetica, which every PDF reader has: smaller and
	// faster, but Windows-1252 only, so "Łukasz" prints as "?ukasz". Kept to
	// measure what the embedded fonts cost.
	CoreFonts
)

// Config configures a Renderer.
type Config struct {
	Fonts Fonts
	// MaxConcurrent bounds the renders that run at once: a render is CPU
	// work (about a millisecond of it), so more at once than there are
	// cores only adds memory (about 1 MB allocated per render) and makes
	// each one slower. Zero means GOMAXPROCS. A render waits for its turn
	// until its context ends.
	MaxConcurrent int
	Logger        *slog.Logger
	// OnSubstitution, if set, is told how many runes of a voucher were
	// transliterated or replaced (metrics go here).
	OnSubstitution func(transliterated, replaced int)
}

// Renderer renders vouchers. It is safe for concurrent use.
type Renderer struct {
	cfg    Config
	slots  *semaphore.Weighted // MaxConcurrent renders at once
	has    coverage
	repl   rune
	family string
	// regular and bold are the Go fonts' files as embedded: without their
	// hinting (unhinted), made once per process.
	regular, bold []byte
	// translate turns text into the fonts' encoding: Windows-1252 for
	// the core fonts, none for the UTF-8 ones.
	translate func(string) string
}

// NewRenderer builds a Renderer.
func NewRenderer(cfg Config) (*Renderer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxConcurrent < 0 {
		return nil, fmt.Errorf("pdf renderer: max concurrent renders %d is negative", cfg.MaxConcurrent)
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	r := &Renderer{cfg: cfg, slots: semaphore.NewWeighted(int64(cfg.MaxConcurrent)), translate: func(s string) string { return s }}
	switch cfg.Fonts {
	case GoFonts:
		has, err := goFontsCoverage()
		if err != nil {
			return nil, fmt.Errorf("pdf renderer: %w", err)
		}
		fonts, err := unhintedGoFonts()
		if err != nil {
			return nil, fmt.Errorf("pdf renderer: %w", err)
		}
		r.has, r.repl, r.family = has, '\uFFFD', "go"
		r.regular, r.bold = fonts[0], fonts[1]
	case CoreFonts:
		r.has = func(c rune) bool { _, ok := charmap.Windows1252.EncodeRune(c); return ok && c >= ' ' }
		r.repl, r.family = '?', "helvetica"
		r.translate = toWindows1252
	default:
		return nil, fmt.Errorf("pdf renderer: unknown fonts %d", cfg.Fonts)
	}
	return r, nil
}

// toWindows1252 encodes s, which printable has limited to runes
// Windows-1252 has, for the core fonts. It replaces gofpdf's
// UnicodeTranslatorFromDescriptor, which parses a code page table on every
// call (a third of a core-font render when called per document) and
// returns a function that cannot be shared: it reuses one buffer.
func toWindows1252(s string) string {
	out, err := charmap.Windows1252.NewEncoder().String(s)
	if err != nil {
		return s // unreachable after printable; gofpdf would pass it through too
	}
	return out
}

// goFonts are the font files the voucher is set in: the regular and the
// bold Go font, as golang.org/x/image ships them.
var goFonts = [2][]byte{goregular.TTF, gobold.TTF}

// unhintedGoFonts are the regular and the bold Go font without their
// hinting, made once per process: gofpdf's patched copy parses a font once
// per process too, keyed by its bytes.
var unhintedGoFonts = sync.OnceValues(func() ([2][]byte, error) {
	var out [2][]byte
	for i, ttf := range goFonts {
		f, err := unhinted(ttf)
		if err != nil {
			return out, fmt.Errorf("strip the Go font's hinting: %w", err)
		}
		out[i] = f
	}
	return out, nil
})

// goFontsCoverage answers whether both the regular and the bold Go font
// have a glyph for a rune, from a table built once (the fonts cover the
// Basic Multilingual Plane only).
func goFontsCoverage() (coverage, error) {
	covered := make([]bool, 0x10000)
	for i, ttf := range goFonts {
		f, err := sfnt.Parse(ttf)
		if err != nil {
			return nil, fmt.Errorf("parse Go font: %w", err)
		}
		var buf sfnt.Buffer
		for c := rune(0x20); c < 0x10000; c++ {
			g, err := f.GlyphIndex(&buf, c)
			ok := err == nil && g != 0
			covered[c] = ok && (i == 0 || covered[c])
		}
	}
	return func(c rune) bool { return c >= 0 && c < 0x10000 && covered[c] }, nil
}

// Render draws v as a one-page PDF, once one of MaxConcurrent slots is
// free; the wait ends with ctx.
func (r *Renderer) Render(ctx context.Context, v domain.Voucher) ([]byte, error) {
	doc, sub, err := r.renderInSlot(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("render voucher %s: %w", v.BookingID, err)
	}
	if sub.Replaced > 0 {
		r.cfg.Logger.WarnContext(ctx, "voucher text has characters the font lacks; replaced by "+string(r.repl),
			"replaced", sub.Replaced, "transliterated", sub.Transliterated)
	} else if sub.Transliterated > 0 {
		r.cfg.Logger.InfoContext(ctx, "voucher text transliterated to characters the font has", "transliterated", sub.Transliterated)
	}
	if r.cfg.OnSubstitution != nil && (sub.Replaced > 0 || sub.Transliterated > 0) {
		r.cfg.OnSubstitution(sub.Transliterated, sub.Replaced)
	}
	return doc, nil
}

// renderInSlot renders v once one of the MaxConcurrent slots is free,
// and frees it after, whatever happens.
func (r *Renderer) renderInSlot(ctx context.Context, v domain.Voucher) ([]byte, substitution, error) {
	if err := r.slots.Acquire(ctx, 1); err != nil {
		return nil, substitution{}, fmt.Errorf("wait for a render slot: %w", context.Cause(ctx))
	}
	defer r.slots.Release(1)
	return r.render(v)
}

// Page geometry, in millimetres (A4 portrait).
const (
	pageW    = 210.0
	margin   = 20.0
	contentW = pageW - 2*margin
)

var (
	ink    = [3]int{33, 37, 41}
	muted  = [3]int{108, 117, 125}
	accent = [3]int{13, 110, 110}
	panel  = [3]int{241, 245, 245}
)

// page wraps gofpdf with the voucher's text rules: every string goes
// through printable, and every line is fitted to its width.
type page struct {
	r    *Renderer
	f    *gofpdf.Fpdf
	tr   func(string) string
	sub  substitution
	rows codeRows // of the text drawn, for its ToUnicode map
}

// render draws v and writes the PDF, with conforming ToUnicode maps.
func (r *Renderer) render(v domain.Voucher) ([]byte, substitution, error) {
	f := r.newDocument(v)
	p := &page{r: r, f: f, tr: r.translate}
	p.draw(v)
	if err := f.Error(); err != nil {
		return nil, p.sub, err
	}
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		return nil, p.sub, err
	}
	if r.cfg.Fonts == GoFonts {
		doc, err := fixToUnicode(buf.Bytes(), &p.rows)
		return doc, p.sub, err
	}
	return buf.Bytes(), p.sub, nil
}

// newDocument starts v's one-page document: its fonts and metadata.
func (r *Renderer) newDocument(v domain.Voucher) *gofpdf.Fpdf {
	f := gofpdf.New("P", "mm", "A4", "")
	if r.cfg.Fonts == GoFonts {
		// gofpdf is patched (third_party/gofpdf, go.mod's replace): it
		// parses each font once per process and shares it between
		// documents, read-only, so the font files are passed as they are.
		// Upstream v1.16.2 parsed them for every document and its
		// subsetter appended into them (generateChecksum), which needed a
		// copy per document (docs/upstream/gofpdf-utf8-font-per-document.md).
		// The fonts go in without their hinting (unhinted): smaller
		// subsets, the same outlines.
		f.AddUTF8FontFromBytes(r.family, "", r.regular)
		f.AddUTF8FontFromBytes(r.family, "B", r.bold)
	}
	utf8 := r.cfg.Fonts == GoFonts
	f.SetTitle("Staybook voucher "+v.BookingID, utf8)
	f.SetCreator("Staybook voucher service", utf8)
	// A fixed date and sorted resource dictionaries (Go maps otherwise)
	// make the same voucher render to the same bytes.
	f.SetCatalogSort(true)
	f.SetCreationDate(v.IssuedAt)
	f.SetModificationDate(v.IssuedAt)
	f.SetMargins(margin, margin, margin)
	f.SetAutoPageBreak(false, 0) // one page, whatever the text: lines are fitted instead
	f.SetCellMargin(0)
	f.AddPage()
	return f
}

// draw lays v out on the page.
func (p *page) draw(v domain.Voucher) {
	f := p.f
	// Header: brand and title, then a rule.
	p.text(margin, 22, contentW/2, "B", 13, accent, "STAYBOOK", "L")
	p.text(margin+contentW/2, 22, contentW/2, "", 11, muted, "Hotel voucher", "R")
	f.SetDrawColor(accent[0], accent[1], accent[2])
	f.SetLineWidth(0.6)
	f.Line(margin, 27, pageW-margin, 27)

	// The hotel.
	p.text(margin, 40, contentW, "B", 22, ink, v.HotelName, "L")
	y := 48.0
	if v.HotelAddress != "" {
		p.text(margin, y, contentW, "", 11, muted, v.HotelAddress, "L")
		y += 6
	}
	if v.HotelCity != "" {
		p.text(margin, y, contentW, "", 11, muted, v.HotelCity, "L")
	}

	// The guest.
	p.label(margin, 70, contentW, "Guest")
	p.text(margin, 77, contentW, "B", 16, ink, v.GuestName, "L")

	// The stay, in a shaded panel of two rows of three.
	f.SetFillColor(panel[0], panel[1], panel[2])
	f.Rect(margin, 88, contentW, 46, "F")
	col := (contentW - 12) / 3
	x0, x1, x2 := margin+6, margin+6+col, margin+6+2*col
	p.field(x0, 96, col-4, "Check-in", domain.FormatDate(v.CheckIn))
	p.field(x1, 96, col-4, "Check-out", domain.FormatDate(v.CheckOut))
	p.field(x2, 96, col-4, "Length of stay", domain.FormatNights(v.Nights))
	p.field(x0, 117, 2*col-4, "Room", v.RoomTypeName)
	p.field(x2, 117, col-4, "Guests", domain.FormatGuests(v.Guests))

	// The price.
	p.label(margin, 146, contentW, "Total price")
	p.text(margin, 155, contentW, "B", 18, ink, domain.FormatMoney(v.TotalPrice), "L")

	// The booking reference, boxed: what the front desk asks for.
	f.SetDrawColor(accent[0], accent[1], accent[2])
	f.SetLineWidth(0.4)
	f.Rect(margin, 166, contentW, 22, "D")
	p.label(margin+6, 173, contentW-12, "Booking reference")
	p.text(margin+6, 182, contentW-12, "B", 14, accent, v.BookingID, "L")

	// Footer.
	f.SetDrawColor(muted[0], muted[1], muted[2])
	f.SetLineWidth(0.2)
	f.Line(margin, 262, pageW-margin, 262)
	p.text(margin, 268, contentW, "", 9, muted, "Issued on "+domain.FormatDate(v.IssuedAt)+" (UTC)", "L")
	p.text(margin, 273, contentW, "", 9, muted, "Please show this voucher, printed or on screen, when you check in.", "L")
}

// label draws a small caption above a value.
func (p *page) label(x, y, w float64, s string) {
	p.text(x, y, w, "", 8, muted, strings.ToUpper(s), "L")
}

// field draws a caption and its value.
func (p *page) field(x, y, w float64, name, value string) {
	p.label(x, y, w, name)
	p.text(x, y+7, w, "", 12, ink, value, "L")
}

// text draws s on the baseline y, within width w: the font shrinks down to
// 70% of size to fit, and what still does not fit is cut with an ellipsis.
func (p *page) text(x, y, w float64, style string, size float64, color [3]int, s, align string) {
	s, sub := printable(s, p.r.has, p.r.repl)
	p.sub = p.sub.add(sub)
	f := p.f
	f.SetFont(p.r.family, style, size)
	for cur := size; f.GetStringWidth(p.tr(s)) > w && cur-0.5 >= 0.7*size; {
		cur -= 0.5
		f.SetFontSize(cur)
	}
	if f.GetStringWidth(p.tr(s)) > w {
		ellipsis := "…"
		if !p.r.has('…') {
			ellipsis = "..."
		}
		runes := []rune(s)
		for len(runes) > 0 && f.GetStringWidth(p.tr(strings.TrimSpace(string(runes))+ellipsis)) > w {
			runes = runes[:len(runes)-1]
		}
		s = strings.TrimSpace(string(runes)) + ellipsis
	}
	if align == "R" {
		x += w - f.GetStringWidth(p.tr(s))
	}
	f.SetTextColor(color[0], color[1], color[2])
	p.rows.add(s)
	f.Text(x, y, p.tr(s))
}
