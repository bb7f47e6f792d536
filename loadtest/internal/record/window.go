package record

import "time"

// Window counts events over a sliding span of time, in equal buckets: the
// rate it gives moves with every bucket, not once a second, and counts
// what happened in the span just past, whatever is still unanswered.
type Window struct {
	width  time.Duration // of one bucket
	counts []int
	newest int64 // index of the newest bucket: time since the epoch / width
}

// NewWindow returns a window over span, in buckets of span/buckets.
func NewWindow(span time.Duration, buckets int) *Window {
	if buckets < 2 || span < time.Duration(buckets) {
		panic("record: a window needs at least two buckets of a nanosecond")
	}
	return &Window{width: span / time.Duration(buckets), counts: make([]int, buckets)}
}

// Add counts one event at t; events older than the window are ignored.
func (w *Window) Add(t time.Time) {
	i := w.advance(t)
	if i <= w.newest-int64(len(w.counts)) {
		return
	}
	w.counts[i%int64(len(w.counts))]++
}

// Rate is the events per second over the span before now, or over the
// time since start when that is shorter (the first seconds of a run).
func (w *Window) Rate(start, now time.Time) float64 {
	i := w.advance(now)
	var n int
	for _, c := range w.counts {
		n += c
	}
	// The newest bucket is only partly past.
	covered := time.Duration(len(w.counts)-1)*w.width + time.Duration(now.UnixNano()-i*int64(w.width))
	covered = min(covered, now.Sub(start))
	if covered <= 0 {
		return 0
	}
	return float64(n) / covered.Seconds()
}

// advance moves the window to t (clearing the buckets it passes) and
// returns t's bucket index.
func (w *Window) advance(t time.Time) int64 {
	i := t.UnixNano() / int64(w.width)
	if i <= w.newest {
		return i
	}
	for j := max(w.newest+1, i-int64(len(w.counts))+1); j <= i; j++ {
		w.counts[j%int64(len(w.counts))] = 0
	}
	w.newest = i
	return i
}
