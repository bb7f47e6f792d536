package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/staybook/staybook/shared/faults"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/notification/internal/adapters"
	"github.com/staybook/staybook/services/notification/internal/app"
	"github.com/staybook/staybook/services/notification/internal/ports"
)

// Service is the notification service, built and ready to run.
type Service struct {
	cfg     Config
	log     *slog.Logger
	pubConn *amqp.ConnectionWrapper
	subConn *amqp.ConnectionWrapper
	pub     *messaging.Publisher
	sub     *amqp.Subscriber
	router  *messaging.Router
	http    *httpx.Server
	metrics *httpx.Server // nil unless METRICS_ADDR moves metrics off the main port
}

// New connects to the broker, declares the topology and builds everything.
// On error it releases what it had built.
func New(ctx context.Context, cfg Config, log *slog.Logger) (svc *Service, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	s := &Service{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

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
	if s.pub, err = messaging.NewPublisher(s.pubConn, messaging.PublisherConfig{Topology: topology, Timeout: cfg.PublishTimeout, ChannelPoolSize: cfg.PublishChannels, Logger: log}); err != nil {
		return nil, err
	}
	m := newMetrics()
	// Every message leaves through one publisher: traced, then measured.
	out, err := messaging.PublisherWithMetrics(m.registry, telemetry.Publisher(s.pub, "rabbitmq"))
	if err != nil {
		return nil, err
	}
	if s.sub, err = messaging.NewEventSubscriber(s.subConn, Name, messaging.SubscriberConfig{Topology: topology, Logger: log}); err != nil {
		return nil, err
	}

	notifier, err := s.newNotifier(out)
	if err != nil {
		return nil, err
	}

	injector, err := faults.FromEnv(Name, log)
	if err != nil {
		return nil, err
	}
	s.router, err = messaging.NewRouter(messaging.RouterConfig{
		Logger:       log,
		DeadLetters:  out,
		CloseTimeout: cfg.ShutdownTimeout,
		Outer:        []message.HandlerMiddleware{telemetry.ConsumerMiddleware, ports.ReportDiscards(log)},
		Inner:        []message.HandlerMiddleware{injector.Middleware},
		Metrics:      m.registry,
	})
	if err != nil {
		return nil, err
	}
	if err = injector.AddControlHandler(s.router, s.subConn, topology, log); err != nil {
		return nil, err
	}
	messaging.QueueBacklog(m.registry, s.pubConn,
		messaging.SubscriptionQueue(messaging.EventBookingConfirmed, Name),
		messaging.SubscriptionQueue(messaging.EventBookingRejected, Name),
		messaging.SubscriptionQueue(messaging.EventConfirmationEmailSent, Name))
	policies := make(map[string]messaging.RetryPolicy, len(ports.HandlerNames))
	for _, name := range ports.HandlerNames {
		policies[name] = cfg.policy(name)
	}
	for _, h := range ports.MessageHandlers(ports.MessageHandlersConfig{
		App: notifier, Subscriber: s.sub, Policies: policies, Instances: cfg.Workers,
	}) {
		s.router.AddHandler(h)
	}

	metricsHandler := promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
	api := ports.HTTPConfig{
		App:    notifier,
		Logger: log,
		Checks: []httpx.Check{
			{Name: "broker_publish", Check: messaging.ConnectionCheck(s.pubConn)},
			{Name: "broker_consume", Check: messaging.ConnectionCheck(s.subConn)},
		},
		NtfyPublicURL: cfg.ntfyPublicURL(),
	}
	if cfg.MetricsAddr == "" {
		api.Metrics = metricsHandler
	} else {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metricsHandler)
		if s.metrics, err = httpx.NewServer(httpx.ServerConfig{Addr: cfg.MetricsAddr, Handler: mux, Logger: log, ShutdownTimeout: cfg.ShutdownTimeout}); err != nil {
			return nil, fmt.Errorf("METRICS_ADDR: %w", err)
		}
	}
	if s.http, err = httpx.NewServer(httpx.ServerConfig{
		Addr:            cfg.HTTPAddr,
		Handler:         telemetry.HTTPHandler(httpx.NewMetrics(m.registry).Middleware(ports.NewHTTPHandler(api)), Name),
		Logger:          log,
		ShutdownTimeout: cfg.ShutdownTimeout,
	}); err != nil {
		return nil, fmt.Errorf("HTTP_ADDR: %w", err)
	}
	log.InfoContext(ctx, "notification service built",
		"push", cfg.NtfyURL != "", "webhooks", len(cfg.webhookURLs()), "workers", cfg.Workers,
		"on_exhausted", policies[ports.HandlerBookingConfirmed].OnExhausted)
	return s, nil
}

func (s *Service) newNotifier(pub message.Publisher) (*app.Notifier, error) {
	cfg := app.Config{
		Topics:       s.cfg.topics(),
		ClickBaseURL: s.cfg.NtfyClickBaseURL,
		WebhookURLs:  s.cfg.webhookURLs(),
		Events:       adapters.NewEventPublisher(pub),
		Sent:         adapters.NewRecentDeliveries(s.cfg.RecentCapacity),
		ExtraLatency: s.cfg.ExtraLatency,
		Logger:       s.log,
	}
	if s.cfg.NtfyURL != "" {
		ntfy, err := adapters.NewNtfy(adapters.NtfyConfig{URL: s.cfg.NtfyURL, Token: s.cfg.NtfyToken, Timeout: s.cfg.NtfyTimeout, Client: telemetry.HTTPClient(0)})
		if err != nil {
			return nil, err
		}
		cfg.Pusher = ntfy
	}
	if len(cfg.WebhookURLs) > 0 {
		cfg.Webhooks = adapters.NewWebhooks(adapters.WebhookConfig{Timeout: s.cfg.WebhookTimeout, Client: telemetry.HTTPClient(0)})
	}
	return app.New(cfg)
}

// Addr is the address the HTTP server listens on.
func (s *Service) Addr() string { return s.http.Addr() }

// Running is closed once every handler consumes its queue.
func (s *Service) Running() <-chan struct{} { return s.router.Running() }

// Run serves HTTP and consumes messages until ctx ends or a part fails, then
// stops both: the router finishes or requeues the messages in flight, the
// HTTP server answers the requests in flight.
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

// Close releases the broker resources after Run returned: the subscriber,
// the publisher, then the connections.
func (s *Service) Close() error {
	var errs []error
	if s.sub != nil {
		errs = append(errs, s.sub.Close())
	}
	if s.pub != nil {
		errs = append(errs, s.pub.Close())
	}
	if s.subConn != nil {
		errs = append(errs, s.subConn.Close())
	}
	if s.pubConn != nil {
		errs = append(errs, s.pubConn.Close())
	}
	return errors.Join(errs...)
}
