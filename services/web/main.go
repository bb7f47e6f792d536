// Command web is Staybook's web tier: the site (hotel offers, booking form,
// live booking page, admin console), the public JSON API and the admin API.
// It validates bookings and queues them for the booking service, serves
// their status and a live stream of it, and the hotel catalogue.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/servicekit"
	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/web/internal/adapters/bookingclient"
	"github.com/staybook/staybook/services/web/internal/adapters/deadlettersclient"
	"github.com/staybook/staybook/services/web/internal/adapters/jaegerclient"
	"github.com/staybook/staybook/services/web/internal/adapters/voucherclient"
	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/domain"
	"github.com/staybook/staybook/services/web/internal/ports"
	"github.com/staybook/staybook/services/web/internal/ports/admin"
	"github.com/staybook/staybook/services/web/internal/ports/api"
	"github.com/staybook/staybook/services/web/internal/ports/apidoc"
	"github.com/staybook/staybook/services/web/internal/ports/ratelimit"
	"github.com/staybook/staybook/services/web/internal/ports/site"
)

// takenKeysRemembered bounds the Idempotency-Keys a replica knows to be
// taken (app.TakenKeys): about 20 MB, an hour of bookings at 25/s.
const takenKeysRemembered = 100_000

// RelayHandlerName is the handler that relays BookingStatusChanged to the
// event streams (RELAY_STATUS_MAX_ATTEMPTS ... configure its retries).
const RelayHandlerName = "relay_status"

var program = servicekit.Program[Config]{
	Name: Name, Load: LoadConfig, Build: build,
	Options: func(cfg Config, opts *servicekit.Options) {
		// Event streams and direct-mode bookings are bounded by their own
		// settings; every other answer by HTTP_WRITE_TIMEOUT.
		opts.HTTPWriteTimeout = cfg.HTTPWriteTimeout
		opts.RouterCloseTimeout = 5 * time.Second
		// When the broker does not keep up (every one of the publisher's
		// 1,024 messages in flight awaits its confirm), a booking is
		// answered 503 with Retry-After at once rather than held until
		// PUBLISH_TIMEOUT.
		opts.PublishRoomWait = publishRoomWait
	},
}

// publishRoomWait is how long a booking waits for room among the messages
// awaiting the broker's confirms before its 503.
const publishRoomWait = 50 * time.Millisecond

func main() { program.Main() }

// build wires the clients of the other services, the catalogue cache, the
// public API, the admin API, the pages and the relay of status changes.
// Readiness is the broker alone (the kit's checks): bookings are queued
// while the booking service is down, from the cached catalogue.
func build(ctx context.Context, svc *servicekit.Service, cfg Config) error {
	if cfg.Development {
		svc.Log.WarnContext(ctx, "STAYBOOK_DEV is set: development secrets are accepted; never expose this service")
	}
	if cfg.AdminToken == "" {
		svc.Log.WarnContext(ctx, "ADMIN_TOKEN is not set: the admin API and console refuse every request")
	}
	p, err := newParts(svc, cfg)
	if err != nil {
		return err
	}
	hub := app.NewHub()
	public, err := newPublicAPI(svc, cfg, p, hub)
	if err != nil {
		return err
	}
	adminAPI, err := admin.New(admin.Config{
		Failures: p.adminFailures, ClientAddress: p.clients.Of,
		Token: cfg.AdminToken, Admin: p.admin,
		VerifyBookingID: p.bookings.Verify, MaxBodyBytes: cfg.MaxBodyBytes, Logger: svc.Log,
	})
	if err != nil {
		return err
	}
	// The pages call the same use cases as the JSON API, never the API.
	pages, err := site.New(site.Config{
		Catalogue: p.catalogue, Bookings: p.bookings, Placer: p.bookings, VerifyBookingID: p.bookings.Verify,
		RetryAfter: retryAfter(cfg), MaxBodyBytes: cfg.MaxBodyBytes, TraceURL: p.traces.SearchURL, Logger: svc.Log,
	})
	if err != nil {
		return err
	}
	mux := svc.Mux()
	public.Register(mux)
	adminAPI.Register(mux)
	if internal := svc.InternalMux(); internal != nil {
		adminAPI.RegisterInternal(internal)
	} else {
		svc.Log.InfoContext(ctx, "fault control is off: it is served on the internal listener only, and INTERNAL_ADDR is not set")
	}
	pages.Register(mux)
	apidoc.Register(mux)
	if err := useHTTP(svc, cfg, p.clients, pages); err != nil {
		return err
	}
	// Event streams never end on their own: end them when shutdown starts,
	// or the server would wait for them until its timeout.
	svc.RegisterOnShutdown(hub.Close)
	// Fetch the catalogue now rather than on the first booking: a booking
	// service that goes down later then finds it cached. A failure is
	// logged and the next request tries again. The part then waits for the
	// end like the others.
	svc.Go("catalogue prefetch", func(ctx context.Context) error {
		p.catalogue.Get(ctx)
		<-ctx.Done()
		return nil
	})
	return addRelay(svc, hub, p.keys)
}

// parts are the use cases and adapters the APIs and pages share.
type parts struct {
	bookings      *app.Bookings
	keys          *app.TakenKeys
	admin         *app.Admin
	catalogue     *app.CatalogueCache
	traces        *jaegerclient.Client
	clients       ratelimit.ClientAddresses
	adminFailures *ratelimit.Buckets
}

func newParts(svc *servicekit.Service, cfg Config) (p parts, err error) {
	ids, err := domain.NewIssuer(domain.IssuerConfig{Namespace: cfg.BookingIDNamespace, Secret: []byte(cfg.BookingIDSecret)})
	if err != nil {
		return p, err
	}
	client, err := bookingclient.New(bookingclient.Config{BaseURL: cfg.BookingURL, DirectTimeout: cfg.BookingDirectTimeout, Transport: bookingTransport()})
	if err != nil {
		return p, err
	}
	if p.catalogue, err = app.NewCatalogueCache(app.CatalogueConfig{Source: client, TTL: cfg.CatalogueTTL, Logger: svc.Log}); err != nil {
		return p, err
	}
	vouchers, err := voucherclient.New(voucherclient.Config{BaseURL: cfg.VoucherURL, Transport: telemetry.HTTPClient(0).Transport})
	if err != nil {
		return p, err
	}
	commands, err := messaging.CommandBus(svc.Publisher)
	if err != nil {
		return p, err
	}
	p.keys = app.NewTakenKeys(takenKeysRemembered)
	if p.bookings, err = app.NewBookings(app.BookingsConfig{
		Transport: cfg.BookingTransport, IDs: ids, Service: client, Catalogue: p.catalogue, Keys: p.keys,
		Commands: commands, Vouchers: vouchers, Metrics: app.NewMetrics(svc.Metrics), Logger: svc.Log,
	}); err != nil {
		return p, err
	}
	if p.traces, err = jaegerclient.New(jaegerclient.Config{QueryURL: cfg.JaegerQueryURL, UIURL: cfg.JaegerUIURL}); err != nil {
		return p, err
	}
	deadLetters, err := deadlettersclient.New(deadlettersclient.Config{
		BaseURL: cfg.DeadlettersURL,
		// A replay waits for the broker's confirm in the deadletters service.
		Client: telemetry.HTTPClient(cfg.PublishTimeout + 25*time.Second),
	})
	if err != nil {
		return p, err
	}
	p.admin = app.NewAdmin(svc.Events, deadLetters, p.traces, svc.Log)
	proxies, _ := ratelimit.ParsePrefixes(cfg.TrustedProxies) // checked by Validate
	p.clients = ratelimit.ClientAddresses{TrustedProxies: proxies, Header: cfg.ClientAddressHeader}
	p.adminFailures, err = ratelimit.NewBuckets(float64(cfg.AdminMaxFailures)/cfg.AdminFailureWindow.Seconds(), cfg.AdminMaxFailures, cfg.RateLimitMaxClients)
	return p, err
}

func newPublicAPI(svc *servicekit.Service, cfg Config, p parts, hub *app.Hub) (*api.API, error) {
	return api.New(api.Config{
		Bookings: p.bookings, Hub: hub,
		RetryAfter: retryAfter(cfg), MaxBodyBytes: cfg.MaxBodyBytes,
		Heartbeat: cfg.SSEHeartbeat, Logger: svc.Log,
		Streams:        app.NewStreams(app.StreamLimits{Max: cfg.SSEMaxStreams, MaxPerClient: cfg.SSEMaxStreamsPerClient}),
		ClientAddress:  p.clients.Of,
		StreamLifetime: cfg.SSEMaxLifetime,
	})
}

func retryAfter(cfg Config) time.Duration { return time.Duration(cfg.BookingRetryAfter) * time.Second }

// useHTTP adds the public middleware: security headers, the rate limit and
// cross-origin protection. Cross-site form posts and API calls are refused:
// a browser says where a request comes from (Sec-Fetch-Site, Origin).
// Clients that say nothing (curl, the load generator, other services) are
// not browsers acting for a visitor, and pass.
func useHTTP(svc *servicekit.Service, cfg Config, clients ratelimit.ClientAddresses, pages *site.Site) error {
	crossOrigin := http.NewCrossOriginProtection()
	crossOrigin.SetDenyHandler(http.HandlerFunc(pages.CrossOriginDenied))
	for _, o := range cfg.TrustedOrigins {
		if err := crossOrigin.AddTrustedOrigin(o); err != nil {
			return fmt.Errorf("TRUSTED_ORIGINS: %w", err)
		}
	}
	exempt, _ := ratelimit.ParsePrefixes(cfg.RateLimitExempt) // checked by Validate
	limiter, err := ratelimit.New(ratelimit.Config{
		RPS: cfg.RateLimitRPS, Burst: cfg.RateLimitBurst, MaxClients: cfg.RateLimitMaxClients,
		Exempt: exempt, Clients: clients, LoadTestToken: cfg.LoadTestToken,
		Paths: []string{"/api/hotels", "/api/bookings", "/bookings", "/hotels"},
	})
	if err != nil {
		return err
	}
	svc.UseHTTP(site.SecurityHeaders, limiter.Middleware, crossOrigin.Handler)
	return nil
}

// bookingTransport is the transport to the booking service: traced, with
// enough idle connections kept for a web tier whose every request may call it.
func bookingTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return otelhttp.NewTransport(t)
}

// addRelay consumes the notifications fanout through this replica's own
// queue and passes every BookingStatusChanged to the hub.
//
// It stays a raw handler rather than a cqrs event handler: a message that
// is not a BookingStatusChanged is counted and dropped, never
// dead-lettered (every replica would dead-letter its own copy, and a replay
// could not reach a queue that is gone with its replica), whereas the cqrs
// processor refuses it as permanent, which dead-letters it. It is added to
// the router directly, not with HandleMessages: that would probe the
// replica's exclusive queue from the publishing connection for the backlog
// metric, which the broker refuses.
func addRelay(svc *servicekit.Service, hub *app.Hub, keys *app.TakenKeys) error {
	replica := "web." + hostname() + "." + randomSuffix()
	sub, err := svc.ReplicaSubscriber(replica, 64) // relaying is quick: let the broker push ahead
	if err != nil {
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
	svc.Metrics.MustRegister(consumed, malformed)
	relay := ports.RelayHandler(ports.RelayConfig{Hub: hub, Keys: keys, Logger: svc.Log, Malformed: malformed.Inc})
	svc.Router.AddHandler(messaging.Handler{
		Name: RelayHandlerName, Topic: messaging.NotificationsExchange, Queue: messaging.NotificationsExchange + "." + replica,
		Subscriber: sub, Policy: policy,
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
