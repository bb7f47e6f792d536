// Package servicekit builds what every Staybook service has in common, so
// that a service's main.go only registers its handlers and routes:
//
//	func main() {
//		servicekit.Program[Config]{Name: "voucher", Load: LoadConfig, Build: build}.Main()
//	}
//
//	func build(ctx context.Context, svc *servicekit.Service, cfg Config) error {
//		db, err := svc.OpenDatabase(ctx, servicekit.Database{Migrations: adapters.Migrations()})
//		...
//		svc.HandleEvent(ports.NewBookingConfirmedHandler(create), servicekit.Handling{Policy: cfg.Policy, Instances: cfg.Workers})
//		ports.RegisterHTTP(svc.Mux(), ...)
//		return nil
//	}
//
// New connects to RabbitMQ twice (a publisher blocked by the broker's flow
// control must not stall the consumers), declares the topology, and builds
// the publisher (traced, then measured), the router with its middleware
// (tracing, retries, dead letters, fault injection and its control
// handler), the metrics registry, the readiness checks, the public HTTP
// server and the internal listener (INTERNAL_ADDR: metrics, pprof and
// operator endpoints). Run
// runs them all until the context ends; Close releases them in order.
// docs/architecture.md, "How a service is put together", walks through it.
package servicekit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/staybook/staybook/shared/config"
	"github.com/staybook/staybook/shared/faults"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/telemetry"
)

// Options configures New. Name, Config and Logger are required.
type Options struct {
	// Name is the service's name: log tag, queue suffix, metrics, faults.
	Name   string
	Config config.Common
	Logger *slog.Logger
	// RouterMiddleware runs outside the standard chain, inside tracing
	// (notification reports its discarded tasks there).
	RouterMiddleware []message.HandlerMiddleware
	// DeadLetters replaces the publisher the router dead-letters through
	// (the deadletters service refuses to dead-letter its own queue).
	DeadLetters message.Publisher
	// RouterCloseTimeout is how long handlers in flight may run at shutdown
	// (default SHUTDOWN_TIMEOUT).
	RouterCloseTimeout time.Duration
	// PublishRoomWait, if set, is how long a publish waits for room among
	// the messages awaiting their confirms before it fails with
	// messaging.ErrBusy (the web tier answers 503 at once rather than late).
	PublishRoomWait time.Duration
	// HTTPWriteTimeout bounds a public response (0: none; direct mode and
	// live streams last long).
	HTTPWriteTimeout time.Duration
}

// Service is one service process's common parts, built by New.
type Service struct {
	Name   string
	Log    *slog.Logger
	Config config.Common
	// Metrics is the service's own registry (several services can be built
	// in one test process): Go and process collectors, the router's,
	// the publisher's and the HTTP server's metrics are on it.
	Metrics *prometheus.Registry
	// Publisher is every outgoing message's way out: traced, then measured,
	// then the confirming AMQP publisher.
	Publisher message.Publisher
	// Events publishes contracts on their event topics through Publisher.
	Events *cqrs.EventBus
	// Topology is the broker topology every service declares.
	Topology messaging.Topology
	// Router consumes; Handle* register on it.
	Router *messaging.Router
	// Faults is the fault injector (FAULT_* variables, and the control fanout).
	Faults *faults.Injector

	opts        Options
	pubConn     *amqp.ConnectionWrapper
	subConn     *amqp.ConnectionWrapper
	amqpPub     *messaging.Publisher
	subscribers map[string]message.Subscriber
	backlog     []string
	db          *pgxpool.Pool
	commits     *outbox.Commits // see OutboxCommits

	mu         sync.Mutex
	checks     []httpx.Check
	components []lifecycle.Component
	closers    []func() error

	public      *httpx.Server
	publicMux   *httpx.Mux
	middleware  []func(http.Handler) http.Handler
	handler     http.Handler
	internal    *httpx.Server // nil without INTERNAL_ADDR (or METRICS_ADDR alone)
	metricsOnly *httpx.Server // nil unless METRICS_ADDR is an address of its own besides
	// internalMux is the internal listener's router (nil without one).
	internalMux *http.ServeMux
	sealOnce    sync.Once
}

// New builds the common parts; the HTTP listeners are bound at once (so
// ":0" gives a known Addr), nothing is served or consumed before Run. On
// error it releases what it had built.
func New(ctx context.Context, opts Options) (_ *Service, err error) {
	if opts.Name == "" || opts.Logger == nil {
		panic("servicekit: Options.Name and Options.Logger are required")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	cfg := opts.Config
	s := &Service{
		Name: opts.Name, Log: opts.Logger, Config: cfg, opts: opts,
		Metrics:     prometheus.NewRegistry(),
		subscribers: map[string]message.Subscriber{},
		publicMux:   httpx.NewMux(),
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err = s.connect(ctx); err != nil {
		return nil, err
	}
	if err = s.buildRouter(); err != nil {
		return nil, err
	}
	if err = s.listen(); err != nil {
		return nil, err
	}
	return s, nil
}

// connect opens both connections, declares the topology and builds the publisher.
func (s *Service) connect(ctx context.Context) (err error) {
	cfg := s.Config
	connectCtx, cancel := context.WithTimeout(ctx, cfg.AMQPConnectTimeout)
	defer cancel()
	if s.pubConn, err = messaging.Connect(connectCtx, cfg.AMQPURL, s.Name+"-publish", s.Log); err != nil {
		return err
	}
	if s.subConn, err = messaging.Connect(connectCtx, cfg.AMQPURL, s.Name+"-consume", s.Log); err != nil {
		return err
	}
	s.Topology = messaging.Topology{QueueType: cfg.AMQPQueueType, BookingQueueMax: cfg.BookingQueueMax, DeliveryLimit: cfg.QuorumDeliveryMax}
	if err = s.Topology.DeclareOn(s.pubConn); err != nil {
		return fmt.Errorf("declare topology: %w", err)
	}
	if s.amqpPub, err = messaging.NewPublisher(s.pubConn, messaging.PublisherConfig{
		Topology: s.Topology, Timeout: cfg.PublishTimeout, ChannelPoolSize: cfg.PublishChannels, Logger: s.Log,
		MaxInFlight: cfg.PublishMaxInFlight, RoomWait: s.opts.PublishRoomWait,
	}); err != nil {
		return err
	}
	if s.Publisher, err = messaging.PublisherWithMetrics(s.Metrics, telemetry.Publisher(s.amqpPub, "rabbitmq")); err != nil {
		return err
	}
	if s.Events, err = messaging.EventBus(s.Publisher); err != nil {
		return err
	}
	s.AddCheck("broker_publish", messaging.ConnectionCheck(s.pubConn))
	s.AddCheck("broker_consume", messaging.ConnectionCheck(s.subConn))
	return nil
}

// buildRouter builds the router, the fault injector and its control handler.
func (s *Service) buildRouter() (err error) {
	if s.Faults, err = faults.FromEnv(s.Name, s.Log); err != nil {
		return err
	}
	deadLetters := s.opts.DeadLetters
	if deadLetters == nil {
		deadLetters = s.Publisher
	}
	closeTimeout := s.opts.RouterCloseTimeout
	if closeTimeout == 0 {
		closeTimeout = s.Config.ShutdownTimeout
	}
	if s.Router, err = messaging.NewRouter(messaging.RouterConfig{
		Logger: s.Log, DeadLetters: deadLetters, CloseTimeout: closeTimeout, Metrics: s.Metrics,
		Outer: append([]message.HandlerMiddleware{telemetry.ConsumerMiddleware}, s.opts.RouterMiddleware...),
		Inner: []message.HandlerMiddleware{s.Faults.Middleware},
	}); err != nil {
		return err
	}
	return s.Faults.AddControlHandler(s.Router, s.subConn, s.Topology, s.Log)
}

// AddCheck adds a dependency that readiness (GET /readyz) depends on.
func (s *Service) AddCheck(name string, check func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, httpx.Check{Name: name, Check: check})
}

func (s *Service) currentChecks() []httpx.Check {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.checks)
}

// Go runs a long-lived part of the service (an outbox forwarder) beside the
// HTTP servers and the router: it must return once ctx ends and it drained.
func (s *Service) Go(name string, run func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.components = append(s.components, lifecycle.Component{Name: name, Run: run})
}

// OnClose releases a resource of the service's own at Close, after the
// router and before the broker connections and the database (last added,
// first run).
func (s *Service) OnClose(release func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, release)
}

// Run serves HTTP, consumes and runs every part added with Go until ctx
// ends or one fails; then stops them all and waits for each to drain: the
// HTTP servers answer the requests in flight, the router finishes or
// requeues its messages.
func (s *Service) Run(ctx context.Context) error {
	s.seal()
	s.mu.Lock()
	components := append([]lifecycle.Component{
		{Name: "http", Run: s.public.Serve},
		{Name: "router", Run: s.Router.Run},
	}, s.components...)
	s.mu.Unlock()
	if s.internal != nil {
		components = append(components, lifecycle.Component{Name: "internal http", Run: s.internal.Serve})
	}
	if s.metricsOnly != nil {
		components = append(components, lifecycle.Component{Name: "metrics http", Run: s.metricsOnly.Serve})
	}
	s.Log.InfoContext(ctx, s.Name+" service starting", "http_addr", s.Addr(), "internal_addr", s.InternalAddr())
	return lifecycle.Run(ctx, s.Log, components...)
}

// Running is closed once every handler consumes its queue.
func (s *Service) Running() <-chan struct{} { return s.Router.Running() }

// Close releases everything after Run returned: the service's own
// resources (OnClose), the subscribers, the publisher (it carries the last
// dead letters and events), the connections, then the database.
func (s *Service) Close() error {
	var errs []error
	s.mu.Lock()
	closers := slices.Clone(s.closers)
	s.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		errs = append(errs, closers[i]())
	}
	for _, sub := range s.subscribers {
		errs = append(errs, sub.Close())
	}
	if s.amqpPub != nil {
		errs = append(errs, s.amqpPub.Close())
	}
	for _, c := range []*amqp.ConnectionWrapper{s.subConn, s.pubConn} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	if s.db != nil {
		s.db.Close()
	}
	return errors.Join(errs...)
}

// PublishConnection is the broker connection the publisher uses (a replay
// of dead letters publishes the original messages on it, undecorated).
func (s *Service) PublishConnection() *amqp.ConnectionWrapper { return s.pubConn }

// AMQPPublisher is the confirming publisher under Publisher, without its
// tracing and metrics decorators.
func (s *Service) AMQPPublisher() *messaging.Publisher { return s.amqpPub }

// Database is the pool OpenDatabase opened, or nil.
func (s *Service) Database() *pgxpool.Pool { return s.db }
