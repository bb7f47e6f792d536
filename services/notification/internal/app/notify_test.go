package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/notification/internal/adapters"
	"github.com/staybook/staybook/services/notification/internal/app"
	"github.com/staybook/staybook/services/notification/internal/domain"
)

type pushed struct {
	topic string
	push  domain.Push
}

type fakePusher struct {
	mu   sync.Mutex
	sent []pushed
	err  error
}

func (f *fakePusher) Push(_ context.Context, topic string, p domain.Push) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, pushed{topic, p})
	return nil
}

type fakeWebhooks struct {
	mu    sync.Mutex
	calls map[string]int
	fail  map[string]error
}

func (f *fakeWebhooks) Send(_ context.Context, url string, _ domain.WebhookEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[url]++
	return f.fail[url]
}

type fakeEvents struct {
	mu       sync.Mutex
	notified []contracts.CustomerNotified
	failed   []contracts.TaskFailed
}

func (f *fakeEvents) Publish(_ context.Context, event any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch e := event.(type) {
	case contracts.CustomerNotified:
		f.notified = append(f.notified, e)
	case contracts.TaskFailed:
		f.failed = append(f.failed, e)
	default:
		return fmt.Errorf("unexpected event %T", event)
	}
	return nil
}

var topics = domain.TopicScheme{Prefix: "staybook-", Secret: []byte("unit-test-secret-0123")}

func confirmed() domain.Notification {
	return domain.BookingConfirmed(contracts.BookingConfirmed{
		BookingID: "b1", HotelName: "Hotel Adlon", CheckIn: "2026-03-02", CheckOut: "2026-03-05", Nights: 3,
		GuestEmail: "ann@example.org", ConfirmedAt: time.Now(),
	})
}

func TestNotify_BothChannelsOffStillAnnouncesWithNoChannels(t *testing.T) {
	t.Parallel()
	events := &fakeEvents{}
	n, err := app.New(app.Config{Events: events, Sent: adapters.NewRecentDeliveries(10)})
	if err != nil {
		t.Fatal(err)
	}
	done, err := n.NotifyAndAnnounce(context.Background(), confirmed())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(done)
	var decoded map[string]any
	json.Unmarshal(body, &decoded)
	if ch, ok := decoded["channels"].([]any); !ok || len(ch) != 0 {
		t.Fatalf("channels = %v, want []", decoded["channels"])
	}
	if len(events.notified) != 1 || events.notified[0].BookingID != "b1" || events.notified[0].Event != "BookingConfirmed" {
		t.Fatalf("announced %+v", events.notified)
	}
}

// Only the booking's own notification is its task: the voucher push is
// sent, and announced to nobody.
func TestNotifyAndAnnounce_AnnouncesOnlyTheNotificationThatIsTheTask(t *testing.T) {
	t.Parallel()
	p, events := &fakePusher{}, &fakeEvents{}
	n, err := app.New(app.Config{Pusher: p, Topics: topics, Events: events, Sent: adapters.NewRecentDeliveries(10)})
	if err != nil {
		t.Fatal(err)
	}
	emailSent := domain.ConfirmationEmailSent(contracts.ConfirmationEmailSent{BookingID: "b1", GuestEmail: "ann@example.org"})
	if _, err := n.NotifyAndAnnounce(context.Background(), emailSent); err != nil {
		t.Fatal(err)
	}
	if len(p.sent) != 1 || len(events.notified) != 0 {
		t.Fatalf("the voucher push: %d pushes, announced %+v; want 1 push and nothing announced", len(p.sent), events.notified)
	}
	if _, err := n.NotifyAndAnnounce(context.Background(), confirmed()); err != nil {
		t.Fatal(err)
	}
	if len(p.sent) != 2 || len(events.notified) != 1 || events.notified[0].Event != "BookingConfirmed" {
		t.Fatalf("the confirmation: %d pushes, announced %+v; want 2 pushes and BookingConfirmed announced", len(p.sent), events.notified)
	}
}

func TestNotify_PushesToTheGuestTopicWithAClickLink(t *testing.T) {
	t.Parallel()
	p := &fakePusher{}
	n, err := app.New(app.Config{Pusher: p, Topics: topics, ClickBaseURL: "http://localhost:8080/", Events: &fakeEvents{}, Sent: adapters.NewRecentDeliveries(10)})
	if err != nil {
		t.Fatal(err)
	}
	done, err := n.Notify(context.Background(), confirmed())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.sent) != 1 || p.sent[0].topic != topics.Topic("ann@example.org") || p.sent[0].push.Click != "http://localhost:8080/bookings/b1" {
		t.Fatalf("pushed %+v", p.sent)
	}
	if len(done.Channels) != 1 || done.Channels[0] != domain.ChannelPush {
		t.Fatalf("channels %v", done.Channels)
	}
}

func TestNotify_RetryRepeatsOnlyTheDeliveriesThatFailed(t *testing.T) {
	t.Parallel()
	p := &fakePusher{}
	hooks := &fakeWebhooks{calls: map[string]int{}, fail: map[string]error{"http://b": errors.New("b is down")}}
	n, err := app.New(app.Config{
		Pusher: p, Topics: topics, Webhooks: hooks, WebhookURLs: []string{"http://a", "http://b"},
		Events: &fakeEvents{}, Sent: adapters.NewRecentDeliveries(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), confirmed()); err == nil {
		t.Fatal("a failing webhook is a success")
	}
	hooks.mu.Lock()
	delete(hooks.fail, "http://b")
	hooks.mu.Unlock()
	done, err := n.Notify(context.Background(), confirmed())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.sent) != 1 || hooks.calls["http://a"] != 1 || hooks.calls["http://b"] != 2 {
		t.Fatalf("pushes %d, webhook calls %v", len(p.sent), hooks.calls)
	}
	if len(done.Channels) != 2 {
		t.Fatalf("channels %v", done.Channels)
	}
}

func TestReportGivenUp_PublishesTaskFailedOnlyForTheNotificationTask(t *testing.T) {
	t.Parallel()
	events := &fakeEvents{}
	n, err := app.New(app.Config{Events: events, Sent: adapters.NewRecentDeliveries(10)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.ReportGivenUp(context.Background(), confirmed(), errors.New("ntfy answered 500")); err != nil {
		t.Fatal(err)
	}
	emailSent := domain.ConfirmationEmailSent(contracts.ConfirmationEmailSent{BookingID: "b1"})
	if err := n.ReportGivenUp(context.Background(), emailSent, errors.New("x")); err != nil {
		t.Fatal(err)
	}
	if len(events.failed) != 1 || events.failed[0].Task != contracts.TaskNotification || events.failed[0].BookingID != "b1" {
		t.Fatalf("task failures %+v", events.failed)
	}
}
