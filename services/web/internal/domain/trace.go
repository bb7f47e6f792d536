package domain

import "time"

// Waterfall is a booking's spans on one time line.
type Waterfall struct {
	BookingID string `json:"booking_id"`
	// Traces are the traces the spans come from, with a link to Jaeger's
	// UI when JAEGER_UI_URL is set.
	Traces []TraceRef `json:"traces"`
	// Start is when the first span started; DurationMS is from then until
	// the last span ended.
	Start      time.Time `json:"start"`
	DurationMS float64   `json:"duration_ms"`
	// Services are the services that have spans, in order of their first span.
	Services []string `json:"services"`
	// Spans are in tree order: each span after its parent, siblings by start.
	Spans []Bar `json:"spans"`
	// Truncated says that spans beyond MaxSpans were left out.
	Truncated bool `json:"truncated,omitempty"`
}

// TraceRef is one trace of the booking.
type TraceRef struct {
	ID  string `json:"id"`
	URL string `json:"url,omitempty"`
}

// Bar is one span.
type Bar struct {
	TraceID  string `json:"trace_id"`
	SpanID   string `json:"span_id"`
	ParentID string `json:"parent_id,omitempty"`
	Service  string `json:"service"`
	Name     string `json:"name"`
	// Depth is the span's depth in the tree (0 for a root).
	Depth int `json:"depth"`
	// StartMS is the span's start after the waterfall's start.
	StartMS    float64 `json:"start_ms"`
	DurationMS float64 `json:"duration_ms"`
	// OffsetPct and WidthPct place the bar on the time line (0 to 100).
	OffsetPct float64 `json:"offset_pct"`
	WidthPct  float64 `json:"width_pct"`
	Error     bool    `json:"error"`
}
