// Package service builds the web tier from its configuration: broker
// connections, the confirming (traced, measured) publisher, the booking,
// voucher, deadletters and Jaeger clients, the catalogue cache, the public
// API, the admin API, the HTML pages, the relay of booking status changes,
// fault injection, and the HTTP server; and runs and stops them in order.
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

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/faults"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/web/internal/admin"
	"github.com/staybook/staybook/services/web/internal/api"
	"github.com/staybook/staybook/services/web/internal/apidoc"
	"github.com/staybook/staybook/services/web/internal/booking"
	"github.com/staybook/staybook/services/web/internal/bookingid"
	"github.com/staybook/staybook/services/web/internal/catalogue"
	"github.com/staybook/staybook/services/web/internal/jaeger"
	"github.com/staybook/staybook/services/web/internal/live"
	"github.com/staybook/staybook/services/web/internal/ratelimit"
	"github.com/staybook/staybook/services/web/internal/site"
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
	injector      *faults.Injector
	mux           *httpx.Mux
	// Registry holds the service's metrics.
	Registry *prometheus.Registry
}

// New connects to the broker, declares the topology and builds every part.
// Nothing runs until Run. On error, what was opened is closed.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Service, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if cfg.Development {
		log.WarnContext(ctx, "STAYBOOK_DEV is set: development secrets are accepted; never expose this service")
	}
	if cfg.AdminToken == "" {
		log.WarnContext(ctx, "ADMIN_TOKEN is not set: the admin API and console refuse every request")
	}
	s := &Service{cfg: cfg, log: log, Registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	reg := s.Registry
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

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
		Topology: topology, Timeout: cfg.PublishTimeout, ChannelPoolSize: cfg.PublishChannels, Logger: log,
	}); err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	// Every message leaves through one publisher: traced, then measured.
	out, err := messaging.PublisherWithMetrics(reg, telemetry.Publisher(s.publisher, "rabbitmq"))
	if err != nil {
		return nil, fmt.Errorf("publisher metrics: %w", err)
	}

	ids, err := bookingid.New(bookingid.Config{Namespace: cfg.BookingIDNamespace, Secret: []byte(cfg.BookingIDSecret)})
	if err != nil {
		return nil, err
	}
	bookings, err := booking.New(booking.Config{BaseURL: cfg.BookingURL, DirectTimeout: cfg.BookingDirectTimeout, Transport: bookingTransport()})
	if err != nil {
		return nil, err
	}
	cache, err := catalogue.New(catalogue.Config{Source: bookings, TTL: cfg.CatalogueTTL, Logger: log})
	if err != nil {
		return nil, err
	}
	s.catalogue = cache
	vouchers, err := voucher.New(voucher.Config{BaseURL: cfg.VoucherURL, Transport: telemetry.HTTPClient(0).Transport})
	if err != nil {
		return nil, err
	}

	exempt, _ := ratelimit.ParsePrefixes(cfg.RateLimitExempt) // checked by Validate
	proxies, _ := ratelimit.ParsePrefixes(cfg.TrustedProxies)
	clients := ratelimit.ClientAddresses{TrustedProxies: proxies, Header: cfg.ClientAddressHeader}

	metrics := api.NewMetrics(reg)
	hub := live.NewHub()
	retryAfter := time.Duration(cfg.BookingRetryAfter) * time.Second
	public, err := api.New(api.Config{
		Transport: cfg.BookingTransport, IDs: ids, Bookings: bookings, Catalogue: cache,
		Publisher: out, Vouchers: vouchers, Hub: hub,
		RetryAfter: retryAfter, MaxBodyBytes: cfg.MaxBodyBytes,
		Heartbeat: cfg.SSEHeartbeat, Metrics: metrics, Logger: log,
		Streams:        live.NewStreams(live.StreamLimits{Max: cfg.SSEMaxStreams, MaxPerClient: cfg.SSEMaxStreamsPerClient}),
		ClientAddress:  clients.Of,
		StreamLifetime: cfg.SSEMaxLifetime,
	})
	if err != nil {
		return nil, err
	}
	traces, err := jaeger.New(jaeger.Config{QueryURL: cfg.JaegerQueryURL, UIURL: cfg.JaegerUIURL})
	if err != nil {
		return nil, err
	}
	adminFailures, err := ratelimit.NewBuckets(float64(cfg.AdminMaxFailures)/cfg.AdminFailureWindow.Seconds(), cfg.AdminMaxFailures, cfg.RateLimitMaxClients)
	if err != nil {
		return nil, err
	}
	adminAPI, err := admin.New(admin.Config{
		Failures: adminFailures, ClientAddress: clients.Of,
		Token: cfg.AdminToken, DeadLettersURL: cfg.DeadlettersURL,
		// A replay waits for the broker's confirm in the deadletters service.
		Client:    telemetry.HTTPClient(cfg.PublishTimeout + 25*time.Second),
		Publisher: out, Traces: traces, VerifyBookingID: ids.Verify, MaxBodyBytes: cfg.MaxBodyBytes, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	pages, err := site.New(site.Config{
		Catalogue: cache, Bookings: bookings, Placer: public, VerifyBookingID: ids.Verify,
		RetryAfter: retryAfter, MaxBodyBytes: cfg.MaxBodyBytes, TraceURL: traces.SearchURL, Logger: log,
	})
	if err != nil {
		return nil, err
	}

	mux := httpx.NewMux()
	s.mux = mux
	public.Register(mux)
	adminAPI.Register(mux)
	pages.Register(mux)
	apidoc.Register(mux)
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
	// Cross-site form posts and API calls are refused: a browser says where
	// a request comes from (Sec-Fetch-Site, Origin). Clients that say
	// nothing (curl, the load generator, other services) are not browsers
	// acting for a visitor, and pass.
	crossOrigin := http.NewCrossOriginProtection()
	crossOrigin.SetDenyHandler(http.HandlerFunc(pages.CrossOriginDenied))
	for _, o := range cfg.TrustedOrigins {
		if err := crossOrigin.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("TRUSTED_ORIGINS: %w", err)
		}
	}
	limiter, err := ratelimit.New(ratelimit.Config{
		RPS: cfg.RateLimitRPS, Burst: cfg.RateLimitBurst, MaxClients: cfg.RateLimitMaxClients,
		Exempt: exempt, Clients: clients, LoadTestToken: cfg.LoadTestToken,
		Paths: []string{"/api/hotels", "/api/bookings", "/bookings", "/hotels"},
	})
	if err != nil {
		return nil, err
	}
	handler := httpx.Chain(mux, httpx.NewMetrics(reg).Middleware, httpx.Recover(log), site.SecurityHeaders, limiter.Middleware, crossOrigin.Handler)
	if s.server, err = httpx.NewServer(httpx.ServerConfig{
		Addr: cfg.HTTPAddr, Handler: telemetry.HTTPHandler(handler, "web"), Logger: log,
		ShutdownTimeout: cfg.ShutdownTimeout, WriteTimeout: cfg.HTTPWriteTimeout,
	}); err != nil {
		return nil, err
	}
	// Event streams never end on their own: end them when shutdown starts,
	// or the server would wait for them until its timeout.
	s.server.RegisterOnShutdown(hub.Close)

	if s.injector, err = faults.FromEnv("web", log); err != nil {
		return nil, err
	}
	if err := s.buildRelay(topology, hub, out); err != nil {
		return nil, err
	}
	return s, nil
}

// bookingTransport is the transport to the booking service: traced, with
// enough idle connections kept for a web tier whose every request may call it.
func bookingTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return otelhttp.NewTransport(t)
}

// buildRelay consumes the notifications fanout through this replica's own
// queue and passes every BookingStatusChanged to the hub; and the control
// fanout, for the faults set on the web tier (its one handler is the relay).
func (s *Service) buildRelay(topology messaging.Topology, hub *live.Hub, out message.Publisher) error {
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
	s.Registry.MustRegister(consumed, malformed)

	if s.router, err = messaging.NewRouter(messaging.RouterConfig{
		Logger: s.log, DeadLetters: out, CloseTimeout: 5 * time.Second, Metrics: s.Registry,
		Outer: []message.HandlerMiddleware{telemetry.ConsumerMiddleware},
		Inner: []message.HandlerMiddleware{s.injector.Middleware},
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
	return s.injector.AddControlHandler(s.router, s.subConn, topology, s.log)
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

// Routes are the patterns the web tier serves ("GET /api/hotels/{id}"),
// sorted; the OpenAPI document (apidoc) must describe every one.
func (s *Service) Routes() []string { return s.mux.Patterns() }

// Relaying is closed once this replica's notifications queue is consumed.
func (s *Service) Relaying() <-chan struct{} { return s.router.Running() }

// Faults are the faults in force on this replica (set by FAULT_* or the control fanout).
func (s *Service) Faults() []contracts.FaultChanged { return s.injector.Active() }

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
