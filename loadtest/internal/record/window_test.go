package record

import (
	"math"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// TestProgress_RateCountsRequestsSentWhileNoneIsAnswered is direct mode
// under a spike: 70 requests a second leave, each takes longer than the
// run so far to answer. The rate must read 70/s, not 0.
func TestProgress_RateCountsRequestsSentWhileNoneIsAnswered(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	r := New(start)
	for i := range 70 * 5 { // 5 s at 70/s
		r.Sending(start.Add(time.Duration(i) * time.Second / 70))
	}
	p := r.Progress(start.Add(5 * time.Second))
	if p.Sent != 350 || p.Answered != 0 || math.Abs(p.Rate-70) > 1 {
		t.Fatalf("sent %d, answered %d, rate %.1f/s: want 350 sent, none answered, 70/s", p.Sent, p.Answered, p.Rate)
	}
	// The first answers come in: they do not change the rate of sending.
	for i := range 10 {
		r.Add(&vegeta.Result{Timestamp: start.Add(time.Duration(i) * time.Second / 70), Latency: 5 * time.Second, Code: 200})
	}
	if p := r.Progress(start.Add(5 * time.Second)); p.Answered != 10 || p.Sent != 350 || math.Abs(p.Rate-70) > 1 {
		t.Fatalf("answered %d, sent %d, rate %.1f/s", p.Answered, p.Sent, p.Rate)
	}
}

// TestWindow_RateSlidesWithTime: the rate follows the sending within the
// window, reads the first second right (not diluted by the window's
// span), and falls to 0 once nothing has been sent for a whole window.
func TestWindow_RateSlidesWithTime(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	w := NewWindow(3*time.Second, 30)
	for i := range 50 { // 50/s for the first second
		w.Add(start.Add(time.Duration(i) * 20 * time.Millisecond))
	}
	if got := w.Rate(start, start.Add(time.Second)); math.Abs(got-50) > 1 {
		t.Fatalf("after 1 s at 50/s: %.1f/s", got)
	}
	for i := range 400 { // then 200/s for two seconds
		w.Add(start.Add(time.Second + time.Duration(i)*5*time.Millisecond))
	}
	if got := w.Rate(start, start.Add(3*time.Second)); math.Abs(got-150) > 5 { // to a bucket (100 ms): 153
		t.Fatalf("over 3 s (50/s then 200/s): %.1f/s, want 150", got)
	}
	if got := w.Rate(start, start.Add(4*time.Second)); math.Abs(got-400.0/3) > 5 {
		t.Fatalf("a second later (two seconds at 200/s, one idle): %.1f/s, want 133", got)
	}
	if got := w.Rate(start, start.Add(7*time.Second)); got != 0 {
		t.Fatalf("after a whole idle window: %.1f/s, want 0", got)
	}
	w.Add(start.Add(time.Second)) // too old for the window: not counted
	if got := w.Rate(start, start.Add(7*time.Second)); got != 0 {
		t.Fatalf("an event older than the window counted: %.1f/s", got)
	}
}
