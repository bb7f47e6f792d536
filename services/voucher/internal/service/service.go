package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/staybook/staybook/services/voucher/internal/adapters"
	"github.com/staybook/staybook/services/voucher/internal/app"
	"github.com/staybook/staybook/services/voucher/internal/pdf"
	"github.com/staybook/staybook/services/voucher/internal/ports"
	"github.com/staybook/staybook/shared/faults"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/telemetry"
)

// Name is the service's name: its queue suffix, log tag and database suffix.
const Name = "voucher"

// Service is a running voucher service: build it with New, run it with Run,
// release it with Close.
type Service struct {
	cfg     Config
	log     *slog.Logger
	pool    *pgxpool.Pool
	pubConn *amqp.ConnectionWrapper
	subConn *amqp.ConnectionWrapper
	pub     *messaging.Publisher
	router  *messaging.Router
	http    *httpx.Server
	metrics *httpx.Server // nil unless METRICS_ADDR moves metrics off HTTP_ADDR
}

// New opens the database (migrating it), connects to RabbitMQ (declaring
// the topology), and builds the router and the HTTP servers, which listen
// at once. Nothing is consumed until Run.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Service, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if err := cfg.ValidatePolicy(); err != nil {
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
		MaxConns:       int32(cfg.Workers + 4), // the handlers, and the HTTP API beside them
		Migrations:     adapters.Migrations(),
		CreateDatabase: true,
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}

	connectCtx, cancel := context.WithTimeout(ctx, cfg.AMQPConnectTimeout)
	defer cancel()
	// One connection to publish and one to consume: a publisher blocked by
	// the broker's flow control must not stall the consumers.
	if s.pubConn, err = messaging.Connect(connectCtx, cfg.AMQPURL, Name+"-publish", log); err != nil {
		return nil, err
	}
	if s.subConn, err = messaging.Connect(connectCtx, cfg.AMQPURL, Name+"-consume", log); err != nil {
		return nil, err
	}
	topology := messaging.Topology{QueueType: cfg.AMQPQueueType, BookingQueueMax: cfg.BookingQueueMax, DeliveryLimit: cfg.QuorumDeliveryMax}
	if err := topology.DeclareOn(s.pubConn); err != nil {
		return nil, fmt.Errorf("declare topology: %w", err)
	}
	if s.pub, err = messaging.NewPublisher(s.pubConn, messaging.PublisherConfig{Topology: topology, Timeout: cfg.PublishTimeout, ChannelPoolSize: cfg.PublishChannels, Logger: log}); err != nil {
		return nil, err
	}

	m := newMetrics()
	// Every publish (events and dead letters) carries the trace on and is measured.
	out, err := messaging.PublisherWithMetrics(m.reg, telemetry.Publisher(s.pub, "rabbitmq"))
	if err != nil {
		return nil, err
	}
	injector, err := faults.FromEnv(Name, log)
	if err != nil {
		return nil, err
	}
	renderer, err := pdf.NewRenderer(pdf.Config{
		ExtraLatency:   cfg.ExtraLatency,
		MaxConcurrent:  cfg.MaxConcurrentRenders,
		Logger:         log,
		OnSubstitution: m.onSubstitution,
	})
	if err != nil {
		return nil, err
	}
	store := adapters.NewPostgresStore(s.pool)
	create := app.NewCreateVoucher(app.Config{
		Store:     store,
		Renderer:  measuredRenderer{next: renderer, m: m},
		Events:    adapters.NewEventPublisher(out),
		Logger:    log,
		OnOutcome: m.onOutcome,
	})

	if s.router, err = messaging.NewRouter(messaging.RouterConfig{
		Logger:       log,
		DeadLetters:  out,
		CloseTimeout: cfg.ShutdownTimeout,
		Metrics:      m.reg,
		Outer:        []message.HandlerMiddleware{telemetry.ConsumerMiddleware},
		Inner:        []message.HandlerMiddleware{injector.Middleware},
	}); err != nil {
		return nil, err
	}
	if err = injector.AddControlHandler(s.router, s.subConn, topology, log); err != nil {
		return nil, err
	}
	messaging.QueueBacklog(m.reg, s.pubConn, messaging.SubscriptionQueue(messaging.EventBookingConfirmed, Name))
	sub, err := messaging.NewEventSubscriber(s.subConn, Name, messaging.SubscriberConfig{Topology: topology, Logger: log})
	if err != nil {
		return nil, err
	}
	s.router.AddHandler(messaging.Handler{
		Name:       ports.HandlerName,
		Topic:      messaging.EventTopic(messaging.EventBookingConfirmed),
		Queue:      messaging.SubscriptionQueue(messaging.EventBookingConfirmed, Name),
		Subscriber: sub,
		Policy:     cfg.Policy,
		Instances:  cfg.Workers,
		Handle:     ports.NewBookingConfirmedHandler(create).Handle,
	})

	metricsHandler := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
	separateMetrics := cfg.MetricsAddr != "" && cfg.MetricsAddr != cfg.HTTPAddr
	api := ports.HTTPConfig{
		Vouchers: app.NewVouchers(store),
		Creator:  create,
		Checks: []httpx.Check{
			{Name: "rabbitmq_publish", Check: messaging.ConnectionCheck(s.pubConn)},
			{Name: "rabbitmq_consume", Check: messaging.ConnectionCheck(s.subConn)},
			{Name: "database", Check: postgres.Check(s.pool)},
		},
		Logger: log,
	}
	if !separateMetrics {
		api.Metrics = metricsHandler
	}
	handler := telemetry.HTTPHandler(httpx.NewMetrics(m.reg).Middleware(ports.NewHTTPHandler(api)), Name)
	if s.http, err = httpx.NewServer(httpx.ServerConfig{Addr: cfg.HTTPAddr, Handler: handler,
		Logger: log, ShutdownTimeout: cfg.ShutdownTimeout}); err != nil {
		return nil, err
	}
	if separateMetrics {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metricsHandler)
		if s.metrics, err = httpx.NewServer(httpx.ServerConfig{Addr: cfg.MetricsAddr, Handler: mux,
			Logger: log, ShutdownTimeout: cfg.ShutdownTimeout}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Run serves HTTP and consumes BookingConfirmed until ctx ends or a part
// fails, then drains both: in-flight requests finish, in-flight messages
// finish or are left to the broker for redelivery.
func (s *Service) Run(ctx context.Context) error {
	components := []lifecycle.Component{
		{Name: "http", Run: s.http.Serve},
		{Name: "router", Run: s.router.Run},
	}
	if s.metrics != nil {
		components = append(components, lifecycle.Component{Name: "metrics", Run: s.metrics.Serve})
	}
	s.log.InfoContext(ctx, "voucher service starting", "http_addr", s.http.Addr(), "workers", s.cfg.Workers,
		"extra_latency", s.cfg.ExtraLatency.String())
	return lifecycle.Run(ctx, s.log, components...)
}

// Running is closed once every handler consumes its queue.
func (s *Service) Running() <-chan struct{} { return s.router.Running() }

// Addr is the address the HTTP API listens on.
func (s *Service) Addr() string { return s.http.Addr() }

// Close releases the publisher, then the connections, then the pool. Call
// it after Run has returned.
func (s *Service) Close() error {
	var errs []error
	if s.pub != nil {
		errs = append(errs, s.pub.Close())
	}
	for _, c := range []*amqp.ConnectionWrapper{s.subConn, s.pubConn} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	if s.pool != nil {
		s.pool.Close()
	}
	return errors.Join(errs...)
}
