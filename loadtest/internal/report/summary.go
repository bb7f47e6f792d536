// Package report turns a run into what people read: summary.json (the
// figures), timeline.json (per second), report.html (self-contained, with
// SVG charts, so it opens offline), a summary on the terminal, and the
// side-by-side report of a queue-versus-direct comparison.
package report

import (
	"cmp"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/staybook/staybook/loadtest/internal/cpucost"
	"github.com/staybook/staybook/loadtest/internal/pace"
	"github.com/staybook/staybook/loadtest/internal/record"
	"github.com/staybook/staybook/loadtest/internal/sample"
	"github.com/staybook/staybook/loadtest/internal/settle"
	"github.com/staybook/staybook/shared/messaging"
)

// Latency is a distribution in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	N    int     `json:"n"`
}

func latencyOf(ms []float64) Latency {
	if len(ms) == 0 {
		return Latency{}
	}
	q := record.Quantiles(ms, 0.5, 0.9, 0.99, 1)
	var sum float64
	for _, v := range ms {
		sum += v
	}
	return Latency{P50: round(q[0]), P90: round(q[1]), P99: round(q[2]), Max: round(q[3]), Mean: round(sum / float64(len(ms))), N: len(ms)}
}

func round(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// Lost breaks down the lost bookings: what the drain saw finished without
// its result.
type Lost struct {
	// NoVoucher, NoEmail: confirmed, but the voucher or the sent email never
	// appeared at its service (only when that service was checked).
	NoVoucher int `json:"no_voucher"`
	NoEmail   int `json:"no_email"`
}

// Late breaks down what was still in progress when the drain ended (its
// timeout, or the run was stopped): not lost as far as can be seen, not
// done yet either. A longer -drain-timeout tells which.
type Late struct {
	// NotFinal: accepted, not yet confirmed or rejected.
	NotFinal int `json:"not_final"`
	// VoucherPending, EmailPending: confirmed, the voucher or the sent
	// email not there yet, and the booking says that task is still pending.
	VoucherPending int `json:"voucher_pending"`
	EmailPending   int `json:"email_pending"`
}

// Duplicated breaks down the bookings with more than one of something.
type Duplicated struct {
	// KeysWithTwoIDs: one Idempotency-Key answered with two booking IDs.
	KeysWithTwoIDs int `json:"keys_with_two_ids"`
	// IDsOfTwoKeys: one booking ID answered to two different keys.
	IDsOfTwoKeys int `json:"ids_of_two_keys"`
	// EmailsSentTwice: bookings whose confirmation reached the SMTP server twice.
	EmailsSentTwice int `json:"emails_sent_twice"`
}

// DB is the booking database's pressure, from pg_stat_activity.
type DB struct {
	PeakConnections int     `json:"peak_connections"`
	PeakActive      int     `json:"peak_active"`
	MeanActive      float64 `json:"mean_active"`
	PeakIdleInTx    int     `json:"peak_idle_in_transaction"`
	PeakWaiting     int     `json:"peak_waiting_on_lock"`
}

// Summary is summary.json.
type Summary struct {
	Label     string    `json:"label,omitempty"`
	Target    string    `json:"target"`
	Scenario  string    `json:"scenario"`
	Profile   string    `json:"profile"`
	Transport string    `json:"transport"`
	StartedAt time.Time `json:"started_at"`
	// DurationSeconds is the length of the load, until the last answer (not the drain).
	DurationSeconds float64 `json:"duration_seconds"`
	Requests        int     `json:"requests"`
	// Rate is the achieved rate of sending; PlannedRequests what the profile asked for.
	Rate            float64        `json:"rate"`
	PlannedRequests int            `json:"planned_requests"`
	PeakPlannedRate float64        `json:"peak_planned_rate"`
	Throughput      float64        `json:"throughput"`
	SuccessRate     float64        `json:"success_rate"`
	ErrorRate       float64        `json:"error_rate"`
	TimeoutRate     float64        `json:"timeout_rate"`
	StatusCodes     map[string]int `json:"status_codes"`
	// ErrorsByStatus counts the requests that did not succeed: HTTP codes,
	// "timeout" (the client gave up) and "transport" (no answer).
	ErrorsByStatus map[string]int `json:"errors_by_status"`
	RequestsByKind map[string]int `json:"requests_by_kind"`
	LatencyMS      Latency        `json:"latency_ms"`
	// BookingLatencyMS: the booking requests answered with a booking, the
	// time to the 202 (201 in direct mode); BookingWaitMS: every booking
	// request, whatever came back (a refusal, a timeout), the time the
	// customer waited; RefusedLatencyMS: those the web tier refused with
	// 503, the time to the refusal (issue 13 asks for it within 100 ms).
	BookingLatencyMS Latency `json:"booking_latency_ms"`
	BookingWaitMS    Latency `json:"booking_wait_ms"`
	RefusedLatencyMS Latency `json:"refused_latency_ms"`
	// BookingRequests counts POST /api/bookings (repeats included);
	// AcceptedBookings the distinct booking IDs answered 202, 201 or 200.
	BookingRequests  int            `json:"booking_requests"`
	BookingAnswers   map[string]int `json:"booking_answers"`
	AcceptedBookings int            `json:"accepted_bookings"`
	FinalStates      map[string]int `json:"final_states"`
	Lost             int            `json:"lost"`
	LostDetail       Lost           `json:"lost_detail"`
	Late             int            `json:"late"`
	LateDetail       Late           `json:"late_detail"`
	Duplicated       int            `json:"duplicated"`
	DuplicatedDetail Duplicated     `json:"duplicated_detail"`
	RepeatsAnswered  int            `json:"repeats_answered"`
	// TasksPending: final bookings whose tasks had not finished when the drain ended.
	TasksPending  int                     `json:"tasks_pending"`
	Checks        map[string]settle.Check `json:"checks"`
	DrainSeconds  float64                 `json:"drain_seconds"`
	DrainTimedOut bool                    `json:"drain_timed_out"`
	// Interrupted: the run was stopped (SIGINT, SIGTERM) before its end.
	Interrupted bool `json:"interrupted"`
	// QueueDrainSeconds: after the load, until commands.BookRoom was empty (-1: not watched).
	QueueDrainSeconds float64 `json:"queue_drain_seconds"`
	// PeakQueueDepth is commands.BookRoom's peak; null when the queues
	// were not sampled (no broker URL, or it refused the credentials):
	// "not measured", never a made-up 0.
	PeakQueueDepth  *int           `json:"peak_queue_depth"`
	PeakQueueDepths map[string]int `json:"peak_queue_depths,omitempty"`
	// TimeToConfirmedMS: from the request to the booking's commit;
	// TimeToSettledMS: to its last task (booking service timestamps).
	TimeToConfirmedMS *Latency `json:"time_to_confirmed_ms,omitempty"`
	TimeToSettledMS   *Latency `json:"time_to_settled_ms,omitempty"`
	// StoredBookings: bookings the booking database gained during the run
	// (-1: not known); StoredUnacknowledged of them had no ID in an answer
	// (a 503 or a timeout after the booking was made).
	StoredBookings       int `json:"stored_bookings"`
	StoredUnacknowledged int `json:"stored_unacknowledged"`
	// BookingServiceMS: mean time in the booking service per booking
	// (book_room handler in queue mode, POST /internal/bookings in direct mode).
	BookingServiceMS float64 `json:"booking_service_ms,omitempty"`
	// WebPublishMS: mean time of the web tier's confirmed publishes (queue mode);
	// KeyLookupMS: mean time the booking service took to answer its
	// Idempotency-Key lookups, which sit in the web tier's request.
	WebPublishMS    float64            `json:"web_publish_ms,omitempty"`
	KeyLookupMS     float64            `json:"key_lookup_ms,omitempty"`
	DB              *DB                `json:"booking_db,omitempty"`
	PeakMemoryBytes map[string]float64 `json:"peak_memory_bytes,omitempty"`
	CPUSeconds      map[string]float64 `json:"cpu_seconds,omitempty"`
	// CPUPerBooking is the whole machine's CPU by part of the system, per
	// booking (nil: /proc not readable, or no booking).
	CPUPerBooking *CPUCost `json:"cpu_per_booking,omitempty"`
	// DeadLettered is the dead-letter queue's peak depth; null when the
	// queues were not sampled.
	DeadLettered *int `json:"dead_lettered"`
	// Slowest are the accepted bookings that took longest, each with a
	// link to its trace in Jaeger.
	Slowest []SlowBooking `json:"slowest_bookings,omitempty"`
	Notes   []string      `json:"notes"`
}

// SlowBooking is one of the slowest bookings of a run.
type SlowBooking struct {
	ID string `json:"id"`
	// AnswerMS is how long the web tier took to answer; SettledMS from the
	// request to the booking's last task (0: not known).
	AnswerMS  float64 `json:"answer_ms"`
	SettledMS float64 `json:"settled_ms,omitempty"`
	TraceID   string  `json:"trace_id"`
	// TraceURL opens the trace in Jaeger's UI (empty without -jaeger-url).
	TraceURL string `json:"trace_url,omitempty"`
}

// SlowestShown is how many of the slowest bookings a report lists.
const SlowestShown = 10

// Input is everything a summary is made from.
type Input struct {
	Label, Target, Scenario string
	Profile                 pace.Profile
	Start                   time.Time
	// Load is how long the load ran.
	Load     time.Duration
	Recorder *record.Recorder
	Samples  []sample.Sample
	Settle   *settle.Result
	// StoredBefore and StoredAfter count the booking database's rows (-1: unknown).
	StoredBefore, StoredAfter int
	// JaegerURL is Jaeger's UI, for links to the slowest bookings' traces.
	JaegerURL string
	Notes     []string
	// Interrupted: the run was stopped before its end.
	Interrupted bool
	// CPU is each part's CPU from the run's start to its end (nil: not
	// measured).
	CPU map[string]cpucost.Usage
}

// Timeline is timeline.json: what the charts are drawn from.
type Timeline struct {
	Label   string          `json:"label,omitempty"`
	Seconds []Row           `json:"seconds"`
	Samples []sample.Sample `json:"samples"`
	// Final: for each second since the start, how many accepted bookings
	// the drain had seen final by then (drain-time view).
	Final []int `json:"final_seen,omitempty"`
	// Spike is the burst's window, if any, in seconds.
	Spike *[2]float64 `json:"spike,omitempty"`
}

// Row is one second of the load.
type Row struct {
	T        int     `json:"t"`
	Sent     int     `json:"sent"`
	C2xx     int     `json:"2xx"`
	C4xx     int     `json:"4xx"`
	C5xx     int     `json:"5xx"`
	Errors   int     `json:"errors"`
	Timeouts int     `json:"timeouts"`
	Accepted int     `json:"accepted"`
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	BookP50  float64 `json:"book_p50_ms"`
	BookP99  float64 `json:"book_p99_ms"`
}

// Summarize builds the summary and the timeline of a run.
func Summarize(in Input) (*Summary, *Timeline) {
	rec := in.Recorder
	total := rec.Total()
	seconds := rec.Seconds()
	s := &Summary{
		Label: in.Label, Target: in.Target, Scenario: in.Scenario, Profile: in.Profile.String(),
		StartedAt: in.Start.UTC(), DurationSeconds: round(in.Load.Seconds()), Requests: int(total.Requests),
		PlannedRequests: in.Profile.Total(), PeakPlannedRate: in.Profile.Peak(),
		StatusCodes: rec.Codes(), ErrorsByStatus: map[string]int{}, RequestsByKind: rec.Kinds(),
		BookingAnswers: rec.BookingAnswers(), FinalStates: map[string]int{}, Checks: map[string]settle.Check{},
		QueueDrainSeconds: -1, StoredBookings: -1, Notes: slices.Clone(in.Notes),
	}
	// vegeta's rate: requests over the time from the first to the last sent
	// (not to the last answer, which a slow system pushes out).
	s.Rate = round(total.Rate)
	s.Throughput = round(total.Throughput)
	s.SuccessRate = round4(total.Success)
	var all, book, answered, refused []float64
	tl := &Timeline{Label: in.Label, Samples: in.Samples}
	if in.Profile.Name == "spike" && len(in.Profile.Segments) == 3 {
		sp := in.Profile.Segments[1]
		tl.Spike = &[2]float64{sp.Start.Seconds(), sp.End.Seconds()}
	}
	var errs, timeouts int
	for i, sec := range seconds {
		all = append(all, sec.Latencies...)
		book = append(book, sec.BookLatencies...)
		answered = append(answered, sec.AcceptedLatencies...)
		refused = append(refused, sec.RefusedLatencies...)
		q := record.Quantiles(sec.Latencies, 0.5, 0.9, 0.99, 1)
		bq := record.Quantiles(sec.BookLatencies, 0.5, 0.99)
		tl.Seconds = append(tl.Seconds, Row{
			T: i, Sent: sec.Sent, C2xx: sec.C2xx, C4xx: sec.C4xx, C5xx: sec.C5xx, Errors: sec.Errors,
			Timeouts: sec.Timeouts, Accepted: sec.Accepted,
			P50: round(q[0]), P90: round(q[1]), P99: round(q[2]), Max: round(q[3]), BookP50: round(bq[0]), BookP99: round(bq[1]),
		})
		errs += sec.C4xx + sec.C5xx + sec.Errors
		timeouts += sec.Timeouts
	}
	for code, n := range s.StatusCodes {
		if c, err := strconv.Atoi(code); err != nil || c < 200 || c >= 400 {
			s.ErrorsByStatus[code] = n
		}
	}
	if s.Requests > 0 {
		s.ErrorRate = round4(float64(errs) / float64(s.Requests))
		s.TimeoutRate = round4(float64(timeouts) / float64(s.Requests))
	}
	s.LatencyMS, s.BookingWaitMS = latencyOf(all), latencyOf(book)
	s.BookingLatencyMS, s.RefusedLatencyMS = latencyOf(answered), latencyOf(refused)
	s.BookingRequests = s.RequestsByKind["book"] + s.RequestsByKind["repeat"]
	switch {
	case s.BookingAnswers["201"] > 0 || s.BookingAnswers["200"] > 0:
		s.Transport = "direct"
	case s.BookingAnswers["202"] > 0:
		s.Transport = "queue"
	default:
		s.Transport = "unknown"
	}

	accepted := rec.Accepted()
	s.AcceptedBookings = len(accepted)
	idem := rec.Idempotency()
	s.RepeatsAnswered = idem.Repeats
	s.DuplicatedDetail.KeysWithTwoIDs, s.DuplicatedDetail.IDsOfTwoKeys = idem.KeysWithTwoIDs, idem.IDsOfTwoKeys

	if st := in.Settle; st != nil {
		maps.Copy(s.FinalStates, st.Final)
		maps.Copy(s.Checks, st.Checks)
		s.LateDetail = Late{NotFinal: st.NotFinal, VoucherPending: s.Checks["voucher"].Late, EmailPending: s.Checks["email"].Late}
		s.LostDetail.NoVoucher = s.Checks["voucher"].Missing
		s.LostDetail.NoEmail = s.Checks["email"].Missing
		s.DuplicatedDetail.EmailsSentTwice = s.Checks["emails_received"].Twice
		s.TasksPending = st.TasksPending
		s.DrainSeconds = round(st.Drain.Seconds())
		s.DrainTimedOut = st.TimedOut
		s.Interrupted = in.Interrupted || st.Interrupted
		if st.QueueDrained >= 0 {
			s.QueueDrainSeconds = round(st.QueueDrained.Seconds())
		}
		var confirmed, settled []float64
		finalAt := make([]int, 0)
		for _, b := range st.Bookings {
			if b.ConfirmedAfter > 0 {
				confirmed = append(confirmed, float64(b.ConfirmedAfter)/float64(time.Millisecond))
				settled = append(settled, float64(b.SettledAfter)/float64(time.Millisecond))
			}
			if b.FinalAt > 0 {
				sec := int(b.FinalAt / time.Second)
				for len(finalAt) <= sec {
					finalAt = append(finalAt, 0)
				}
				finalAt[sec]++
			}
		}
		if len(confirmed) > 0 {
			c, st := latencyOf(confirmed), latencyOf(settled)
			s.TimeToConfirmedMS, s.TimeToSettledMS = &c, &st
		}
		for i := 1; i < len(finalAt); i++ {
			finalAt[i] += finalAt[i-1]
		}
		tl.Final = finalAt
	}
	// Each booking counts once per kind of loss; the voucher and the email of
	// one booking missing together are still one booking lost twice over,
	// which is rare enough to count plainly.
	s.Lost = s.LostDetail.NoVoucher + s.LostDetail.NoEmail
	s.Late = s.LateDetail.NotFinal + s.LateDetail.VoucherPending + s.LateDetail.EmailPending
	d := s.DuplicatedDetail
	s.Duplicated = d.KeysWithTwoIDs + d.IDsOfTwoKeys + d.EmailsSentTwice

	if in.StoredBefore >= 0 && in.StoredAfter >= 0 {
		s.StoredBookings = in.StoredAfter - in.StoredBefore
		s.StoredUnacknowledged = max(s.StoredBookings-s.AcceptedBookings, 0)
	}
	summarizeSamples(s, in.Samples)
	fullyProcessed := -s.TasksPending
	for _, n := range s.FinalStates {
		fullyProcessed += n
	}
	s.CPUPerBooking = cpuCost(in.CPU, fullyProcessed, s.AcceptedBookings)
	s.Slowest = slowest(accepted, in.Settle, in.JaegerURL)
	s.Notes = append(s.Notes, detectabilityNotes(s)...)
	sort.Strings(s.Notes[len(in.Notes):])
	return s, tl
}

// slowest ranks the accepted bookings that have a trace by the time to
// their last task when the drain saw it, else by the answer's latency, and
// keeps SlowestShown; with no trace at all (none sampled), every booking.
func slowest(accepted []*record.Accepted, st *settle.Result, jaegerURL string) []SlowBooking {
	settled := map[string]time.Duration{}
	if st != nil {
		for _, b := range st.Bookings {
			settled[b.ID] = b.SettledAfter
		}
	}
	ms := func(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }
	traced := slices.ContainsFunc(accepted, func(a *record.Accepted) bool { return a.TraceID != "" })
	out := make([]SlowBooking, 0, len(accepted))
	for _, a := range accepted {
		if traced && a.TraceID == "" {
			continue
		}
		b := SlowBooking{ID: a.ID, AnswerMS: ms(a.Latency), SettledMS: ms(settled[a.ID]), TraceID: a.TraceID}
		if jaegerURL != "" && a.TraceID != "" {
			b.TraceURL = strings.TrimRight(jaegerURL, "/") + "/trace/" + a.TraceID
		}
		out = append(out, b)
	}
	slices.SortStableFunc(out, func(a, b SlowBooking) int {
		return cmp.Or(cmp.Compare(b.SettledMS, a.SettledMS), cmp.Compare(b.AnswerMS, a.AnswerMS))
	})
	return out[:min(len(out), SlowestShown)]
}

func round4(v float64) float64 { return float64(int64(v*10000+0.5)) / 10000 }

func summarizeSamples(s *Summary, samples []sample.Sample) {
	if len(samples) == 0 {
		return
	}
	s.PeakQueueDepths = map[string]int{}
	s.PeakMemoryBytes = map[string]float64{}
	s.CPUSeconds = map[string]float64{}
	first, last := map[string]map[string]float64{}, map[string]map[string]float64{}
	var db DB
	var dbN, activeSum int
	for _, smp := range samples {
		for q, n := range smp.Queues {
			s.PeakQueueDepths[q] = max(s.PeakQueueDepths[q], n)
		}
		for svc, f := range smp.Services {
			if _, ok := first[svc]; !ok {
				first[svc] = f
			}
			last[svc] = f
			if v, ok := f[sample.RSSBytes]; ok {
				s.PeakMemoryBytes[svc] = max(s.PeakMemoryBytes[svc], v)
			}
		}
		if a := smp.DB; a != nil {
			dbN++
			activeSum += a.Active
			db.PeakConnections = max(db.PeakConnections, a.Connections)
			db.PeakActive = max(db.PeakActive, a.Active)
			db.PeakIdleInTx = max(db.PeakIdleInTx, a.IdleInTx)
			db.PeakWaiting = max(db.PeakWaiting, a.Waiting)
		}
	}
	if n, ok := s.PeakQueueDepths[messaging.BookRoomQueue]; ok {
		s.PeakQueueDepth = &n
	}
	if n, ok := s.PeakQueueDepths[messaging.DeadLetterQueue]; ok {
		s.DeadLettered = &n
	}
	for svc := range last {
		delta := func(k string) float64 { return last[svc][k] - first[svc][k] }
		s.CPUSeconds[svc] = round(delta(sample.CPUSeconds))
		if svc == "web" {
			if n := delta(sample.PublishCount); n > 0 {
				s.WebPublishMS = round(delta(sample.PublishSum) / n * 1000)
			}
		}
		if svc == "booking" {
			if n := delta(sample.KeyLookupCount); n > 0 {
				s.KeyLookupMS = round(delta(sample.KeyLookupSum) / n * 1000)
			}
			if n := delta(sample.BookRoomCount); n > 0 {
				s.BookingServiceMS = round(delta(sample.BookRoomSum) / n * 1000)
			}
			if n := delta(sample.DirectCount); n > 0 {
				s.BookingServiceMS = round(delta(sample.DirectSum) / n * 1000)
			}
		}
	}
	if dbN > 0 {
		db.MeanActive = round(float64(activeSum) / float64(dbN))
		s.DB = &db
	}
}

// detectabilityNotes says what the run could and could not see from outside.
func detectabilityNotes(s *Summary) []string {
	var notes []string
	notes = append(notes, "duplicates are looked for where they can be seen from outside: the same Idempotency-Key answered with two IDs (the run sends some requests twice with their key), one ID answered to two keys, and (with an SMTP server to ask) a confirmation email received twice; a booking row stored twice cannot exist (primary key), nor two vouchers for one booking")
	if s.Checks["voucher"].Status == "skipped" || s.Checks["email"].Status == "skipped" {
		notes = append(notes, "the voucher or email check was skipped: a confirmed booking without its voucher or email would not be seen")
	}
	if s.Checks["emails_received"].Status == "skipped" {
		notes = append(notes, "emails sent twice cannot be seen without an SMTP server to ask (run with -mailpit-url, or in compare mode, which has its own)")
	}
	if s.StoredBookings < 0 {
		notes = append(notes, "bookings stored without an answer (a 503 or a timeout after the booking was made) are counted only with -booking-db-url")
	}
	return notes
}
