package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2030, 3, 10, 23, 59, 0, 0, time.UTC)

func fieldOf(t *testing.T, err error) string {
	t.Helper()
	var re *Problem
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not a Problem", err)
	}
	return re.Field
}

func TestValidateStay_Boundaries(t *testing.T) {
	t.Parallel()
	ok := [][2]string{
		{"2030-03-10", "2030-03-11"}, // today (UTC), one night
		{"2030-03-10", "2030-04-09"}, // 30 nights
		{"2032-03-10", "2032-03-11"}, // exactly two years ahead
	}
	for _, c := range ok {
		if _, _, err := validateStay(c[0], c[1], now); err != nil {
			t.Errorf("%v: %v", c, err)
		}
	}
	bad := map[[2]string]string{
		{"2030-03-09", "2030-03-11"}: "check_in",  // yesterday
		{"2032-03-11", "2032-03-12"}: "check_in",  // two years and a day
		{"2030-03-12", "2030-03-12"}: "check_out", // zero nights
		{"2030-03-12", "2030-03-11"}: "check_out", // reversed
		{"2030-03-10", "2030-04-10"}: "check_out", // 31 nights
		{"2030-3-12", "2030-03-14"}:  "check_in",  // not zero-padded
		{"2030-03-12", "14.03.2030"}: "check_out", // another format
		{"2030-02-30", "2030-03-14"}: "check_in",  // no such day
		{"", "2030-03-14"}:           "check_in",
		{"2030-03-12", ""}:           "check_out",
	}
	for c, field := range bad {
		_, _, err := validateStay(c[0], c[1], now)
		if err == nil {
			t.Errorf("%v accepted", c)
			continue
		}
		if got := fieldOf(t, err); got != field {
			t.Errorf("%v: field %s, want %s", c, got, field)
		}
	}
}

func TestValidate_NormalisesSoTheCanonicalBodyIgnoresPresentation(t *testing.T) {
	t.Parallel()
	a := BookingRequest{HotelID: "h", RoomType: "double", CheckIn: "2030-03-12", CheckOut: "2030-03-14", Guests: 2,
		GuestName: "Ana Silva", GuestEmail: "ana@example.com"}
	b := a
	b.GuestName, b.GuestEmail = "  Ana Silva\t", " ana@example.com "
	va, err := a.Validate(now)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := b.Validate(now)
	if err != nil {
		t.Fatal(err)
	}
	if string(va.Canonical()) != string(vb.Canonical()) {
		t.Fatalf("canonical bodies differ:\n%s\n%s", va.Canonical(), vb.Canonical())
	}
	c := a
	c.Guests = 1
	vc, err := c.Validate(now)
	if err != nil {
		t.Fatal(err)
	}
	if string(va.Canonical()) == string(vc.Canonical()) {
		t.Fatal("another guest count gave the same canonical body")
	}
	want := `{"hotel_id":"h","room_type":"double","check_in":"2030-03-12","check_out":"2030-03-14","guests":2,"guest_name":"Ana Silva","guest_email":"ana@example.com"}`
	if string(va.Canonical()) != want {
		t.Fatalf("canonical %s", va.Canonical())
	}
}

func TestValidateGuestNameAndEmail(t *testing.T) {
	t.Parallel()
	names := map[string]bool{
		"Ana":                    true,
		"José Ñúñez-O'Brien":     true,
		"李小龙":                    true,
		strings.Repeat("é", 100): true,
		strings.Repeat("é", 101): false,
		"":                       false,
		"Ana\x00":                false,
		"Ana\u0085Silva":         false, // C1 control
		"Ana \ufffd":             false, // what json leaves of invalid UTF-8
		"Ana\x7f":                false,
		// Bidirectional and invisible format characters (SECURITY.md).
		"Ana\u202eavliS":       false, // right-to-left override
		"Ana\u202aSilva":       false, // left-to-right embedding
		"Ana\u2066Silva\u2069": false, // isolates
		"Ana\u2067Silva":       false,
		"Ana\u2068Silva":       false,
		"Ana\u200bSilva":       false, // zero-width space
		"Ana\u200dSilva":       false, // zero-width joiner between Latin letters
		"Ana\u200cSilva":       false, // zero-width non-joiner between Latin letters
		"\u200c\u0645\u06cc":   false, // non-joiner at an edge
		"\u0645\u06cc\u200c":   false,
		"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645": true,  // Persian, the non-joiner joins letters
		"\u0915\u094d\u200d\u0937":                         true,  // Devanagari, the joiner after a virama
		"Ana\u200fSilva":                                   false, // right-to-left mark
		"\ufeffAna":                                        false, // byte order mark
		"Ana\u00adSilva":                                   false, // soft hyphen (Cf)
		"Ana\u2028Silva":                                   false, // line separator
		"Ana\U000E0041":                                    false, // tag character (Cf)
		"Ana \u05e9\u05dc\u05d5\u05dd":                     true,  // right-to-left letters themselves are fine
	}
	for name, valid := range names {
		if _, err := validateGuestName(name); (err == nil) != valid {
			t.Errorf("name %q: err %v, want valid=%v", name, err, valid)
		}
	}
	emails := map[string]bool{
		"ana@example.com":          true,
		"ana.silva+trip@mail.pt":   true,
		"ana":                      false,
		"ana@":                     false,
		"Ana <ana@example.com>":    false,
		"<ana@example.com>":        false,
		"ana@example.com, b@c.com": false,
		"ana@exa mple.com":         false,
		"ana\u202e@example.com":    false,
		"ana@exa\u200bmple.com":    false,
		strings.Repeat("a", 243) + "@example.com": false, // 255 bytes
	}
	for email, valid := range emails {
		if _, err := validateEmail(email); (err == nil) != valid {
			t.Errorf("email %q: err %v, want valid=%v", email, err, valid)
		}
	}
}
