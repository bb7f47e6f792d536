// Package service builds the deadletters service from its configuration:
// the database, the broker connections, the router with its dead_letters
// handler, the outbox forwarder (TaskFailed), the admin API and the HTTP
// server; and runs and stops them in order.
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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/staybook/staybook/services/deadletters/internal/adapters/broker"
	"github.com/staybook/staybook/services/deadletters/internal/adapters/postgres"
	"github.com/staybook/staybook/services/deadletters/internal/app"
	"github.com/staybook/staybook/services/deadletters/internal/ports"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/outbox"
	sharedpg "github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/telemetry"
)

// Service is a running deadletters service.
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
	metrics   *httpx.Server // nil unless METRICS_ADDR moves metrics off HTTP_ADDR
	// Letters is the use cases.
	Letters *app.Letters
	// Registry holds the service's metrics (its own, not the default
	// registry: tests run several instances in one process).
	Registry *prometheus.Registry
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
	repo := postgres.NewRepository(s.pool)

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
	// Events (TaskFailed, from the outbox) leave traced, then measured.
	out, err := messaging.PublisherWithMetrics(s.Registry, telemetry.Publisher(s.publisher, "rabbitmq"))
	if err != nil {
		return nil, err
	}
	// A replay goes out undecorated: it is the original message, whose
	// traceparent must stay the one it was sent with.
	s.Letters = app.New(repo, broker.NewRepublisher(broker.Config{Conn: s.pubConn, Publisher: s.publisher}),
		app.Config{ReplayTimeout: cfg.ReplayTimeout})

	metrics := newMetrics(s.Registry, repo, s.pool)
	if s.router, err = messaging.NewRouter(messaging.RouterConfig{
		Logger: log, DeadLetters: refuseDeadLetters{}, CloseTimeout: cfg.ShutdownTimeout, Metrics: s.Registry,
		Outer: []message.HandlerMiddleware{telemetry.ConsumerMiddleware},
	}); err != nil {
		return nil, err
	}
	if err = s.addHandler(topology, &ports.Messages{App: s.Letters, Log: log, Stored: metrics.letterStored}); err != nil {
		return nil, err
	}
	messaging.QueueBacklog(s.Registry, s.pubConn, messaging.DeadLetterQueue)

	if s.forwarder, err = outbox.NewForwarder(ctx, outbox.Config{
		Pool: s.pool, Out: out, PollInterval: cfg.OutboxPoll, Logger: log,
	}); err != nil {
		return nil, err
	}

	if cfg.AdminToken == "" {
		log.WarnContext(ctx, "ADMIN_TOKEN is not set: the admin API refuses every request")
	}
	mux := http.NewServeMux()
	httpx.HandleHealth(mux,
		httpx.Check{Name: "database", Check: sharedpg.Check(s.pool)},
		httpx.Check{Name: "broker_publish", Check: messaging.ConnectionCheck(s.pubConn)},
		httpx.Check{Name: "broker_consume", Check: messaging.ConnectionCheck(s.subConn)},
	)
	(&ports.Admin{App: s.Letters, Log: log, Token: cfg.AdminToken}).Register(mux)
	metricsHandler := promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry})
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
	handler := httpx.Chain(mux, httpx.NewMetrics(s.Registry).Middleware, httpx.Recover(log))
	if s.server, err = httpx.NewServer(httpx.ServerConfig{
		Addr: cfg.HTTPAddr, Handler: telemetry.HTTPHandler(handler, Name), Logger: log, ShutdownTimeout: cfg.ShutdownTimeout,
	}); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) addHandler(topology messaging.Topology, h *ports.Messages) error {
	sub, err := messaging.NewQueueSubscriber(s.subConn, messaging.SubscriberConfig{Topology: topology, Logger: s.log})
	if err != nil {
		return err
	}
	policy, err := messaging.LoadRetryPolicy(ports.HandlerName, s.cfg.StoreRetry)
	if err != nil {
		return err
	}
	s.router.AddHandler(messaging.Handler{
		Name: ports.HandlerName, Topic: messaging.DeadLetterQueue, Subscriber: sub,
		Policy: policy, Instances: s.cfg.Workers, Handle: h.StoreDeadLetter,
	})
	return nil
}

// errNoDeadLetterOfDeadLetters is why a letter that could not be stored is
// not dead-lettered again.
var errNoDeadLetterOfDeadLetters = errors.New("a dead letter that could not be stored stays on dead_letters for redelivery")

// refuseDeadLetters is the router's dead-letter publisher for the
// dead_letters queue itself. Were a letter that failed to be stored
// dead-lettered like any message, it would come back to dead_letters with
// its dl_* metadata overwritten (dl_handler store_dead_letter, dl_queue
// dead_letters): the operator would lose where it came from, and a replay
// would send it here again. Refusing makes the router nack it instead, after
// a pause, so RabbitMQ keeps it and redelivers it: never lost, never altered.
type refuseDeadLetters struct{}

func (refuseDeadLetters) Publish(string, ...*message.Message) error {
	return errNoDeadLetterOfDeadLetters
}
func (refuseDeadLetters) Close() error { return nil }

// Addr is the HTTP address the service listens on.
func (s *Service) Addr() string { return s.server.Addr() }

// Running is closed once the router consumes.
func (s *Service) Running() chan struct{} { return s.router.Running() }

// Run serves until ctx ends, then drains: the HTTP server finishes its
// requests, the router its messages, the forwarder its batch.
func (s *Service) Run(ctx context.Context) error {
	components := []lifecycle.Component{
		{Name: "http", Run: s.server.Serve},
		{Name: "router", Run: s.router.Run},
		{Name: "outbox", Run: s.forwarder.Run},
	}
	if s.metrics != nil {
		components = append(components, lifecycle.Component{Name: "metrics", Run: s.metrics.Serve})
	}
	return lifecycle.Run(ctx, s.log, components...)
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
