package domain

import (
	"strconv"
	"strings"
	"time"
)

// minorUnitDigits lists the ISO 4217 currencies whose minor unit is not a
// hundredth; every other currency has two decimals.
var minorUnitDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// FormatMoney writes m as the currency code and the amount with a comma
// between thousands and a point before the decimals: "EUR 1,234.50",
// "JPY 12,000", "KWD 1.250". The code, not a symbol, keeps it unambiguous
// (is "$" dollars of which country?) and printable in any font.
func FormatMoney(m Money) string {
	digits, ok := minorUnitDigits[m.Currency]
	if !ok {
		digits = 2
	}
	neg := m.Amount < 0
	a := m.Amount
	if neg {
		a = -a
	}
	s := strconv.FormatInt(a, 10)
	if len(s) <= digits {
		s = strings.Repeat("0", digits-len(s)+1) + s
	}
	whole, frac := s[:len(s)-digits], s[len(s)-digits:]
	var b strings.Builder
	b.WriteString(m.Currency)
	b.WriteByte(' ')
	if neg {
		b.WriteByte('-')
	}
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if digits > 0 {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// FormatDate writes a date with its weekday and the month's name, "Mon, 2 Jun
// 2025": a guest in any country reads it the same way, which "02/06/2025" is not.
func FormatDate(t time.Time) string { return t.Format("Mon, 2 Jan 2006") }

// FormatNights writes a stay's length: "1 night", "3 nights".
func FormatNights(n int) string { return plural(n, "night", "nights") }

// FormatGuests writes the number of guests: "1 guest", "2 guests".
func FormatGuests(n int) string { return plural(n, "guest", "guests") }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
