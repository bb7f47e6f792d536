// Package sample watches the system while the load runs: every second it
// reads the depth of each RabbitMQ queue (a passive declare, exact, no
// plugin needed), scrapes every service's /metrics (memory, CPU, bookings
// settled, handler and request durations), or asks Prometheus for the same
// figures summed over each service's replicas, and, given the booking
// database's URL, counts its connections by state (pg_stat_activity).
package sample

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/staybook/staybook/shared/messaging"
)

// Keys of the service figures a Sample holds.
const (
	RSSBytes        = "rss_bytes"
	CPUSeconds      = "cpu_seconds"
	BookingsSettled = "bookings_settled"
	BookRoomSum     = "book_room_seconds_sum"
	BookRoomCount   = "book_room_count"
	DirectSum       = "direct_booking_seconds_sum"
	DirectCount     = "direct_booking_count"
	VouchersCreated = "vouchers_created"
	EmailsSent      = "emails_sent"
	DeadLettered    = "dead_lettered"
	Goroutines      = "goroutines"
	PublishSum      = "publish_seconds_sum"
	PublishCount    = "publish_count"
	KeyLookupSum    = "key_lookup_seconds_sum"
	KeyLookupCount  = "key_lookup_count"
)

// extractor reads one figure from a scrape.
type extractor struct {
	key, family string
	labels      map[string]string // every one must match; a value ending in * is a prefix
	part        string            // "", "sum" or "count" for histograms
}

var extractors = []extractor{
	{key: RSSBytes, family: "process_resident_memory_bytes"},
	{key: CPUSeconds, family: "process_cpu_seconds_total"},
	{key: Goroutines, family: "go_goroutines"},
	{key: BookingsSettled, family: "staybook_bookings_total"},
	// One series per handler instance: "book_room#1" ... (Watermill's naming).
	{key: BookRoomSum, family: "staybook_handler_execution_time_seconds", labels: map[string]string{"handler_name": "book_room*"}, part: "sum"},
	{key: BookRoomCount, family: "staybook_handler_execution_time_seconds", labels: map[string]string{"handler_name": "book_room*"}, part: "count"},
	{key: DirectSum, family: "staybook_http_request_duration_seconds", labels: map[string]string{"route": "POST /internal/bookings"}, part: "sum"},
	{key: DirectCount, family: "staybook_http_request_duration_seconds", labels: map[string]string{"route": "POST /internal/bookings"}, part: "count"},
	// Every confirmed publish (Watermill's publisher metrics): in the web
	// tier, the BookRoom commands.
	{key: PublishSum, family: "staybook_publish_time_seconds", part: "sum"},
	{key: PublishCount, family: "staybook_publish_time_seconds", part: "count"},
	// The booking service answering the web tier's Idempotency-Key lookups.
	{key: KeyLookupSum, family: "staybook_http_request_duration_seconds", labels: map[string]string{"route": "GET /internal/idempotency-keys/{hash}"}, part: "sum"},
	{key: KeyLookupCount, family: "staybook_http_request_duration_seconds", labels: map[string]string{"route": "GET /internal/idempotency-keys/{hash}"}, part: "count"},
	{key: VouchersCreated, family: "staybook_voucher_requests_total", labels: map[string]string{"outcome": "created"}},
	{key: EmailsSent, family: "staybook_email_emails_sent_total"},
	{key: DeadLettered, family: "staybook_messages_dead_lettered_total"},
}

// Sample is the state of the system at one moment of the run.
type Sample struct {
	// At is the time since the run started.
	At time.Duration `json:"at"`
	// Queues: messages ready per queue.
	Queues map[string]int `json:"queues,omitempty"`
	// Services: per service, the figures above (summed over label values).
	Services map[string]map[string]float64 `json:"services,omitempty"`
	// DB: the booking database's connections.
	DB *DBActivity `json:"db,omitempty"`
}

// DBActivity counts a database's connections by what they do.
type DBActivity struct {
	Connections int `json:"connections"`
	Active      int `json:"active"`
	IdleInTx    int `json:"idle_in_transaction"`
	// Waiting: active connections waiting on a lock.
	Waiting int `json:"waiting_on_lock"`
}

// Config says what to watch.
type Config struct {
	// AMQPURL is the broker (vhost included); empty: no queue depths.
	AMQPURL string
	// Queues to watch (default: every durable queue of the topology).
	Queues []string
	// Services maps a service name to its base URL (its /metrics is scraped).
	Services map[string]string
	// Prometheus, if its URL is set, is where the service figures come
	// from (summed over each service's replicas) instead of each
	// service's own /metrics.
	Prometheus Prometheus
	// BookingDatabaseURL, if set, is watched through pg_stat_activity.
	BookingDatabaseURL string
	// Interval between samples (default 1 s).
	Interval time.Duration
	Logger   *slog.Logger
}

// Sampler takes samples until stopped.
type Sampler struct {
	cfg    Config
	start  time.Time
	client *http.Client

	mu      sync.Mutex
	samples []Sample
	amqp    *amqp091.Connection
	ch      *amqp091.Channel
	db      *pgx.Conn
	dbName  string

	cancel context.CancelFunc
	done   chan struct{}
}

// Start connects and takes a sample every interval until Stop. A broker or
// database it cannot reach is logged and left out, not fatal: the load
// test still has its own figures.
func Start(ctx context.Context, cfg Config, start time.Time) *Sampler {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Queues == nil {
		cfg.Queues = messaging.Topology{}.DurableQueues()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Prometheus.Client == nil {
		cfg.Prometheus.Client = &http.Client{Timeout: max(cfg.Interval, 2*time.Second)}
	}
	s := &Sampler{cfg: cfg, start: start, client: &http.Client{Timeout: cfg.Interval}, done: make(chan struct{})}
	if cfg.AMQPURL != "" {
		conn, err := amqp091.Dial(cfg.AMQPURL)
		if err != nil {
			cfg.Logger.WarnContext(ctx, "queue depths not sampled: broker unreachable", "err", err)
		} else {
			s.amqp = conn
		}
	}
	if cfg.BookingDatabaseURL != "" {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		db, err := pgx.Connect(cctx, cfg.BookingDatabaseURL)
		cancel()
		if err != nil {
			cfg.Logger.WarnContext(ctx, "booking database not sampled", "err", err)
		} else {
			s.db = db
			if u, err := url.Parse(cfg.BookingDatabaseURL); err == nil {
				s.dbName = strings.TrimPrefix(u.Path, "/")
			}
		}
	}
	ctx, s.cancel = context.WithCancel(ctx)
	go s.loop(ctx)
	return s
}

func (s *Sampler) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		s.take(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stop ends sampling (after one last sample) and closes the connections.
func (s *Sampler) Stop() {
	s.cancel()
	<-s.done
	s.take(context.Background())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.amqp != nil {
		s.amqp.Close()
	}
	if s.db != nil {
		s.db.Close(context.Background())
	}
}

func (s *Sampler) take(ctx context.Context) {
	smp := Sample{At: time.Since(s.start)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	if s.cfg.Prometheus.URL != "" {
		wg.Go(func() {
			figures, err := s.cfg.Prometheus.Figures(ctx)
			if err != nil {
				s.cfg.Logger.DebugContext(ctx, "service figures not sampled", "err", err)
				return
			}
			// Only the services asked for: Prometheus also scrapes the
			// exporters, whose process_* figures are not Staybook's.
			for job := range figures {
				if _, ok := s.cfg.Services[job]; !ok && len(s.cfg.Services) > 0 {
					delete(figures, job)
				}
			}
			mu.Lock()
			smp.Services = figures
			mu.Unlock()
		})
	}
	for name, base := range s.services() {
		wg.Go(func() {
			if figures, err := s.scrape(ctx, base); err == nil {
				mu.Lock()
				if smp.Services == nil {
					smp.Services = map[string]map[string]float64{}
				}
				smp.Services[name] = figures
				mu.Unlock()
			}
		})
	}
	smp.Queues = s.queueDepths(s.cfg.Queues)
	smp.DB = s.dbActivity(ctx)
	wg.Wait()
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
}

// services are the services scraped directly: none when Prometheus
// answers for them.
func (s *Sampler) services() map[string]string {
	if s.cfg.Prometheus.URL != "" {
		return nil
	}
	return s.cfg.Services
}

// Samples returns every sample so far.
func (s *Sampler) Samples() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// Latest returns the last sample (zero before the first).
func (s *Sampler) Latest() Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return Sample{}
	}
	return s.samples[len(s.samples)-1]
}

// WatchesQueues reports whether queue depths are sampled.
func (s *Sampler) WatchesQueues() bool { return s.amqp != nil }

func (s *Sampler) queueDepths(queues []string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.amqp == nil || s.amqp.IsClosed() {
		return nil
	}
	out := map[string]int{}
	for _, q := range queues {
		if s.ch == nil || s.ch.IsClosed() {
			ch, err := s.amqp.Channel()
			if err != nil {
				return out
			}
			s.ch = ch
		}
		// A queue that does not exist closes the channel; the next one reopens it.
		if info, err := s.ch.QueueDeclarePassive(q, true, false, false, false, nil); err == nil {
			out[q] = info.Messages
		}
	}
	return out
}

// QueueDepth reads one queue's depth now; ok is false if it cannot.
func (s *Sampler) QueueDepth(queue string) (int, bool) {
	n, ok := s.queueDepths([]string{queue})[queue]
	return n, ok
}

func (s *Sampler) dbActivity(ctx context.Context) *DBActivity {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Interval)
	defer cancel()
	var a DBActivity
	err := s.db.QueryRow(ctx, `
		SELECT count(*),
		       count(*) FILTER (WHERE state = 'active'),
		       count(*) FILTER (WHERE state LIKE 'idle in transaction%'),
		       count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock')
		FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, s.dbName).
		Scan(&a.Connections, &a.Active, &a.IdleInTx, &a.Waiting)
	if err != nil {
		return nil
	}
	return &a
}

func (s *Sampler) scrape(ctx context.Context, base string) (map[string]float64, error) {
	families, err := Scrape(ctx, s.client, base+"/metrics")
	if err != nil {
		return nil, err
	}
	return Figures(families), nil
}

// Scrape fetches and parses a Prometheus text endpoint.
func Scrape(ctx context.Context, client *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// Figures reads the figures the load test reports from a scrape.
func Figures(families map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, e := range extractors {
		f, ok := families[e.family]
		if !ok {
			continue
		}
		var v float64
		found := false
		for _, m := range f.GetMetric() {
			if !matches(m, e.labels) {
				continue
			}
			found = true
			switch {
			case m.GetHistogram() != nil && e.part == "sum":
				v += m.GetHistogram().GetSampleSum()
			case m.GetHistogram() != nil:
				v += float64(m.GetHistogram().GetSampleCount())
			case m.GetCounter() != nil:
				v += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v += m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				v += m.GetUntyped().GetValue()
			}
		}
		if found {
			out[e.key] = v
		}
	}
	return out
}

func matches(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		ok := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && (l.GetValue() == v || strings.HasSuffix(v, "*") && strings.HasPrefix(l.GetValue(), v[:len(v)-1])) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
