// Package record keeps what the load test saw: every result, by second of
// the run (latencies, status classes, timeouts), the overall figures, and
// the bookings the web tier accepted with the Idempotency-Key each came with.
package record

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/staybook/staybook/loadtest/internal/scenario"
)

// Second is what happened to the requests sent in one second of the run.
type Second struct {
	Sent, C2xx, C4xx, C5xx, Errors, Timeouts int
	// Accepted counts booking requests answered 202 (queue) or 201/200 (direct).
	Accepted int
	// Latencies of every request, in ms; BookLatencies of the booking
	// requests, whatever their answer (a timeout too); AcceptedLatencies of
	// those answered with a booking (202, or 201 or 200 in direct mode);
	// RefusedLatencies of those the web tier refused with 503.
	Latencies, BookLatencies, AcceptedLatencies, RefusedLatencies []float64
}

// Accepted is a booking the web tier accepted.
type Accepted struct {
	ID  string
	Key string
	// SentAt and Latency: when the request left and how long the answer took.
	SentAt  time.Time
	Latency time.Duration
	Code    int
	// Status is pending (202) or the final state a direct-mode 201 carries.
	Status string
	Reason string
	// TraceID is the trace of the request that made the booking (the
	// answer's trace_id, else its traceparent header).
	TraceID string
}

// Recorder collects results; it is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	start   time.Time
	total   vegeta.Metrics
	seconds []*Second
	codes   map[string]int
	kinds   map[string]int

	accepted map[string]*Accepted // by booking ID
	keyIDs   map[string][]string  // Idempotency-Key -> distinct IDs answered
	repeats  int                  // repeated requests answered with an ID
	dupIDs   map[string]struct{}  // IDs answered for two different keys
	idKey    map[string]string    // booking ID -> first key
	bookings int                  // booking requests sent (repeats included)
	answered map[string]int       // booking request outcome by status

	sent     uint64  // requests handed to the client, answered or not
	sentRate *Window // of sent
}

// RateWindow is the span over which the progress line's rate is taken.
const RateWindow = 3 * time.Second

// New returns a recorder for a run that starts at start.
func New(start time.Time) *Recorder {
	return &Recorder{
		start: start, codes: map[string]int{}, kinds: map[string]int{},
		accepted: map[string]*Accepted{}, keyIDs: map[string][]string{}, dupIDs: map[string]struct{}{},
		idKey: map[string]string{}, answered: map[string]int{}, sentRate: NewWindow(RateWindow, 30),
	}
}

// Sending records a request leaving at t. Results arrive only when a
// request is answered or gives up, which under load can be the client's
// whole timeout later: the rate of sending is counted here instead.
func (r *Recorder) Sending(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent++
	r.sentRate.Add(t)
}

// IsTimeout reports whether a result's error is the client giving up.
func IsTimeout(res *vegeta.Result) bool {
	return res.Code == 0 && (strings.Contains(res.Error, "Client.Timeout") ||
		strings.Contains(res.Error, "deadline exceeded") || strings.Contains(res.Error, "timeout"))
}

// StatusKey is how a result is counted in errors_by_status: the HTTP code,
// or "timeout" or "transport" for requests that got no answer.
func StatusKey(res *vegeta.Result) string {
	switch {
	case res.Code != 0:
		return strconv.Itoa(int(res.Code))
	case IsTimeout(res):
		return "timeout"
	default:
		return "transport"
	}
}

// Add records one result.
func (r *Recorder) Add(res *vegeta.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total.Add(res)
	i := max(int(res.Timestamp.Sub(r.start)/time.Second), 0)
	for len(r.seconds) <= i {
		r.seconds = append(r.seconds, &Second{})
	}
	s := r.seconds[i]
	s.Sent++
	ms := float64(res.Latency) / float64(time.Millisecond)
	s.Latencies = append(s.Latencies, ms)
	r.codes[StatusKey(res)]++
	switch {
	case res.Code >= 200 && res.Code < 300:
		s.C2xx++
	case res.Code >= 400 && res.Code < 500:
		s.C4xx++
	case res.Code >= 500:
		s.C5xx++
	case res.Code == 0:
		s.Errors++
		if IsTimeout(res) {
			s.Timeouts++
		}
	}
	kind := scenario.Echoed(res.Headers, scenario.HeaderKind)
	if kind == "" && res.Method == http.MethodPost {
		kind = scenario.KindBook // no answer, so no echo
	}
	if kind == "" {
		kind = scenario.KindBrowse
	}
	r.kinds[kind]++
	if kind == scenario.KindBrowse {
		return
	}
	r.bookings++
	s.BookLatencies = append(s.BookLatencies, ms)
	r.answered[StatusKey(res)]++
	if res.Code == http.StatusServiceUnavailable {
		s.RefusedLatencies = append(s.RefusedLatencies, ms)
		return
	}
	if res.Code != http.StatusAccepted && res.Code != http.StatusCreated && res.Code != http.StatusOK {
		return
	}
	var body struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		TraceID string `json:"trace_id"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil || body.ID == "" {
		r.codes["unreadable_body"]++
		return
	}
	s.Accepted++
	s.AcceptedLatencies = append(s.AcceptedLatencies, ms)
	key := scenario.Echoed(res.Headers, scenario.HeaderIdempotencyKey)
	if kind == scenario.KindRepeat {
		r.repeats++
	}
	if key != "" && !slices.Contains(r.keyIDs[key], body.ID) {
		r.keyIDs[key] = append(r.keyIDs[key], body.ID)
	}
	if first, ok := r.idKey[body.ID]; ok && first != key {
		r.dupIDs[body.ID] = struct{}{}
	} else if !ok {
		r.idKey[body.ID] = key
	}
	a, ok := r.accepted[body.ID]
	if !ok {
		a = &Accepted{ID: body.ID, Key: key, SentAt: res.Timestamp, Latency: res.Latency, Code: int(res.Code), TraceID: body.TraceID}
		tp := res.Headers.Get(scenario.HeaderTraceparent)
		if a.TraceID == "" {
			a.TraceID = scenario.TraceID(tp)
		}
		if tp != "" && !scenario.Sampled(tp) {
			a.TraceID = "" // not recorded (-trace-share): no trace to link to
		}
		r.accepted[body.ID] = a
	}
	if body.Status != "pending" {
		a.Status, a.Reason = body.Status, body.Reason
	} else if a.Status == "" {
		a.Status = body.Status
	}
}

// Progress is a running view for the terminal.
type Progress struct {
	Elapsed time.Duration
	// Sent counts the requests sent, Answered those with a result (an
	// answer, a timeout or an error); the rest are in flight.
	Sent, Answered uint64
	// Rate is the requests sent per second over the last RateWindow.
	Rate                              float64
	C2xx, C4xx, C5xx, Errors, Timeout int
	P99                               time.Duration
	Accepted                          int
}

// Progress returns the figures so far.
func (r *Recorder) Progress(now time.Time) Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := Progress{
		Elapsed: now.Sub(r.start), Sent: max(r.sent, r.total.Requests), Answered: r.total.Requests,
		Rate: r.sentRate.Rate(r.start, now), Accepted: len(r.accepted),
	}
	if p.Answered > 0 {
		p.P99 = r.total.Latencies.Quantile(0.99)
	}
	for _, s := range r.seconds {
		p.C2xx += s.C2xx
		p.C4xx += s.C4xx
		p.C5xx += s.C5xx
		p.Errors += s.Errors
		p.Timeout += s.Timeouts
	}
	return p
}

// Seconds returns the per-second records (shared: call after the run).
func (r *Recorder) Seconds() []*Second {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seconds)
}

// Codes counts results by StatusKey.
func (r *Recorder) Codes() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return cloneMap(r.codes)
}

// Kinds counts results by request kind (browse, book, repeat).
func (r *Recorder) Kinds() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return cloneMap(r.kinds)
}

// BookingAnswers counts booking requests by StatusKey.
func (r *Recorder) BookingAnswers() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return cloneMap(r.answered)
}

func cloneMap(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Total returns vegeta's metrics of the whole run, closed.
func (r *Recorder) Total() vegeta.Metrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.total
	m.Close()
	return m
}

// Accepted returns the accepted bookings, in the order they were sent.
func (r *Recorder) Accepted() []*Accepted {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Accepted, 0, len(r.accepted))
	for _, a := range r.accepted {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *Accepted) int { return a.SentAt.Compare(b.SentAt) })
	return out
}

// Idempotency is what the answers say about Idempotency-Keys.
type Idempotency struct {
	// Repeats is how many repeated requests were answered with an ID.
	Repeats int `json:"repeats_answered"`
	// KeysWithTwoIDs: keys answered with more than one booking ID.
	KeysWithTwoIDs int `json:"keys_with_two_ids"`
	// IDsOfTwoKeys: booking IDs answered to two different keys.
	IDsOfTwoKeys int `json:"ids_of_two_keys"`
}

// Idempotency checks the keys against the IDs.
func (r *Recorder) Idempotency() Idempotency {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := Idempotency{Repeats: r.repeats, IDsOfTwoKeys: len(r.dupIDs)}
	for _, ids := range r.keyIDs {
		if len(ids) > 1 {
			out.KeysWithTwoIDs++
		}
	}
	return out
}

// Quantiles returns the q-quantiles of values (ms), exact (nearest rank).
func Quantiles(values []float64, qs ...float64) []float64 {
	out := make([]float64, len(qs))
	if len(values) == 0 {
		return out
	}
	v := slices.Clone(values)
	slices.Sort(v)
	for i, q := range qs {
		rank := int(q*float64(len(v))+0.999999) - 1
		out[i] = v[min(max(rank, 0), len(v)-1)]
	}
	return out
}
