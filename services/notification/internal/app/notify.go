// Package app holds the notification service's use cases: tell the guest
// (ntfy push) and other services (webhooks) about a booking event, announce
// it (CustomerNotified), and report a notification given up on (TaskFailed).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/logging"

	"github.com/staybook/staybook/services/notification/internal/domain"
)

// Pusher sends one push message to an ntfy topic.
type Pusher interface {
	Push(ctx context.Context, topic string, p domain.Push) error
}

// WebhookSender POSTs one event to one webhook URL.
type WebhookSender interface {
	Send(ctx context.Context, url string, e domain.WebhookEvent) error
}

// Events publishes what this service announces (CustomerNotified,
// TaskFailed): a cqrs.EventBus.
type Events interface {
	Publish(ctx context.Context, event any) error
}

// SentLog remembers recent successful deliveries, so that a message
// redelivered to this replica does not push the guest twice.
type SentLog interface {
	// Once runs send unless key is remembered as sent; it remembers key when
	// send succeeds. Concurrent calls with the same key wait for the first
	// and run send themselves only if it failed. skipped reports that send
	// was not run because key had been sent.
	Once(ctx context.Context, key string, send func(ctx context.Context) error) (skipped bool, err error)
}

// Config configures a Notifier. A nil Pusher or an empty WebhookURLs turns
// that channel off.
type Config struct {
	Pusher Pusher
	Topics domain.TopicScheme
	// ClickBaseURL, if set, makes a push open ClickBaseURL/bookings/{id}.
	ClickBaseURL string

	Webhooks    WebhookSender
	WebhookURLs []string

	Events Events
	Sent   SentLog
	Logger *slog.Logger
	Now    func() time.Time
}

// Notifier is the Notify use case.
type Notifier struct{ cfg Config }

// New checks cfg and returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if cfg.Events == nil || cfg.Sent == nil {
		panic("app: Notifier needs Events and Sent")
	}
	if len(cfg.WebhookURLs) > 0 && cfg.Webhooks == nil {
		panic("app: webhook URLs without a WebhookSender")
	}
	if cfg.Pusher != nil {
		if err := cfg.Topics.Validate(); err != nil {
			return nil, err
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.ClickBaseURL = strings.TrimRight(cfg.ClickBaseURL, "/")
	return &Notifier{cfg: cfg}, nil
}

// Topic is the guest's ntfy topic, and whether the push channel is on.
func (s *Notifier) Topic(email string) (string, bool) {
	if s.cfg.Pusher == nil {
		return "", false
	}
	return s.cfg.Topics.Topic(email), true
}

// Notify tells the guest and the webhooks about n, each at most once per
// replica's memory, and returns what to announce. It fails if any channel
// failed (the deliveries that succeeded are remembered, so a retry only
// repeats the others); an error wrapping messaging.ErrPermanent means a
// channel refused the message for good.
func (s *Notifier) Notify(ctx context.Context, n domain.Notification) (contracts.CustomerNotified, error) {
	if n.OccurredAt.IsZero() {
		n.OccurredAt = s.cfg.Now().UTC()
	}
	d := &deliveries{notifier: s, n: n, pushOK: s.cfg.Pusher != nil, webhooksOK: len(s.cfg.WebhookURLs) > 0}
	if s.cfg.Pusher != nil {
		d.push(ctx)
	}
	for _, url := range s.cfg.WebhookURLs {
		body := n.Webhook()
		d.deliver(ctx, domain.ChannelWebhook, domain.ChannelWebhook+" "+url, func(ctx context.Context) error {
			return s.cfg.Webhooks.Send(ctx, url, body)
		}, &d.webhooksOK)
	}
	d.wg.Wait()
	if len(d.errs) > 0 {
		return contracts.CustomerNotified{}, fmt.Errorf("notify %s of %s: %w", n.Event, n.BookingID, errors.Join(d.errs...))
	}

	channels := []string{} // "[]", not null, when both channels are off
	if d.pushOK {
		channels = append(channels, domain.ChannelPush)
	}
	if d.webhooksOK {
		channels = append(channels, domain.ChannelWebhook)
	}
	s.cfg.Logger.InfoContext(ctx, "customer notified", "event", n.Event, "channels", channels,
		"guest_email", logging.MaskEmail(n.GuestEmail), "webhooks", len(s.cfg.WebhookURLs))
	return contracts.CustomerNotified{
		BookingID:  n.BookingID,
		Event:      n.Event,
		Channels:   channels,
		NotifiedAt: s.cfg.Now().UTC(),
	}, nil
}

// deliveries are one notification's sends, on every channel at once.
type deliveries struct {
	notifier           *Notifier
	n                  domain.Notification
	wg                 sync.WaitGroup
	mu                 sync.Mutex
	errs               []error
	pushOK, webhooksOK bool
}

// push sends the guest's push, unless there is no address to derive a topic from.
func (d *deliveries) push(ctx context.Context) {
	s, n := d.notifier, d.n
	if n.GuestEmail == "" {
		// Nothing to derive a topic from: the channel does not apply.
		s.cfg.Logger.WarnContext(ctx, "no guest email: push skipped", "event", n.Event)
		d.pushOK = false
		return
	}
	push := n.Push
	if s.cfg.ClickBaseURL != "" {
		push.Click = s.cfg.ClickBaseURL + "/bookings/" + n.BookingID
	}
	topic := s.cfg.Topics.Topic(n.GuestEmail)
	d.deliver(ctx, domain.ChannelPush, domain.ChannelPush, func(ctx context.Context) error {
		if err := s.cfg.Pusher.Push(ctx, topic, push); err != nil {
			return fmt.Errorf("push to %s: %w", logging.MaskEmail(n.GuestEmail), err)
		}
		return nil
	}, &d.pushOK)
}

// deliver sends to one target (the push topic, one webhook URL) unless
// this replica did already; target is part of the key, never logged.
func (d *deliveries) deliver(ctx context.Context, channel, target string, send func(context.Context) error, ok *bool) {
	d.wg.Go(func() {
		skipped, err := d.notifier.cfg.Sent.Once(ctx, deliveryKey(d.n, target), send)
		d.mu.Lock()
		defer d.mu.Unlock()
		if err != nil {
			*ok = false
			d.errs = append(d.errs, err)
			return
		}
		if skipped {
			d.notifier.cfg.Logger.InfoContext(ctx, "already delivered by this replica; not sent again", "event", d.n.Event, "channel", channel)
		}
	})
}

// NotifyAndAnnounce is Notify followed by publishing CustomerNotified, which
// the booking service takes as "notification task done". Only the
// notification that is the booking's task (ReportsTask: the confirmation or
// the rejection) is announced. The voucher-in-your-inbox push is an extra:
// its CustomerNotified changed nothing in the booking, yet cost a publish, a
// delivery and a booking transaction per booking (issue 13). A failed publish
// fails the call: a retry publishes again without pushing again.
func (s *Notifier) NotifyAndAnnounce(ctx context.Context, n domain.Notification) (contracts.CustomerNotified, error) {
	done, err := s.Notify(ctx, n)
	if err != nil || !n.ReportsTask {
		return done, err
	}
	if err := s.cfg.Events.Publish(ctx, done); err != nil {
		return done, fmt.Errorf("announce %s notification of %s: %w", n.Event, n.BookingID, err)
	}
	return done, nil
}

// ReportGivenUp publishes TaskFailed for a notification that will not be
// retried any more (its message was discarded), when that notification is the
// booking's notification task; otherwise the task would stay pending forever.
func (s *Notifier) ReportGivenUp(ctx context.Context, n domain.Notification, cause error) error {
	if !n.ReportsTask {
		return nil
	}
	reason := "notification discarded after its attempts"
	if cause != nil {
		reason += ": " + cause.Error()
	}
	err := s.cfg.Events.Publish(ctx, contracts.TaskFailed{
		BookingID: n.BookingID,
		Task:      contracts.TaskNotification,
		Reason:    reason,
		FailedAt:  s.cfg.Now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("report failed notification of %s: %w", n.BookingID, err)
	}
	s.cfg.Logger.WarnContext(ctx, "notification task reported failed", "event", n.Event)
	return nil
}

func deliveryKey(n domain.Notification, target string) string {
	return n.BookingID + "|" + n.Event + "|" + target
}
