package messaging_test

import (
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/messaging"
)

func TestDefaultRetryPolicy(t *testing.T) {
	want := messaging.RetryPolicy{
		MaxAttempts: 5, InitialInterval: 200 * time.Millisecond, Multiplier: 2, MaxInterval: 10 * time.Second,
		RandomizationFactor: 0.2, MaxElapsed: 2 * time.Minute, Timeout: 30 * time.Second, OnExhausted: messaging.ExhaustedDeadLetter,
	}
	if got := messaging.DefaultRetryPolicy(); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if err := want.Validate("h"); err != nil {
		t.Fatalf("the default is invalid: %v", err)
	}
}

func TestEnvPrefix(t *testing.T) {
	for in, want := range map[string]string{"book_room": "BOOK_ROOM_", "notify-email.sent": "NOTIFY_EMAIL_SENT_"} {
		if got := messaging.EnvPrefix(in); got != want {
			t.Errorf("EnvPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

// Not parallel: t.Setenv.
func TestLoadRetryPolicy_TheHandlersVariablesOverTheDefault(t *testing.T) {
	t.Setenv("BOOK_ROOM_MAX_ATTEMPTS", "30")
	t.Setenv("BOOK_ROOM_MAX_ELAPSED", "5m")
	t.Setenv("BOOK_ROOM_ON_EXHAUSTED", "discard")
	t.Setenv("OTHER_MAX_ATTEMPTS", "2") // another handler's
	p, err := messaging.LoadRetryPolicy("book_room", messaging.DefaultRetryPolicy())
	if err != nil {
		t.Fatal(err)
	}
	want := messaging.DefaultRetryPolicy()
	want.MaxAttempts, want.MaxElapsed, want.OnExhausted = 30, 5*time.Minute, messaging.ExhaustedDiscard
	if p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}

	t.Setenv("BOOK_ROOM_MAX_ATTEMPTS", "many")
	if _, err := messaging.LoadRetryPolicy("book_room", messaging.DefaultRetryPolicy()); err == nil || !strings.Contains(err.Error(), "BOOK_ROOM_") {
		t.Fatalf("unparsable value: %v", err)
	}
	t.Setenv("BOOK_ROOM_MAX_ATTEMPTS", "0")
	if _, err := messaging.LoadRetryPolicy("book_room", messaging.DefaultRetryPolicy()); err == nil || !strings.Contains(err.Error(), "BOOK_ROOM_MAX_ATTEMPTS") {
		t.Fatalf("invalid value: %v", err)
	}
}

// Each field on both sides of its limit: the smallest valid value passes,
// the next invalid one fails naming the variable.
func TestRetryPolicy_Validate(t *testing.T) {
	cases := []struct {
		variable  string
		good, bad func(*messaging.RetryPolicy)
	}{
		{"MAX_ATTEMPTS", func(p *messaging.RetryPolicy) { p.MaxAttempts = 1 }, func(p *messaging.RetryPolicy) { p.MaxAttempts = 0 }},
		{"MULTIPLIER", func(p *messaging.RetryPolicy) { p.Multiplier = 1 }, func(p *messaging.RetryPolicy) { p.Multiplier = 0.99 }},
		{"RANDOMIZATION_FACTOR", func(p *messaging.RetryPolicy) { p.RandomizationFactor = 0 }, func(p *messaging.RetryPolicy) { p.RandomizationFactor = -0.01 }},
		{"RANDOMIZATION_FACTOR", func(p *messaging.RetryPolicy) { p.RandomizationFactor = 0.99 }, func(p *messaging.RetryPolicy) { p.RandomizationFactor = 1 }},
		{"INITIAL_INTERVAL", func(p *messaging.RetryPolicy) { p.InitialInterval = 0 }, func(p *messaging.RetryPolicy) { p.InitialInterval = -time.Nanosecond }},
		{"MAX_INTERVAL", func(p *messaging.RetryPolicy) { p.MaxInterval = p.InitialInterval }, func(p *messaging.RetryPolicy) { p.MaxInterval = p.InitialInterval - 1 }},
		{"TIMEOUT", func(p *messaging.RetryPolicy) { p.Timeout = time.Nanosecond }, func(p *messaging.RetryPolicy) { p.Timeout = 0 }},
		{"ON_EXHAUSTED", func(p *messaging.RetryPolicy) { p.OnExhausted = messaging.ExhaustedDiscard }, func(p *messaging.RetryPolicy) { p.OnExhausted = "drop" }},
	}
	for _, c := range cases {
		good, bad := messaging.DefaultRetryPolicy(), messaging.DefaultRetryPolicy()
		c.good(&good)
		c.bad(&bad)
		if err := good.Validate("book_room"); err != nil {
			t.Errorf("%s: valid policy %+v refused: %v", c.variable, good, err)
		}
		if err := bad.Validate("book_room"); err == nil || !strings.Contains(err.Error(), "BOOK_ROOM_"+c.variable) {
			t.Errorf("%s: policy %+v: err %v, want one naming BOOK_ROOM_%s", c.variable, bad, err, c.variable)
		}
	}
}
