package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestContextAttrsAppearOnEveryLine(t *testing.T) {
	var buf bytes.Buffer
	log := NewWithWriter(&buf, "booking", "debug", "json")
	ctx := WithAttrs(context.Background(), slog.String("booking_id", "b1"))
	ctx = WithAttrs(ctx, slog.String("message_uuid", "m1"), slog.String("booking_id", "b2"))
	log.InfoContext(ctx, "confirmed")

	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["service"] != "booking" || line["booking_id"] != "b2" || line["message_uuid"] != "m1" {
		t.Fatalf("line %v", line)
	}
}

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{
		"guest@example.com": "g***@example.com",
		"not-an-email":      "***",
		"@x":                "***",
	} {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}
