// Package service builds the web tier from its configuration: broker
// connections, the confirming publisher, the booking and voucher clients,
// the catalogue cache, the public API, the relay of booking status changes,
// and the HTTP server, and runs and stops them in order.
package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/messaging"

	"github.com/staybook/staybook/services/web/internal/api"
	"github.com/staybook/staybook/services/web/internal/booking"
	"github.com/staybook/staybook/services/web/internal/bookingid"
	"github.com/staybook/staybook/services/web/internal/catalogue"
	"github.com/staybook/staybook/services/web/internal/live"
	"github.com/staybook/staybook/services/web/internal/voucher"
)

// RelayHandlerName is the handler that relays BookingStatusChanged to the
// event streams (RELAY_STATUS_MAX_ATTEMPTS ... configure its retries).
const RelayHandlerName = "relay_status"

// Service is a running web tier.
type Service struct {
	cfg           Config
	log           *slog.Logger
	pubConn       *amqp.ConnectionWrapper
	subConn       *amqp.ConnectionWrapper
	publisher     *messaging.Publisher
	subscriber    *amqp.Subscriber
	router        *messaging.Router
	server        *httpx.Server
	metricsServer *httpx.Server // nil unless METRICS_ADDR is set
	replicaQueue  string
	catalogue     *catalogue.Cache
}

// New connects to the broker, declares the topology and builds every part.
// Nothing runs until Run. On error, what was opened is closed.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Service, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if cfg.UsesDevSecret() {
		log.WarnContext(ctx, "BOOKING_ID_SECRET is the public development default: anyone can forge booking IDs; set a secret of your own outside development")
	}
	s := &Service{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	connectCtx, cancel := context.WithTimeout(ctx, cfg.AMQPConnectTimeout)
	defer cancel()
	if s.pubConn, err = messaging.Connect(connectCtx, cfg.AMQPURL, "web-publish", log); err != nil {
		return nil, err
	}
	if s.subConn, err = messaging.Connect(connectCtx, cfg.AMQPURL, "web-consume", log); err != nil {
		return nil, err
	}
	topology := messaging.Topology{QueueType: cfg.AMQPQueueType, BookingQueueMax: cfg.BookingQueueMax, DeliveryLimit: cfg.QuorumDeliveryMax}
	if err := topology.DeclareOn(s.pubConn); err != nil {
		return nil, fmt.Errorf("declare topology: %w", err)
	}
	if s.publisher, err = messaging.NewPublisher(s.pubConn, messaging.PublisherConfig{
		Topology: topology, Timeout: cfg.PublishTimeout, Logger: log,
	}); err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}

	ids, err := bookingid.New(bookingid.Config{Namespace: cfg.BookingIDNamespace, Secret: []byte(cfg.BookingIDSecret)})
	if err != nil {
		return nil, err
	}
	bookings, err := booking.New(booking.Config{BaseURL: cfg.BookingURL, DirectTimeout: cfg.BookingDirectTimeout})
	if err != nil {
		return nil, err
	}
	cache, err := catalogue.New(catalogue.Config{Source: bookings, TTL: cfg.CatalogueTTL, Logger: log})
	if err != nil {
		return nil, err
	}
	s.catalogue = cache
	vouchers, err := voucher.New(voucher.Config{BaseURL: cfg.VoucherURL})
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := api.NewMetrics(reg)
	hub := live.NewHub()
	public, err := api.New(api.Config{
		Transport: cfg.BookingTransport, IDs: ids, Bookings: bookings, Catalogue: cache,
		Publisher: s.publisher, Vouchers: vouchers, Hub: hub,
		RetryAfter: time.Duration(cfg.BookingRetryAfter) * time.Second, MaxBodyBytes: cfg.MaxBodyBytes,
		Heartbeat: cfg.SSEHeartbeat, Metrics: metrics, Logger: log,
	})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	public.Register(mux)
	// Readiness is the broker alone: bookings are queued while the booking
	// service is down, from the cached catalogue.
	httpx.HandleHealth(mux,
		httpx.Check{Name: "rabbitmq_publish", Check: messaging.ConnectionCheck(s.pubConn)},
		httpx.Check{Name: "rabbitmq_consume", Check: messaging.ConnectionCheck(s.subConn)},
	)
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	if cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", metricsHandler)
	} else {
		mm := http.NewServeMux()
		mm.Handle("GET /metrics", metricsHandler)
		if s.metricsServer, err = httpx.NewServer(httpx.ServerConfig{Addr: cfg.MetricsAddr, Handler: mm, Logger: log}); err != nil {
			return nil, err
		}
	}
	if s.server, err = httpx.NewServer(httpx.ServerConfig{
		Addr: cfg.HTTPAddr, Handler: httpx.Chain(mux, metrics.Instrument, httpx.Recover(log)), Logger: log,
		ShutdownTimeout: cfg.ShutdownTimeout, WriteTimeout: cfg.HTTPWriteTimeout,
	}); err != nil {
		return nil, err
	}
	// Event streams never end on their own: end them when shutdown starts,
	// or the server would wait for them until its timeout.
	s.server.RegisterOnShutdown(hub.Close)

	if err := s.buildRelay(topology, hub, reg); err != nil {
		return nil, err
	}
	return s, nil
}

// buildRelay consumes the notifications fanout through this replica's own
// queue and passes every BookingStatusChanged to the hub.
func (s *Service) buildRelay(topology messaging.Topology, hub *live.Hub, reg prometheus.Registerer) error {
	replica := "web." + hostname() + "." + randomSuffix()
	s.replicaQueue = messaging.NotificationsExchange + "." + replica
	var err error
	if s.subscriber, err = messaging.NewReplicaSubscriber(s.subConn, replica, messaging.SubscriberConfig{
		Topology: topology, Logger: s.log,
		Prefetch: 64, // relaying is quick: let the broker push ahead
	}); err != nil {
		return err
	}
	policy, err := messaging.LoadRetryPolicy(RelayHandlerName, relayPolicy())
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	consumed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "staybook_web_notifications_consumed_total", Help: "BookingStatusChanged messages consumed from the notifications fanout.",
	})
	malformed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "staybook_web_notifications_malformed_total", Help: "Messages on the notifications fanout that were not a BookingStatusChanged (dropped).",
	})
	discarded := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "staybook_messages_discarded_total", Help: "Messages dropped after their attempts by handlers whose policy discards.",
	}, []string{"handler"})
	reg.MustRegister(consumed, malformed, discarded)

	if s.router, err = messaging.NewRouter(messaging.RouterConfig{
		Logger: s.log, DeadLetters: s.publisher, CloseTimeout: 5 * time.Second,
		Hooks: messaging.Hooks{Discarded: func(h string) { discarded.WithLabelValues(h).Inc() }},
	}); err != nil {
		return err
	}
	relay := live.RelayHandler(live.RelayConfig{Hub: hub, Logger: s.log, Malformed: malformed.Inc})
	s.router.AddHandler(messaging.Handler{
		Name: RelayHandlerName, Topic: messaging.NotificationsExchange, Queue: s.replicaQueue,
		Subscriber: s.subscriber, Policy: policy,
		Handle: func(msg *message.Message) error {
			consumed.Inc()
			return relay(msg)
		},
	})
	return nil
}

// relayPolicy: relaying to memory does not fail for reasons a retry fixes,
// and a status change is not worth a dead letter (the browser reads the
// state again on reconnect), so give up quickly and discard.
func relayPolicy() messaging.RetryPolicy {
	p := messaging.DefaultRetryPolicy()
	p.MaxAttempts = 3
	p.InitialInterval = 100 * time.Millisecond
	p.MaxInterval = time.Second
	p.MaxElapsed = 5 * time.Second
	p.Timeout = 5 * time.Second
	p.OnExhausted = messaging.ExhaustedDiscard
	return p
}

// Run serves HTTP and relays status changes until ctx ends, then drains:
// the HTTP server finishes in-flight requests (a request waiting for a
// broker confirm completes) while the publisher is still open; Close it after.
func (s *Service) Run(ctx context.Context) error {
	// Fetch the catalogue now rather than on the first booking: a booking
	// service that goes down later then finds it cached. A failure is logged
	// and the next request tries again.
	go s.catalogue.Get(ctx)
	components := []lifecycle.Component{
		{Name: "http", Run: s.server.Serve},
		{Name: "relay", Run: s.router.Run},
	}
	if s.metricsServer != nil {
		components = append(components, lifecycle.Component{Name: "metrics", Run: s.metricsServer.Serve})
	}
	return lifecycle.Run(ctx, s.log, components...)
}

// Addr is the address the HTTP server listens on.
func (s *Service) Addr() string { return s.server.Addr() }

// Relaying is closed once this replica's notifications queue is consumed.
func (s *Service) Relaying() <-chan struct{} { return s.router.Running() }

// ReplicaQueue is this replica's queue on the notifications fanout.
func (s *Service) ReplicaQueue() string { return s.replicaQueue }

// Close releases the publisher, the subscriber and the connections, in that
// order. Call it after Run has returned.
func (s *Service) Close() error {
	var errs []error
	if s.publisher != nil {
		errs = append(errs, s.publisher.Close())
	}
	if s.subscriber != nil {
		errs = append(errs, s.subscriber.Close())
	}
	for _, c := range []*amqp.ConnectionWrapper{s.subConn, s.pubConn} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, h)
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
