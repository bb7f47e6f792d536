package pdf

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/services/voucher/internal/adapters/pdf/pdftest"
	"github.com/staybook/staybook/services/voucher/internal/domain"
)

func sampleVoucher(t testing.TB) domain.Voucher {
	t.Helper()
	v, err := domain.NewVoucher(domain.ConfirmedBooking{
		BookingID:    "3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e01",
		HotelName:    "Hotel Aurora",
		HotelAddress: "Karl Johans gate 1",
		HotelCity:    "Oslo",
		RoomTypeName: "Double room with fjord view",
		CheckIn:      "2025-06-02",
		CheckOut:     "2025-06-05",
		Guests:       2,
		GuestName:    "Zoë Ångström",
		GuestEmail:   "zoe@example.com",
		TotalPrice:   domain.Money{Amount: 123450, Currency: "EUR"},
	}, time.Date(2025, 5, 1, 9, 30, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newRenderer(t testing.TB, cfg Config) *Renderer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := NewRenderer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func render(t testing.TB, r *Renderer, v domain.Voucher) (pdftest.Document, []byte) {
	t.Helper()
	doc, err := r.Render(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	d, err := pdftest.Read(doc)
	if err != nil {
		t.Fatal(err)
	}
	return d, doc
}

func TestRender_OnePageWithEveryDetailOfTheBooking(t *testing.T) {
	t.Parallel()
	d, doc := render(t, newRenderer(t, Config{}), sampleVoucher(t))
	if d.Pages != 1 {
		t.Errorf("pages = %d, want 1", d.Pages)
	}
	if !bytes.HasSuffix(bytes.TrimSpace(doc), []byte("%%EOF")) {
		t.Error("document does not end with the EOF marker")
	}
	for _, want := range []string{
		"3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e01", // booking reference
		"Zoë Ångström",
		"Hotel Aurora", "Karl Johans gate 1", "Oslo",
		"Double room with fjord view",
		"Mon, 2 Jun 2025", "Thu, 5 Jun 2025", "3 nights", "2 guests",
		"EUR 1,234.50",
		"Issued on Thu, 1 May 2025",
	} {
		if !strings.Contains(d.Text, want) {
			t.Errorf("extracted text lacks %q:\n%s", want, d.Text)
		}
	}
}

func TestRender_GuestNamesBeyondLatin1ComeOutAsWritten(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, Config{})
	for _, name := range []string{"Łukasz Żółć", "Дмитрий Иванов", "Γιώργος Παπαδόπουλος", "Zoë Ångström", "Ștefan Nețoiu"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := sampleVoucher(t)
			v.GuestName = name
			v.HotelName = "Гостиница «Москва»"
			d, _ := render(t, r, v)
			for _, want := range []string{name, "Гостиница «Москва»"} {
				if !strings.Contains(d.Text, want) {
					t.Errorf("extracted text lacks %q:\n%s", want, d.Text)
				}
			}
			if strings.ContainsRune(d.Text, '\uFFFD') {
				t.Errorf("replacement character in %q", d.Text)
			}
		})
	}
}

func TestRender_CharactersTheFontLacksAreTransliteratedOrVisiblyReplaced(t *testing.T) {
	t.Parallel()
	var transliterated, replaced int
	r := newRenderer(t, Config{OnSubstitution: func(tr, rep int) { transliterated += tr; replaced += rep }})
	v := sampleVoucher(t)
	v.GuestName = "Nguyễn Ｔａｒｏ 山田"
	d, _ := render(t, r, v)
	// ễ (e, circumflex, tilde) keeps the circumflex the font has; the
	// full-width letters become ASCII; the CJK ideographs have no stand-in.
	if want := "Nguyên Taro \uFFFD\uFFFD"; !strings.Contains(d.Text, want) {
		t.Errorf("extracted text lacks %q:\n%s", want, d.Text)
	}
	if transliterated != 5 || replaced != 2 {
		t.Errorf("counted %d transliterated, %d replaced; want 5, 2", transliterated, replaced)
	}
}

func TestRender_ControlAndBidiCharactersCannotBreakTheLayout(t *testing.T) {
	t.Parallel()
	v := sampleVoucher(t)
	v.GuestName = "Eve\u202E\n\tMallory\u200B"
	d, _ := render(t, newRenderer(t, Config{}), v)
	if !strings.Contains(d.Text, "Eve Mallory") {
		t.Errorf("extracted text lacks %q:\n%s", "Eve Mallory", d.Text)
	}
}

func TestRender_LongTextIsFittedOnTheOnePage(t *testing.T) {
	t.Parallel()
	v := sampleVoucher(t)
	v.HotelName = strings.Repeat("Grand Hotel Palace ", 20)
	v.HotelAddress = strings.Repeat("Very Long Street Name 123, ", 20)
	v.GuestName = strings.Repeat("Maximiliano ", 30)
	v.RoomTypeName = strings.Repeat("Superior ", 30)
	d, _ := render(t, newRenderer(t, Config{}), v)
	if d.Pages != 1 {
		t.Fatalf("pages = %d, want 1", d.Pages)
	}
	if !strings.Contains(d.Text, "Grand Hotel Palace") || !strings.Contains(d.Text, "…") {
		t.Errorf("want the hotel name cut with an ellipsis:\n%s", d.Text)
	}
	if !strings.Contains(d.Text, v.BookingID) {
		t.Errorf("booking reference lost:\n%s", d.Text)
	}
}

func TestRender_CoreFontsPrintLatin1AndReplaceTheRest(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, Config{Fonts: CoreFonts})
	v := sampleVoucher(t)
	d, _ := render(t, r, v)
	for _, want := range []string{"Zoë Ångström", v.BookingID, "EUR 1,234.50"} {
		if !strings.Contains(d.Text, want) {
			t.Errorf("extracted text lacks %q:\n%s", want, d.Text)
		}
	}
	v.GuestName = "Łukasz"
	d, _ = render(t, r, v)
	// Ł is not in Windows-1252 and has no decomposition: it is replaced.
	if !strings.Contains(d.Text, "?ukasz") {
		t.Errorf("want Ł replaced by '?':\n%s", d.Text)
	}
}

// The identity CMap that gofpdf writes is replaced (see fixToUnicode), and
// the cross-reference table still points at every object.
func TestRender_ToUnicodeMapConformsAndXrefPointsAtObjects(t *testing.T) {
	t.Parallel()
	_, doc := render(t, newRenderer(t, Config{}), sampleVoucher(t))
	if bytes.Contains(doc, []byte("<0000> <FFFF> <0000>")) {
		t.Fatal("document still has gofpdf's one-range ToUnicode map")
	}
	if n := bytes.Count(doc, []byte("/ToUnicode")); n != 2 {
		t.Errorf("%d ToUnicode maps, want 2 (regular and bold)", n)
	}
	// Only the rows of codes the voucher uses: a few ranges, not 256.
	if n := bytes.Count(doc, []byte("FF> <")); n < 2 || n > 8 {
		t.Errorf("%d ranges in the ToUnicode maps, want one per row used in each", n)
	}
	m := regexp.MustCompile(`startxref\n(\d+)\n%%EOF`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("no startxref")
	}
	xref, _ := strconv.Atoi(string(m[1]))
	if !bytes.HasPrefix(doc[xref:], []byte("xref\n0 ")) {
		t.Fatalf("startxref %d does not point at the xref table", xref)
	}
	lines := strings.Split(string(doc[xref:]), "\n")
	n, _ := strconv.Atoi(strings.TrimPrefix(lines[1], "0 "))
	for obj := 1; obj < n; obj++ {
		off, _ := strconv.Atoi(lines[2+obj][:10])
		if want := strconv.Itoa(obj) + " 0 obj"; !bytes.HasPrefix(doc[off:], []byte(want)) {
			t.Errorf("xref entry of object %d points at %q", obj, doc[off:min(off+12, len(doc))])
		}
	}
}

func TestRender_SameVoucherRendersToTheSameBytes(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, Config{})
	_, a := render(t, r, sampleVoucher(t))
	_, b := render(t, r, sampleVoucher(t))
	if !bytes.Equal(a, b) {
		t.Error("two renders of one voucher differ")
	}
}

// gofpdf writes into the font bytes it is given; concurrent renders must
// not share them (run with -race) nor change the output. The core fonts'
// translator is shared by design.
func TestRender_ConcurrentRendersAreIndependent(t *testing.T) {
	t.Parallel()
	for _, fonts := range []Fonts{GoFonts, CoreFonts} {
		r := newRenderer(t, Config{Fonts: fonts, MaxConcurrent: 8})
		_, want := render(t, r, sampleVoucher(t))
		results := make(chan []byte, 8)
		for range 8 {
			go func() {
				doc, err := r.Render(context.Background(), sampleVoucher(t))
				if err != nil {
					t.Error(err)
				}
				results <- doc
			}()
		}
		for range 8 {
			if got := <-results; !bytes.Equal(got, want) {
				t.Errorf("fonts %d: a concurrent render differs from a lone one", fonts)
			}
		}
	}
}

func TestRender_BeyondMaxConcurrentARenderWaitsForASlotUntilItsContextEnds(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, Config{MaxConcurrent: 1})
	// Take the one slot, as a render in progress does.
	if err := r.slots.Acquire(context.Background(), 1); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := r.Render(ctx, sampleVoucher(t))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "render slot") {
		t.Fatalf("err = %v, want the deadline, met while waiting for a render slot", err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := r.Render(context.Background(), sampleVoucher(t))
		done <- err
	}()
	r.slots.Release(1) // the render in progress ends: the waiting one runs
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting render did not run after the slot was freed")
	}
	// Its slot is given back.
	if !r.slots.TryAcquire(1) {
		t.Fatal("the render did not give its slot back")
	}
}

func TestNewRenderer_MaxConcurrentDefaultsToGOMAXPROCS(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, Config{})
	if r.cfg.MaxConcurrent != runtime.GOMAXPROCS(0) {
		t.Errorf("MaxConcurrent = %d, want GOMAXPROCS (%d)", r.cfg.MaxConcurrent, runtime.GOMAXPROCS(0))
	}
	if _, err := NewRenderer(Config{MaxConcurrent: -1}); err == nil {
		t.Error("a negative MaxConcurrent was accepted")
	}
}
