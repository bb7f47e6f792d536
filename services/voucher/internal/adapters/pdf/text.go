package pdf

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// coverage reports whether the document's fonts can draw r.
type coverage func(r rune) bool

// substitution counts what printable had to change in a string.
type substitution struct {
	Transliterated int // runes written with a close letter the font has
	Replaced       int // runes written as the replacement character
}

func (s substitution) add(o substitution) substitution {
	return substitution{s.Transliterated + o.Transliterated, s.Replaced + o.Replaced}
}

// printable rewrites s with only runes the fonts can draw, so that nothing
// is silently drawn as an empty box or dropped:
//
//   - control and format characters (newlines, bidi overrides, zero-width
//     joiners) become a space or vanish: they would break the layout or
//     reorder the text;
//   - a letter the font lacks is written with the closest one it has: its
//     composition with fewer accents ("ễ" -> "ê", "ǹ" -> "n"), or its
//     compatibility form ("Ｔａｒｏ" -> "Taro");
//   - anything else (CJK, Thai, emoji) is replaced by repl, visibly.
func printable(s string, has coverage, repl rune) (string, substitution) {
	var b strings.Builder
	var sub substitution
	for _, r := range norm.NFC.String(s) {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || unicode.Is(unicode.Zs, r):
			b.WriteByte(' ')
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			// dropped
		case has(r):
			b.WriteRune(r)
		default:
			if alt, ok := transliterate(r, has); ok {
				b.WriteString(alt)
				sub.Transliterated++
			} else {
				b.WriteRune(repl)
				sub.Replaced++
			}
		}
	}
	return strings.Join(strings.Fields(b.String()), " "), sub
}

// transliterate finds a drawable stand-in for r.
func transliterate(r rune, has coverage) (string, bool) {
	// Canonical decomposition: base letter and combining marks. Keep as many
	// marks as still compose to something drawable ("ễ" = e+^+~ -> "ê").
	d := []rune(norm.NFD.String(string(r)))
	for n := len(d) - 1; n >= 1; n-- {
		if alt := norm.NFC.String(string(d[:n])); allDrawable(alt, has) {
			return alt, true
		}
	}
	// Compatibility decomposition: full-width forms, ligatures, and the like.
	var b strings.Builder
	for _, c := range norm.NFKD.String(string(r)) {
		if unicode.Is(unicode.Mn, c) {
			continue
		}
		b.WriteRune(c)
	}
	if alt := norm.NFC.String(b.String()); alt != "" && alt != string(r) && allDrawable(alt, has) {
		return alt, true
	}
	return "", false
}

func allDrawable(s string, has coverage) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !has(r) {
			return false
		}
	}
	return true
}
