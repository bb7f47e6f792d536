package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// room is a room type the stream books.
type room struct{ hotel, roomType string }

// plentiful room types (thousands of rooms) make most bookings confirmed;
// scarce ones (four rooms) sell out within seconds, so that bookings race
// for the last rooms all through the run.
var (
	plentiful = []room{
		{"loadtest-grand-central", "single"}, {"loadtest-grand-central", "double"}, {"loadtest-grand-central", "twin"},
	}
	scarce = []room{
		{"lisbon-alfama-house", "single"}, {"porto-ribeira-inn", "double"}, {"krakow-kazimierz-rooms", "suite"},
	}
)

// StreamStats counts what the client saw.
type StreamStats struct {
	// Offered: bookings the stream started; Skipped: ticks dropped because
	// every client worker was busy retrying (the web tier was down).
	Offered, Skipped int
	// Accepted: bookings answered 202; GaveUp: bookings never accepted
	// within the client's patience; Invalid: answered 4xx (a bug in the run
	// or the web tier).
	Accepted, GaveUp, Invalid int
	// Refused counts attempts answered other than 202, by status ("conn"
	// for no answer at all).
	Refused map[string]int
	// Probes re-sent an accepted booking with its key; ProbeMismatches got
	// another ID back (or another ID came back on a retry).
	Probes, ProbeMismatches int
	Mismatches              []string
}

// stream keeps bookings flowing into the web tier at a steady rate, as
// customers would: each booking has an Idempotency-Key and is retried with
// the same key and body until accepted.
type stream struct {
	web      string
	rate     float64
	workers  int
	run      string
	client   *http.Client
	tracker  *tracker
	patience time.Duration
	start    time.Time

	seq    atomic.Int64
	jobs   chan int64
	stop   chan struct{}
	pacers sync.WaitGroup
	done   sync.WaitGroup

	mu    sync.Mutex
	stats StreamStats
}

func newStream(web string, rate float64, workers int, run string, tr *tracker) *stream {
	transport := &http.Transport{MaxIdleConnsPerHost: workers, IdleConnTimeout: 30 * time.Second}
	return &stream{
		web: web, rate: rate, workers: workers, run: run, tracker: tr,
		client:   &http.Client{Timeout: 15 * time.Second, Transport: transport},
		patience: 3 * time.Minute,
		stop:     make(chan struct{}),
		stats:    StreamStats{Refused: map[string]int{}},
	}
}

// Start starts the pacer and the client workers.
func (s *stream) Start() {
	s.start = time.Now()
	s.jobs = make(chan int64, s.workers)
	s.pacers.Add(1)
	go func() {
		defer s.pacers.Done()
		s.pace(s.rate, nil)
	}()
	s.done.Add(1)
	go func() { // the jobs end with the last pacer
		defer s.done.Done()
		s.pacers.Wait()
		close(s.jobs)
	}()
	for range s.workers {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			for i := range s.jobs {
				s.book(i)
			}
		}()
	}
}

// Burst offers rate more bookings a second, on top of the steady stream,
// until the returned stop is called (or the stream stops).
func (s *stream) Burst(rate float64) (stop func()) {
	end := make(chan struct{})
	s.pacers.Add(1)
	go func() {
		defer s.pacers.Done()
		s.pace(rate, end)
	}()
	var once sync.Once
	return func() { once.Do(func() { close(end) }) }
}

// pace offers one booking per tick of rate, dropped if no worker is free,
// until the stream stops or end is closed.
func (s *stream) pace(rate float64, end <-chan struct{}) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-end:
			return
		case <-tick.C:
		}
		i := s.seq.Add(1)
		select {
		case s.jobs <- i:
			s.count(func(st *StreamStats) { st.Offered++ })
		default:
			s.count(func(st *StreamStats) { st.Skipped++ })
		}
	}
}

// Stop stops offering bookings and waits for the ones in progress.
func (s *stream) Stop() {
	close(s.stop)
	s.done.Wait()
	s.client.CloseIdleConnections()
}

// Stats returns a copy of the counters.
func (s *stream) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Refused = map[string]int{}
	for k, v := range s.stats.Refused {
		st.Refused[k] = v
	}
	st.Mismatches = append([]string(nil), s.stats.Mismatches...)
	return st
}

func (s *stream) count(f func(*StreamStats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// request is the body of POST /api/bookings.
type request struct {
	HotelID    string `json:"hotel_id"`
	RoomType   string `json:"room_type"`
	CheckIn    string `json:"check_in"`
	CheckOut   string `json:"check_out"`
	Guests     int    `json:"guests"`
	GuestName  string `json:"guest_name"`
	GuestEmail string `json:"guest_email"`
}

// newRequest makes booking i. Plentiful stays spread over two months; one in
// five bookings asks for a scarce room on nights that move on every ten
// seconds of the run, so that each set of nights sells out while the
// stream (and a fault) goes on.
func (s *stream) newRequest(i int64) (request, bool) {
	today := s.start.UTC().Truncate(24 * time.Hour)
	r := request{
		Guests:     1,
		GuestName:  fmt.Sprintf("Chaos Guest %d", i),
		GuestEmail: fmt.Sprintf("chaos-%s-%d@example.com", s.run, i),
	}
	var in time.Time
	var nights int
	isScarce := i%5 == 0
	if isScarce {
		rm := scarce[rand.IntN(len(scarce))]
		r.HotelID, r.RoomType = rm.hotel, rm.roomType
		slot := int(time.Since(s.start) / (10 * time.Second))
		in = today.AddDate(0, 0, 200+3*slot+rand.IntN(2))
		nights = 1 + rand.IntN(2)
	} else {
		rm := plentiful[rand.IntN(len(plentiful))]
		r.HotelID, r.RoomType = rm.hotel, rm.roomType
		in = today.AddDate(0, 0, 30+rand.IntN(60))
		nights = 1 + rand.IntN(3)
	}
	r.CheckIn, r.CheckOut = in.Format(time.DateOnly), in.AddDate(0, 0, nights).Format(time.DateOnly)
	return r, isScarce
}

// book posts booking i until it is accepted, as a client would: the same
// key and body every time, with a growing pause between tries.
func (s *stream) book(i int64) {
	req, isScarce := s.newRequest(i)
	b := &Booking{Key: fmt.Sprintf("chaos-%s-%07d", s.run, i), Scarce: isScarce, FirstTry: time.Now()}
	body, _ := json.Marshal(req)
	pause := 100 * time.Millisecond
	for {
		b.Attempts++
		status, id := s.post(b.Key, body)
		switch {
		case status == http.StatusAccepted && id != "":
			b.ID, b.AcceptedAt = id, time.Now()
			if earlier := s.tracker.accepted(b); earlier != nil && earlier.ID != id {
				s.mismatch(fmt.Sprintf("key %s: ID %s, earlier %s", b.Key, id, earlier.ID))
			}
			s.count(func(st *StreamStats) { st.Accepted++ })
			if i%20 == 0 {
				s.probe(b, body)
			}
			return
		case status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout:
			s.count(func(st *StreamStats) { st.Invalid++; st.Refused[fmt.Sprint(status)]++ })
			return
		}
		label := "conn"
		if status > 0 {
			label = fmt.Sprint(status)
		}
		s.count(func(st *StreamStats) { st.Refused[label]++ })
		if time.Since(b.FirstTry) > s.patience {
			s.count(func(st *StreamStats) { st.GaveUp++ })
			return
		}
		// Jitter, as a well-behaved client's backoff has.
		time.Sleep(pause/2 + rand.N(pause))
		pause = min(2*pause, 2*time.Second)
	}
}

// probe sends an accepted booking again with its key: the web tier must
// answer with the same ID (and the booking service must not book it twice).
func (s *stream) probe(b *Booking, body []byte) {
	status, id := s.post(b.Key, body)
	s.count(func(st *StreamStats) { st.Probes++ })
	if status == http.StatusAccepted && id != b.ID {
		s.mismatch(fmt.Sprintf("key %s: probe got ID %s, accepted as %s", b.Key, id, b.ID))
	}
}

func (s *stream) mismatch(text string) {
	s.count(func(st *StreamStats) {
		st.ProbeMismatches++
		if len(st.Mismatches) < 20 {
			st.Mismatches = append(st.Mismatches, text)
		}
	})
}

// post sends one attempt; status 0 means no answer (refused, reset, timeout).
func (s *stream) post(key string, body []byte) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.web+"/api/bookings", bytes.NewReader(body))
	if err != nil {
		return 0, ""
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var out struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out.ID
}
