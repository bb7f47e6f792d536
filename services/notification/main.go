// Command notification tells guests (ntfy push) and other services (webhooks)
// about their bookings, from the booking events on the broker.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/faults"
	"github.com/staybook/staybook/shared/servicekit"
	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/notification/internal/adapters"
	"github.com/staybook/staybook/services/notification/internal/app"
	"github.com/staybook/staybook/services/notification/internal/domain"
	"github.com/staybook/staybook/services/notification/internal/ports"
)

var program = servicekit.Program[Config]{
	Name: Name, Load: LoadConfig, Build: build,
	Options: func(_ Config, opts *servicekit.Options) {
		opts.RouterMiddleware = append(opts.RouterMiddleware, ports.ReportDiscards(opts.Logger))
	},
}

func main() { program.Main() }

// build registers the three event handlers and the HTTP API.
func build(ctx context.Context, svc *servicekit.Service, cfg Config) error {
	notifier, err := newNotifier(svc, cfg)
	if err != nil {
		return err
	}
	var uc useCases = notifier
	if cfg.ExtraLatency > 0 { // the story's "notify other services, about 1 s"
		uc = slowNotifier{useCases: notifier, delay: cfg.ExtraLatency}
	}
	for _, h := range ports.EventHandlers(uc, cfg.policy) {
		how := servicekit.Handling{Policy: cfg.policy(h.HandlerName()), Instances: cfg.Workers}
		if err := svc.HandleEvent(h, how); err != nil {
			return err
		}
	}
	ports.RegisterHTTP(svc.Mux(), ports.HTTPConfig{App: uc, Logger: svc.Log, NtfyPublicURL: cfg.ntfyPublicURL()})
	svc.Log.InfoContext(ctx, "notification service built",
		"push", cfg.NtfyURL != "", "webhooks", len(cfg.webhookURLs()), "workers", cfg.Workers,
		"on_exhausted", cfg.policy(ports.HandlerBookingConfirmed).OnExhausted)
	return nil
}

func newNotifier(svc *servicekit.Service, cfg Config) (*app.Notifier, error) {
	ac := app.Config{
		Topics:       cfg.topics(),
		ClickBaseURL: cfg.NtfyClickBaseURL,
		WebhookURLs:  cfg.webhookURLs(),
		Events:       svc.Events,
		Sent:         adapters.NewRecentDeliveries(cfg.RecentCapacity),
		Logger:       svc.Log,
	}
	if cfg.NtfyURL != "" {
		ntfy, err := adapters.NewNtfy(adapters.NtfyConfig{URL: cfg.NtfyURL, Token: cfg.NtfyToken, Timeout: cfg.NtfyTimeout, Client: telemetry.HTTPClient(0)})
		if err != nil {
			return nil, err
		}
		ac.Pusher = ntfy
	}
	if len(ac.WebhookURLs) > 0 {
		ac.Webhooks = adapters.NewWebhooks(adapters.WebhookConfig{Timeout: cfg.WebhookTimeout, Client: telemetry.HTTPClient(0)})
	}
	return app.New(ac)
}

// useCases is what the ports call: the broker's handlers and the HTTP API.
type useCases interface {
	ports.Notifier
	ports.DirectNotifier
}

// slowNotifier is the demo's slow notification (NOTIFICATION_EXTRA_LATENCY):
// every notification waits before it goes out, on the broker and in
// direct mode alike.
type slowNotifier struct {
	useCases
	delay time.Duration
}

func (s slowNotifier) Notify(ctx context.Context, n domain.Notification) (contracts.CustomerNotified, error) {
	if err := faults.Delay(ctx, s.delay); err != nil {
		return contracts.CustomerNotified{}, fmt.Errorf("notify %s of %s: %w", n.Event, n.BookingID, err)
	}
	return s.useCases.Notify(ctx, n)
}

func (s slowNotifier) NotifyAndAnnounce(ctx context.Context, n domain.Notification) (contracts.CustomerNotified, error) {
	if err := faults.Delay(ctx, s.delay); err != nil {
		return contracts.CustomerNotified{}, fmt.Errorf("notify %s of %s: %w", n.Event, n.BookingID, err)
	}
	return s.useCases.NotifyAndAnnounce(ctx, n)
}
