package api

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/staybook/staybook/shared/httpx"
)

func TestIdempotencyKey_PrintableASCIIUpTo255(t *testing.T) {
	t.Parallel()
	cases := []struct {
		values []string
		key    string
		ok     bool
	}{
		{nil, "", true},
		{[]string{"a"}, "a", true},
		{[]string{strings.Repeat("k", 255)}, strings.Repeat("k", 255), true},
		{[]string{"order 42 / retry ~"}, "order 42 / retry ~", true},
		{[]string{""}, "", false},
		{[]string{strings.Repeat("k", 256)}, "", false},
		{[]string{"tab\there"}, "", false},
		{[]string{"ключ"}, "", false},
		{[]string{"a", "b"}, "", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/api/bookings", nil)
		for _, v := range c.values {
			r.Header.Add("Idempotency-Key", v)
		}
		key, err := idempotencyKey(r)
		if (err == nil) != c.ok || key != c.key {
			t.Errorf("%q: key %q err %v", c.values, key, err)
			continue
		}
		var re *httpx.RequestError
		if err != nil && (!errors.As(err, &re) || re.Field != "Idempotency-Key") {
			t.Errorf("%q: error %v does not name the field Idempotency-Key", c.values, err)
		}
	}
}
