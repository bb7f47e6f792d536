package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/staybook/staybook/shared/faults"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/email/internal/adapters"
	"github.com/staybook/staybook/services/email/internal/app"
	"github.com/staybook/staybook/services/email/internal/ports"
)

// Service is the running email service.
type Service struct {
	cfg Config
	log *slog.Logger

	pool       *pgxpool.Pool
	pubConn    *amqp.ConnectionWrapper
	subConn    *amqp.ConnectionWrapper
	publisher  *messaging.Publisher
	subscriber *amqp.Subscriber
	router     *messaging.Router
	http       *httpx.Server
	metrics    *httpx.Server // nil unless METRICS_ADDR moves metrics off HTTP_ADDR
}

// New connects to the database and the broker (retrying while they start),
// migrates, declares the topology and builds every part. On error it closes
// what it opened.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Service, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	s := &Service{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	s.pool, err = postgres.Open(ctx, postgres.Config{
		URL:            cfg.DatabaseURL,
		MaxConns:       int32(cfg.Workers) + 4, // one per worker (held only while claiming or recording) and some for HTTP
		Migrations:     adapters.Migrations(),
		CreateDatabase: true,
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}

	connectCtx, cancel := context.WithTimeout(ctx, cfg.AMQPConnectTimeout)
	defer cancel()
	if s.pubConn, err = messaging.Connect(connectCtx, cfg.AMQPURL, "publish", log); err != nil {
		return nil, err
	}
	if s.subConn, err = messaging.Connect(connectCtx, cfg.AMQPURL, "consume", log); err != nil {
		return nil, err
	}
	topology := messaging.Topology{QueueType: cfg.AMQPQueueType, BookingQueueMax: cfg.BookingQueueMax, DeliveryLimit: cfg.QuorumDeliveryMax}
	if err := topology.DeclareOn(s.pubConn); err != nil {
		return nil, fmt.Errorf("declare topology: %w", err)
	}
	if s.publisher, err = messaging.NewPublisher(s.pubConn, messaging.PublisherConfig{
		Topology: topology, Timeout: cfg.PublishTimeout, ChannelPoolSize: cfg.PublishChannels, Logger: log,
	}); err != nil {
		return nil, err
	}
	if s.subscriber, err = messaging.NewEventSubscriber(s.subConn, Name, messaging.SubscriberConfig{
		Topology: topology, Logger: log,
	}); err != nil {
		return nil, err
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := adapters.NewMetrics(registry)
	httpMetrics := httpx.NewMetrics(registry)
	// Every publish (events and dead letters) carries the trace on and is measured.
	tracedPublisher, err := messaging.PublisherWithMetrics(registry, telemetry.Publisher(s.publisher, "rabbitmq"))
	if err != nil {
		return nil, err
	}
	injector, err := faults.FromEnv(Name, log)
	if err != nil {
		return nil, err
	}

	mailer, err := adapters.NewMailer(adapters.MailerConfig{
		Addr: cfg.SMTPAddr, From: cfg.EmailFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
		TLS: cfg.SMTPTLS, Timeout: cfg.SMTPTimeout, Observe: metrics.SMTPSend, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}
	vouchers, err := adapters.NewVoucherClient(adapters.VoucherClientConfig{
		BaseURL: cfg.VoucherURL, Timeout: cfg.VoucherTimeout,
		Transport: otelhttp.NewTransport(http.DefaultTransport), // the voucher service continues the trace
	})
	if err != nil {
		return nil, fmt.Errorf("voucher client: %w", err)
	}
	store, err := adapters.NewEmailStore(adapters.EmailStoreConfig{
		Pool: s.pool,
		// A claim must outlive the longest send (an attempt, or a direct-mode
		// request's SMTP session) plus recording it, or a live sender could be
		// taken over; longer only delays the resend after a crash.
		Lease: max(cfg.Retry.Timeout, cfg.ExtraLatency+3*cfg.SMTPTimeout) + adapters.DefaultRecordTimeout + 10*time.Second,
	})
	if err != nil {
		return nil, err
	}
	uc, err := app.NewSendConfirmationEmail(app.Config{
		Store: store, Vouchers: vouchers, Mailer: mailer, Events: adapters.NewEventPublisher(tracedPublisher),
		Observer: metrics, ExtraLatency: cfg.ExtraLatency, Logger: log,
	})
	if err != nil {
		return nil, err
	}

	if s.router, err = messaging.NewRouter(messaging.RouterConfig{
		Logger: log, DeadLetters: tracedPublisher, CloseTimeout: cfg.ShutdownTimeout, Metrics: registry,
		Outer: []message.HandlerMiddleware{telemetry.ConsumerMiddleware},
		Inner: []message.HandlerMiddleware{injector.Middleware},
	}); err != nil {
		return nil, err
	}
	if err = injector.AddControlHandler(s.router, s.subConn, topology, log); err != nil {
		return nil, err
	}
	messaging.QueueBacklog(registry, s.pubConn, messaging.SubscriptionQueue(messaging.EventVoucherCreated, Name))
	s.router.AddHandler(messaging.Handler{
		Name:       ports.HandlerName,
		Topic:      messaging.EventTopic(messaging.EventVoucherCreated),
		Queue:      messaging.SubscriptionQueue(messaging.EventVoucherCreated, Name),
		Subscriber: s.subscriber,
		Policy:     cfg.Retry,
		Instances:  cfg.Workers,
		Handle:     ports.NewVoucherCreatedHandler(uc).Handle,
	})

	mux := http.NewServeMux()
	// Readiness is the broker and the database only: with the SMTP server
	// down, messages wait in the queue and in retries, and the replica must
	// stay in rotation for the HTTP API.
	httpx.HandleHealth(mux,
		httpx.Check{Name: "rabbitmq_publish", Check: messaging.ConnectionCheck(s.pubConn)},
		httpx.Check{Name: "rabbitmq_consume", Check: messaging.ConnectionCheck(s.subConn)},
		httpx.Check{Name: "database", Check: postgres.Check(s.pool)},
	)
	ports.NewHTTP(ports.HTTPConfig{UseCase: uc, Emails: store, Logger: log}).Register(mux)
	metricsHandler := promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry})
	if cfg.MetricsAddr == "" || cfg.MetricsAddr == cfg.HTTPAddr {
		mux.Handle("GET /metrics", metricsHandler)
	} else {
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", metricsHandler)
		if s.metrics, err = httpx.NewServer(httpx.ServerConfig{
			Addr: cfg.MetricsAddr, Handler: mmux, Logger: log, ShutdownTimeout: cfg.ShutdownTimeout,
		}); err != nil {
			return nil, err
		}
	}
	if s.http, err = httpx.NewServer(httpx.ServerConfig{
		Addr: cfg.HTTPAddr, Logger: log,
		// Tracing outermost; the metrics middleware inside it sees the
		// request the mux fills with its route pattern.
		Handler:         telemetry.HTTPHandler(httpx.Chain(mux, httpMetrics.Middleware, httpx.Recover(log)), Name),
		ShutdownTimeout: cfg.ShutdownTimeout,
		// No WriteTimeout: a direct-mode request lasts as long as a send.
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the address the HTTP server listens on.
func (s *Service) Addr() string { return s.http.Addr() }

// Running is closed once the router consumes its queue.
func (s *Service) Running() chan struct{} { return s.router.Running() }

// Run serves HTTP and consumes VoucherCreated until ctx ends, then drains both.
func (s *Service) Run(ctx context.Context) error {
	components := []lifecycle.Component{
		{Name: "http", Run: s.http.Serve},
		{Name: "router", Run: s.router.Run},
	}
	if s.metrics != nil {
		components = append(components, lifecycle.Component{Name: "metrics", Run: s.metrics.Serve})
	}
	return lifecycle.Run(ctx, s.log, components...)
}

// Close releases everything after Run returned: the publisher (it carries
// the last dead letters and events), then the connections, then the pool.
func (s *Service) Close() error {
	var errs []error
	if s.publisher != nil {
		errs = append(errs, s.publisher.Close())
	}
	if s.subscriber != nil {
		errs = append(errs, s.subscriber.Close())
	}
	if s.subConn != nil {
		errs = append(errs, s.subConn.Close())
	}
	if s.pubConn != nil {
		errs = append(errs, s.pubConn.Close())
	}
	if s.pool != nil {
		s.pool.Close()
	}
	return errors.Join(errs...)
}
