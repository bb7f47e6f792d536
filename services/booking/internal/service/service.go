// Package service builds the booking service from its configuration: the
// database, the broker connections, the router with its handlers, the
// outbox forwarder and the HTTP server; and runs and stops them in order.
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

	"github.com/staybook/staybook/services/booking/internal/adapters/downstream"
	"github.com/staybook/staybook/services/booking/internal/adapters/postgres"
	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/ports"
	"github.com/staybook/staybook/shared/faults"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/outbox"
	sharedpg "github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/telemetry"
)

// Service is a running booking service.
type Service struct {
	cfg       Config
	log       *slog.Logger
	pool      *pgxpool.Pool
	pubConn   *amqp.ConnectionWrapper
	subConn   *amqp.ConnectionWrapper
	publisher *messaging.Publisher
	router    *messaging.Router
	forwarder *outbox.Forwarder
	server    *httpx.Server
	// Bookings is the use cases (tests reach the state through it).
	Bookings *app.Bookings
	// Registry holds the service's metrics.
	Registry *prometheus.Registry
	// OnSettled, if set before Run, is told of every BookRoom command
	// handled, once its transaction committed (created false for a
	// duplicate). Benchmarks wait on it instead of polling the database.
	OnSettled func(created bool)
}

// New connects to everything and builds the service; Run starts it.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Service, err error) {
	s := &Service{cfg: cfg, log: log, Registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	s.pool, err = sharedpg.Open(ctx, sharedpg.Config{
		URL: cfg.DatabaseURL, MaxConns: cfg.DBMaxConns, Migrations: postgres.Migrations(),
		CreateDatabase: true, ConnectTimeout: cfg.AMQPConnectTimeout, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	var opts []postgres.Option
	if cfg.TransactionDelay > 0 {
		opts = append(opts, postgres.BookingTransactionsFrom(slowBookingTransactions{pool: s.pool, delay: cfg.TransactionDelay}))
	}
	repo := withFailpoint(postgres.NewRepository(s.pool, opts...), cfg.Failpoint, log)
	s.Bookings = app.New(repo, app.Config{CommandTTL: cfg.CommandTTL})

	connectCtx, cancel := context.WithTimeout(ctx, cfg.AMQPConnectTimeout)
	defer cancel()
	if s.pubConn, err = messaging.Connect(connectCtx, cfg.AMQPURL, "publish", log); err != nil {
		return nil, err
	}
	if s.subConn, err = messaging.Connect(connectCtx, cfg.AMQPURL, "consume", log); err != nil {
		return nil, err
	}
	topology := messaging.Topology{QueueType: cfg.AMQPQueueType, BookingQueueMax: cfg.BookingQueueMax, DeliveryLimit: cfg.QuorumDeliveryMax}
	if err = topology.DeclareOn(s.pubConn); err != nil {
		return nil, fmt.Errorf("declare topology: %w", err)
	}
	if s.publisher, err = messaging.NewPublisher(s.pubConn, messaging.PublisherConfig{Topology: topology, Timeout: cfg.PublishTimeout, ChannelPoolSize: cfg.PublishChannels, Logger: log}); err != nil {
		return nil, err
	}
	// Every message leaves through one publisher: traced, then measured.
	out, err := messaging.PublisherWithMetrics(s.Registry, telemetry.Publisher(s.publisher, "rabbitmq"))
	if err != nil {
		return nil, err
	}

	injector, err := faults.FromEnv("booking", log)
	if err != nil {
		return nil, err
	}
	metrics := newMetrics(s.Registry, s.pool)
	if s.router, err = messaging.NewRouter(messaging.RouterConfig{
		Logger: log, DeadLetters: out, CloseTimeout: cfg.ShutdownTimeout, Metrics: s.Registry,
		Outer: []message.HandlerMiddleware{telemetry.ConsumerMiddleware},
		Inner: []message.HandlerMiddleware{injector.Middleware},
	}); err != nil {
		return nil, err
	}
	handlers := &ports.Messages{App: s.Bookings, Log: log, Settled: func(status, reason string, created bool) {
		metrics.settled(status, reason, created)
		if s.OnSettled != nil {
			s.OnSettled(created)
		}
	}}
	if err = s.addHandlers(topology, handlers); err != nil {
		return nil, err
	}
	if err = injector.AddControlHandler(s.router, s.subConn, topology, log); err != nil {
		return nil, err
	}
	messaging.QueueBacklog(s.Registry, s.pubConn, messaging.BookRoomQueue,
		messaging.SubscriptionQueue(messaging.EventVoucherCreated, "booking"),
		messaging.SubscriptionQueue(messaging.EventConfirmationEmailSent, "booking"),
		messaging.SubscriptionQueue(messaging.EventCustomerNotified, "booking"),
		messaging.SubscriptionQueue(messaging.EventTaskFailed, "booking"))

	if s.forwarder, err = outbox.NewForwarder(ctx, outbox.Config{
		Pool: s.pool, Out: out, PollInterval: cfg.OutboxPoll, Logger: log,
	}); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	httpx.HandleHealth(mux,
		httpx.Check{Name: "database", Check: sharedpg.Check(s.pool)},
		httpx.Check{Name: "broker_publish", Check: messaging.ConnectionCheck(s.pubConn)},
		httpx.Check{Name: "broker_consume", Check: messaging.ConnectionCheck(s.subConn)},
	)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	(&ports.HTTP{
		App: s.Bookings, Log: log, DirectTimeout: cfg.DirectTimeout,
		Downstream: downstream.New(downstream.Config{
			VoucherURL: cfg.VoucherURL, EmailURL: cfg.EmailURL, NotificationURL: cfg.NotificationURL,
			Client: telemetry.HTTPClient(cfg.DirectTimeout),
		}),
	}).Register(mux)
	handler := httpx.Chain(mux, httpx.NewMetrics(s.Registry).Middleware, httpx.Recover(log))
	if s.server, err = httpx.NewServer(httpx.ServerConfig{
		Addr: cfg.HTTPAddr, Handler: telemetry.HTTPHandler(handler, "booking"), Logger: log, ShutdownTimeout: cfg.ShutdownTimeout,
	}); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) addHandlers(topology messaging.Topology, h *ports.Messages) error {
	commands, err := messaging.NewQueueSubscriber(s.subConn, messaging.SubscriberConfig{Topology: topology, Logger: s.log})
	if err != nil {
		return err
	}
	events, err := messaging.NewEventSubscriber(s.subConn, "booking", messaging.SubscriberConfig{Topology: topology, Logger: s.log})
	if err != nil {
		return err
	}
	// A booking the customer was told is accepted must outlive a database
	// restart: retry for minutes (up to 30 attempts, 10 s apart at most,
	// 5 minutes in all, well under RabbitMQ's 30-minute consumer timeout)
	// before an operator has to replay it. The chaos suite found the
	// default 5 attempts (about 3 s) too short for a PostgreSQL restart.
	outlast := messaging.DefaultRetryPolicy()
	outlast.MaxAttempts, outlast.MaxElapsed = 30, 5*time.Minute
	bookPolicy, err := messaging.LoadRetryPolicy("book_room", outlast)
	if err != nil {
		return err
	}
	s.router.AddHandler(messaging.Handler{
		Name: "book_room", Topic: messaging.BookRoomQueue, Subscriber: commands,
		Policy: bookPolicy, Instances: s.cfg.Workers, Handle: h.BookRoom,
	})
	// A task event may overtake the booking's own commit, so these retry
	// a little longer before giving up.
	taskDefault := outlast
	for _, t := range []struct {
		name, event string
		handle      func(*message.Message) error
	}{
		{"record_voucher_created", messaging.EventVoucherCreated, h.VoucherCreated},
		{"record_email_sent", messaging.EventConfirmationEmailSent, h.ConfirmationEmailSent},
		{"record_customer_notified", messaging.EventCustomerNotified, h.CustomerNotified},
		{"record_task_failed", messaging.EventTaskFailed, h.TaskFailed},
	} {
		policy, err := messaging.LoadRetryPolicy(t.name, taskDefault)
		if err != nil {
			return err
		}
		s.router.AddHandler(messaging.Handler{
			Name: t.name, Topic: messaging.EventTopic(t.event), Queue: messaging.SubscriptionQueue(t.event, "booking"),
			Subscriber: events, Policy: policy, Instances: 2, Handle: t.handle,
		})
	}
	return nil
}

// Addr is the HTTP address the service listens on.
func (s *Service) Addr() string { return s.server.Addr() }

// Running is closed once the router consumes.
func (s *Service) Running() chan struct{} { return s.router.Running() }

// Run serves until ctx ends, then drains: the HTTP server finishes its
// requests, the router its messages, the forwarder its batch.
func (s *Service) Run(ctx context.Context) error {
	return lifecycle.Run(ctx, s.log,
		lifecycle.Component{Name: "http", Run: s.server.Serve},
		lifecycle.Component{Name: "router", Run: s.router.Run},
		lifecycle.Component{Name: "outbox", Run: s.forwarder.Run},
	)
}

// Close releases the publisher, then the connections, then the database.
func (s *Service) Close() error {
	var errs []error
	if s.publisher != nil {
		errs = append(errs, s.publisher.Close())
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

// Reset restores the seed inventory: no bookings, every room free.
func Reset(ctx context.Context, cfg Config, log *slog.Logger) error {
	pool, err := sharedpg.Open(ctx, sharedpg.Config{URL: cfg.DatabaseURL, Migrations: postgres.Migrations(), CreateDatabase: true, Logger: log})
	if err != nil {
		return err
	}
	defer pool.Close()
	return postgres.NewRepository(pool).Reset(ctx)
}
