package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/deepstack"
	"github.com/staybook/staybook/shared/logging"
)

// RouterConfig configures a Router.
type RouterConfig struct {
	Logger *slog.Logger
	// DeadLetters receives messages that failed for good (topic DeadLetterQueue).
	DeadLetters message.Publisher
	// CloseTimeout is how long in-flight handlers may run after Close
	// before their contexts are cancelled (and their messages requeued).
	CloseTimeout time.Duration
	// Outer middleware runs outside the standard chain (tracing goes here).
	Outer []message.HandlerMiddleware
	// Inner middleware runs inside panic recovery, around the handler
	// itself (fault injection goes here).
	Inner []message.HandlerMiddleware
	// Hooks observe retries, dead letters and discards (metrics go here).
	Hooks Hooks
	// Metrics, if set, gets Watermill's handler metrics and Staybook's
	// counters of failed attempts, dead letters, discards and redeliveries.
	Metrics prometheus.Registerer
}

// Hooks are called as messages fail; any may be nil.
type Hooks struct {
	Attempt     func(handler string, attempt int, err error)
	DeadLetter  func(handler string)
	Discarded   func(handler string)
	Redelivered func(handler string) // a failed message left for redelivery at shutdown
}

// Handler is one consumer of one queue.
type Handler struct {
	// Name identifies the handler in logs, metrics, dead letters (dl_handler)
	// and environment variables (<NAME>_MAX_ATTEMPTS ...).
	Name string
	// Topic is the Watermill topic the subscriber is asked for.
	Topic string
	// Queue is the queue the subscriber consumes from; a replayed dead letter goes back there.
	Queue      string
	Subscriber message.Subscriber
	Policy     RetryPolicy
	// Instances is how many copies consume the queue concurrently (default 1).
	Instances int
	// Handle does the work. It publishes its own events (through a Publisher,
	// so they pass the publishing middleware) rather than returning them.
	Handle func(msg *message.Message) error

	// expect, for a cqrs handler, is the contract name it decodes.
	expect string
}

// Router is a Watermill router whose every handler runs the standard chain,
// outermost first: the configured outer middleware (tracing), correlation
// ID, dead letter, retry, timeout, (attempt counting,) panic recovery,
// inner middleware (fault injection).
//
// At shutdown, handlers in flight finish their attempt (up to CloseTimeout)
// before their messages are settled; only then are the subscribers closed
// (see drainingSubscriber). Waits between retries end at once.
type Router struct {
	router  *message.Router
	wlog    watermill.LoggerAdapter
	cfg     RouterConfig
	closing atomic.Bool
	// shutdown ends when Close is called: it ends the waits between retries.
	shutdown     context.Context
	stopRetrying context.CancelFunc
	// abort ends CloseTimeout after Close: it cancels the handlers still running.
	abort        context.Context
	abortRunning context.CancelFunc

	mu          sync.Mutex
	subscribers map[message.Subscriber]*drainingSubscriber
	// initCounters starts a handler's failure counters at zero, so
	// dashboards see the series before the first failure.
	initCounters func(handler string)
}

// NewRouter builds a Router.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DeadLetters == nil {
		panic("messaging: RouterConfig.DeadLetters is nil")
	}
	if cfg.CloseTimeout == 0 {
		cfg.CloseTimeout = 20 * time.Second
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(cfg.Logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	// Watermill waits a little longer than CloseTimeout: the handlers
	// cancelled then get time to return and have their messages nacked.
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout + abortGrace}, wlog)
	if err != nil {
		return nil, fmt.Errorf("create router: %w", err)
	}
	router := &Router{router: r, wlog: wlog, cfg: cfg, initCounters: func(string) {}, subscribers: map[message.Subscriber]*drainingSubscriber{}}
	router.shutdown, router.stopRetrying = context.WithCancel(context.Background())
	router.abort, router.abortRunning = context.WithCancel(context.Background())
	r.AddMiddleware(reserveStack) // first: outermost, before the metrics
	if cfg.Metrics != nil {
		metrics.NewPrometheusMetricsBuilder(cfg.Metrics, MetricsNamespace, "").AddPrometheusRouterMetrics(r)
		router.cfg.Hooks, router.initCounters = withCounters(cfg.Metrics, cfg.Hooks)
	}
	return router, nil
}

// withCounters adds Prometheus counters to hooks.
func withCounters(reg prometheus.Registerer, hooks Hooks) (Hooks, func(string)) {
	counter := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"handler"})
		reg.MustRegister(c)
		return c
	}
	retried := counter("staybook_handler_failures_total", "Failed handler attempts (each may be retried).")
	dead := counter("staybook_messages_dead_lettered_total", "Messages sent to dead_letters after their attempts.")
	discarded := counter("staybook_messages_discarded_total", "Non-critical messages dropped after their attempts.")
	redelivered := counter("staybook_messages_left_for_redelivery_total", "Messages nacked at shutdown, to be redelivered.")
	chain := func(c *prometheus.CounterVec, next func(string)) func(string) {
		return func(h string) {
			c.WithLabelValues(h).Inc()
			if next != nil {
				next(h)
			}
		}
	}
	next := hooks.Attempt
	hooks.Attempt = func(h string, n int, err error) {
		retried.WithLabelValues(h).Inc()
		if next != nil {
			next(h, n, err)
		}
	}
	hooks.DeadLetter = chain(dead, hooks.DeadLetter)
	hooks.Discarded = chain(discarded, hooks.Discarded)
	hooks.Redelivered = chain(redelivered, hooks.Redelivered)
	return hooks, func(h string) {
		for _, c := range []*prometheus.CounterVec{retried, dead, discarded, redelivered} {
			c.WithLabelValues(h)
		}
	}
}

// AddHandler registers h (Instances times, as competing consumers).
func (r *Router) AddHandler(h Handler) {
	if h.Handle == nil {
		panic("messaging: handler " + h.Name + " has no Handle")
	}
	if err := r.register(h, func(name string, sub message.Subscriber) (*message.Handler, error) {
		return r.router.AddConsumerHandler(name, h.Topic, sub, func(msg *message.Message) error {
			return h.Handle(msg)
		}), nil
	}); err != nil {
		panic("messaging: " + err.Error())
	}
}

// register adds h's Instances consumers through add (which puts one on the
// Watermill router under name, reading sub) and gives each the standard chain.
func (r *Router) register(h Handler, add func(name string, sub message.Subscriber) (*message.Handler, error)) error {
	if h.Subscriber == nil {
		return fmt.Errorf("handler %s has no Subscriber", h.Name)
	}
	if err := h.Policy.Validate(h.Name); err != nil {
		return err
	}
	if h.Instances < 1 {
		h.Instances = 1
	}
	if h.Queue == "" {
		h.Queue = h.Topic
	}
	r.initCounters(h.Name)
	sub := r.draining(h.Subscriber)
	for i := 1; i <= h.Instances; i++ {
		name := h.Name
		if h.Instances > 1 {
			name = fmt.Sprintf("%s#%d", h.Name, i)
		}
		wh, err := add(name, sub)
		if err != nil {
			return fmt.Errorf("handler %s: %w", name, err)
		}
		for _, m := range r.chain(h) {
			wh.AddMiddleware(m)
		}
	}
	return nil
}

// chain is the middleware every consumer of h runs, outermost first.
func (r *Router) chain(h Handler) []message.HandlerMiddleware {
	chain := append([]message.HandlerMiddleware{}, r.cfg.Outer...)
	chain = append(chain,
		middleware.CorrelationID,
		r.logContext,
		r.deadLetter(h),
		r.retryUntilShutdown,
		middleware.Retry{
			MaxRetries:          h.Policy.MaxAttempts - 1,
			InitialInterval:     h.Policy.InitialInterval,
			MaxInterval:         h.Policy.MaxInterval,
			Multiplier:          h.Policy.Multiplier,
			RandomizationFactor: h.Policy.RandomizationFactor,
			MaxElapsedTime:      h.Policy.MaxElapsed,
			ResetContextOnRetry: true,
		}.Middleware,
		attemptContext,
		middleware.Timeout(h.Policy.Timeout),
		// attempt counts every call, including one that an inner
		// middleware (an injected fault) fails or that panics.
		r.attempt(h),
		middleware.Recoverer,
	)
	chain = append(chain, r.cfg.Inner...)
	if h.expect != "" {
		chain = append(chain, expectName(h.expect))
	}
	return chain
}

// draining wraps sub once, however many handlers consume through it.
func (r *Router) draining(sub message.Subscriber) *drainingSubscriber {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.subscribers[sub]
	if !ok {
		d = newDrainingSubscriber(sub, r.abort)
		r.subscribers[sub] = d
	}
	return d
}

// closeSubscribers drains and closes every subscriber (each waits for its
// messages in flight to be settled on the broker).
func (r *Router) closeSubscribers() error {
	r.mu.Lock()
	subs := make([]*drainingSubscriber, 0, len(r.subscribers))
	for _, d := range r.subscribers {
		subs = append(subs, d)
	}
	r.mu.Unlock()
	var errs []error
	for _, d := range subs {
		if err := d.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close subscriber: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Run runs the handlers until ctx ends, then closes the router, and returns
// once every message in flight is settled. The router itself runs on a
// context of its own: were it given ctx, Watermill would cancel the handlers
// before ShuttingDown turns true, and a message failing because of the
// shutdown would look like any failure.
func (r *Router) Run(ctx context.Context) error {
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			r.Close()
		case <-stopped:
		}
	}()
	err := r.router.Run(context.WithoutCancel(ctx))
	// Watermill's Run returns when its handlers have returned; the acks of
	// their messages may still be on their way to the broker.
	return errors.Join(err, r.closeSubscribers())
}

// Running is closed once every handler is subscribed.
func (r *Router) Running() chan struct{} { return r.router.Running() }

// Close stops consuming. Handlers in flight finish their attempt on a
// context the shutdown does not cancel, for up to CloseTimeout; then their
// contexts are cancelled. A message whose handler fails during the shutdown
// (or was waiting to retry) is nacked (requeued), neither retried nor
// dead-lettered. Close returns once every message is settled on the broker
// and the subscribers are closed.
func (r *Router) Close() error {
	r.closing.Store(true)
	r.stopRetrying()
	abort := time.AfterFunc(r.cfg.CloseTimeout, r.abortRunning)
	defer abort.Stop()
	err := r.router.Close()
	return errors.Join(err, r.closeSubscribers())
}

// ShuttingDown reports whether Close has been called. (Watermill's own
// IsClosed blocks until the close is complete, so it cannot tell handlers.)
func (r *Router) ShuttingDown() bool { return r.closing.Load() }

func (r *Router) logContext(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := logging.WithAttrs(msg.Context(),
			slog.String("message_uuid", msg.UUID),
			slog.String("booking_id", middleware.MessageCorrelationID(msg)),
			slog.String("handler", message.HandlerNameFromCtx(msg.Context())),
		)
		msg.SetContext(ctx)
		return h(msg)
	}
}

type attemptsKey struct{}

type attemptContextKey struct{}

// retryUntilShutdown gives the Retry middleware a context that the shutdown
// cancels, so a wait between attempts ends at once (and the message is
// requeued), while attemptContext, inside Retry, gives each attempt back the
// context the shutdown does not cancel: an attempt under way finishes.
func (r *Router) retryUntilShutdown(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		attemptCtx := msg.Context()
		ctx, cancel := context.WithCancel(context.WithValue(attemptCtx, attemptContextKey{}, attemptCtx))
		defer cancel()
		stop := context.AfterFunc(r.shutdown, cancel)
		defer stop()
		msg.SetContext(ctx)
		return next(msg)
	}
}

// attemptContext: see retryUntilShutdown.
func attemptContext(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if ctx, ok := msg.Context().Value(attemptContextKey{}).(context.Context); ok {
			msg.SetContext(ctx)
		}
		return next(msg)
	}
}

// attempt counts calls and makes permanent errors stop the retries: an error
// wrapped in backoff.Permanent ends Watermill's Retry at once (its own
// ShouldRetry hook would also work but advances the backoff one extra step
// per retry, so the waits would not be the ones configured).
func (r *Router) attempt(h Handler) message.HandlerMiddleware {
	return func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			n := 0
			if c, ok := msg.Context().Value(attemptsKey{}).(*atomic.Int64); ok {
				n = int(c.Add(1))
			}
			out, err := next(msg)
			if err == nil {
				return out, nil
			}
			if r.ShuttingDown() {
				return out, backoff.Permanent(err)
			}
			r.cfg.Logger.WarnContext(msg.Context(), "handler attempt failed",
				"attempt", n, "max_attempts", h.Policy.MaxAttempts, "permanent", IsPermanent(err), "err", err)
			trace.SpanFromContext(msg.Context()).AddEvent("handler attempt failed", trace.WithAttributes(
				attribute.Int("attempt", n), attribute.Int("max_attempts", h.Policy.MaxAttempts),
				attribute.Bool("permanent", IsPermanent(err)), attribute.String("error", err.Error())))
			if r.cfg.Hooks.Attempt != nil {
				r.cfg.Hooks.Attempt(h.Name, n, err)
			}
			if IsPermanent(err) {
				return out, backoff.Permanent(err)
			}
			return out, err
		}
	}
}

// Metadata a dead letter carries besides the original message's.
const (
	// The keys are defined in contracts, so that a domain reads them
	// without depending on this package.
	DLQueueKey          = contracts.DLQueueKey
	DLHandlerKey        = contracts.DLHandlerKey
	DLReasonKey         = contracts.DLReasonKey
	DLAttemptsKey       = contracts.DLAttemptsKey
	DLFirstFailedAtKey  = contracts.DLFirstFailedAtKey
	DLLastFailedAtKey   = contracts.DLLastFailedAtKey
	DLPermanentKey      = contracts.DLPermanentKey
	maxReasonLength     = 2000
	deadLetterRetryWait = time.Second
)

// deadLetter publishes a message that failed all its attempts (or failed
// permanently) to dead_letters and acks it, or discards it where the policy
// says so. During shutdown it lets the error through, so the message is
// nacked and redelivered later rather than dead-lettered.
func (r *Router) deadLetter(h Handler) message.HandlerMiddleware {
	return func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			attempts := new(atomic.Int64)
			// The context as it is here, before the timeout middleware
			// inside replaces (and, on return, cancels) the message's.
			ctx := context.WithValue(msg.Context(), attemptsKey{}, attempts)
			msg.SetContext(ctx)
			out, err := next(msg)
			if err == nil {
				return out, nil
			}
			if r.ShuttingDown() {
				r.cfg.Logger.InfoContext(ctx, "shutting down: message left for redelivery", "err", err)
				if r.cfg.Hooks.Redelivered != nil {
					r.cfg.Hooks.Redelivered(h.Name)
				}
				return nil, err
			}
			if h.Policy.OnExhausted == ExhaustedDiscard && !IsPermanent(err) {
				r.cfg.Logger.WarnContext(ctx, "message discarded after its attempts", "attempts", attempts.Load(), "err", err)
				if r.cfg.Hooks.Discarded != nil {
					r.cfg.Hooks.Discarded(h.Name)
				}
				return nil, nil
			}
			dl := r.deadLetterMessage(msg, h, err, int(attempts.Load()))
			if perr := r.cfg.DeadLetters.Publish(DeadLetterQueue, dl); perr != nil {
				// Not stored anywhere: nack it so the broker keeps it, after
				// a pause so that a broker in trouble is not hammered.
				r.cfg.Logger.ErrorContext(ctx, "dead letter not published; message will be redelivered", "err", perr)
				select {
				case <-time.After(deadLetterRetryWait):
				case <-ctx.Done():
				}
				return nil, fmt.Errorf("dead-letter %s: %w", msg.UUID, perr)
			}
			r.cfg.Logger.ErrorContext(ctx, "message dead-lettered", "attempts", attempts.Load(), "permanent", IsPermanent(err), "err", err)
			if r.cfg.Hooks.DeadLetter != nil {
				r.cfg.Hooks.DeadLetter(h.Name)
			}
			return nil, nil
		}
	}
}

func (r *Router) deadLetterMessage(msg *message.Message, h Handler, cause error, attempts int) *message.Message {
	dl := msg.Copy()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	prev := 0
	fmt.Sscan(msg.Metadata.Get(DLAttemptsKey), &prev)
	reason := cause.Error()
	if len(reason) > maxReasonLength {
		reason = reason[:maxReasonLength]
	}
	if dl.Metadata.Get(DLFirstFailedAtKey) == "" {
		dl.Metadata.Set(DLFirstFailedAtKey, now)
	}
	dl.Metadata.Set(DLLastFailedAtKey, now)
	dl.Metadata.Set(DLQueueKey, h.Queue)
	dl.Metadata.Set(DLHandlerKey, h.Name)
	dl.Metadata.Set(DLReasonKey, reason)
	dl.Metadata.Set(DLAttemptsKey, fmt.Sprint(prev+attempts))
	dl.Metadata.Set(DLPermanentKey, fmt.Sprint(IsPermanent(cause)))
	if dl.Metadata.Get(contracts.SchemaNameKey) == "" {
		dl.Metadata.Set(contracts.SchemaNameKey, "unknown")
	}
	// Publish on a context that outlives the handler's (cancelled at shutdown
	// or by the timeout) but keeps its values (the trace).
	dl.SetContext(context.WithoutCancel(msg.Context()))
	return dl
}

// reserveStack is the router's outermost middleware: Watermill handles each
// message on a new goroutine, and the chain below would grow its stack on
// every message (package deepstack).
func reserveStack(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		deepstack.Reserve()
		return h(msg)
	}
}
