package site

import "testing"

func TestMoney_FormatsMinorUnitsByCurrency(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		amount   int64
		currency string
	}{
		"€95.00":        {9500, "EUR"},
		"€0.05":         {5, "EUR"},
		"€1,234,567.89": {123456789, "EUR"},
		"£1,000.00":     {100000, "GBP"},
		"¥1,500":        {1500, "JPY"},
		"CHF 12.30":     {1230, "CHF"},
		"KWD 1.250":     {1250, "KWD"},
		"−€3.00":        {-300, "EUR"},
	}
	for want, c := range cases {
		if got := Money(c.amount, c.currency); got != want {
			t.Errorf("Money(%d, %s) = %q, want %q", c.amount, c.currency, got, want)
		}
	}
}

func TestHumanise_UsesTheFormsWordsForTheAPIsFields(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"check_out must be after check_in":          "Check-out must be after check-in",
		"guest_email is required":                   "Email is required",
		"guest_name must be at most 100 characters": "Name must be at most 100 characters",
		"a double room sleeps at most 2 guests":     "A double room sleeps at most 2 guests",
		"guests must be between 1 and 20":           "Guests must be between 1 and 20",
	}
	for in, want := range cases {
		if got := humanise(in); got != want {
			t.Errorf("humanise(%q) = %q, want %q", in, got, want)
		}
	}
}
