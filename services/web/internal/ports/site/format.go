package site

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/staybook/staybook/shared/contracts"
)

// minorDigits is how many minor-unit digits a currency has when not two
// (ISO 4217).
var minorDigits = map[string]int{
	"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "HUF": 2,
	"BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}

var currencySymbols = map[string]string{"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}

// Money formats an amount in minor units: Money(9500, "EUR") is "€95.00",
// Money(123456, "CHF") is "CHF 1,234.56".
func Money(amount int64, currency string) string {
	digits, ok := minorDigits[currency]
	if !ok {
		digits = 2
	}
	neg := amount < 0
	if neg {
		amount = -amount
	}
	unit := int64(1)
	for range digits {
		unit *= 10
	}
	major, minor := amount/unit, amount%unit
	s := groupThousands(strconv.FormatInt(major, 10))
	if digits > 0 {
		s += fmt.Sprintf(".%0*d", digits, minor)
	}
	if sym, ok := currencySymbols[currency]; ok {
		s = sym + s
	} else {
		s = currency + " " + s
	}
	if neg {
		s = "−" + s
	}
	return s
}

func groupThousands(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// displayDate shows a YYYY-MM-DD date as "Mon 12 May 2031"; anything else as it is.
func displayDate(s string) string {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	return t.Format("Mon 2 Jan 2006")
}

func stars(n int) string {
	n = max(0, min(n, 5))
	return strings.Repeat("★", n) + strings.Repeat("☆", 5-n)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Labels shown to the customer; the script gets the same ones (data-labels)
// so that a live update reads like a rendered page.
var (
	statusLabels = map[string]string{
		contracts.StatusPending:   "Waiting in line",
		contracts.StatusConfirmed: "Confirmed",
		contracts.StatusRejected:  "Not booked",
	}
	taskLabels = map[string]string{
		contracts.TaskPending:     "In progress",
		contracts.TaskDone:        "Done",
		contracts.TaskFailedState: "Delayed: we are on it",
		contracts.TaskSkipped:     "Not needed",
	}
	reasonLabels = map[string]string{
		"sold_out":               "Sorry: this room type is sold out for these dates. Nothing was charged.",
		"unknown_room_type":      "Sorry: this hotel no longer offers that room type.",
		"invalid_stay":           "Sorry: the hotel cannot take a stay on these dates.",
		"expired":                "Sorry: your request waited too long in line and was not booked. Please book again.",
		"idempotency_key_reused": "This form had already been used for another booking. Please book again.",
	}
)

// fieldNames maps the API's field names to what the form calls them, so
// that the API's messages read naturally next to the fields.
var fieldNames = map[string]string{
	"hotel_id": "hotel", "room_type": "room type", "check_in": "check-in", "check_out": "check-out",
	"guest_name": "name", "guest_email": "email",
}

var fieldNameRE = regexp.MustCompile(`\b(hotel_id|room_type|check_in|check_out|guest_name|guest_email)\b`)

// humanise rewrites an API validation message for the form: field names as
// the form labels them, a capital first letter.
func humanise(msg string) string {
	msg = fieldNameRE.ReplaceAllStringFunc(msg, func(f string) string { return fieldNames[f] })
	r, n := utf8.DecodeRuneInString(msg)
	return string(unicode.ToUpper(r)) + msg[n:]
}
