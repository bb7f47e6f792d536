package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/deadletters/internal/app"
	"github.com/staybook/staybook/services/deadletters/internal/domain"
)

// saving is a Repository whose Save stores nothing: it hands announce the
// letter as it would be stored (the received one, or stored when set) and
// events, as the postgres adapter does inside its transaction.
type saving struct {
	app.Repository
	stored *domain.Letter
	events *recorder
}

func (r saving) Save(ctx context.Context, l domain.Letter, announce app.Announce) (domain.Outcome, error) {
	if r.stored != nil {
		l = *r.stored
	}
	if err := announce(ctx, l, r.events); err != nil {
		return "", err
	}
	return domain.OutcomeNew, nil
}

// recorder is an Events that records what is published, or fails with err.
type recorder struct {
	published []any
	err       error
}

func (r *recorder) Publish(_ context.Context, event any) error {
	if r.err != nil {
		return r.err
	}
	r.published = append(r.published, event)
	return nil
}

type noRepublish struct{}

func (noRepublish) Republish(context.Context, domain.Letter) error { return nil }

var failedAt = time.Date(2031, 3, 10, 12, 0, 0, 0, time.UTC)

func received(handler, bookingID string) app.Received {
	return app.Received{UUID: "4f0b4f3e-5d0c-4a43-9a47-6b1b3f1c2a10", Payload: []byte(`{}`), Metadata: map[string]string{
		contracts.DLHandlerKey: handler, contracts.DLQueueKey: "events.BookingConfirmed_voucher",
		contracts.DLReasonKey: "pdf renderer unavailable", contracts.DLAttemptsKey: "3",
		contracts.DLLastFailedAtKey: failedAt.Format(time.RFC3339Nano), contracts.CorrelationIDKey: bookingID,
	}}
}

func TestStore_AnnouncesATaskFailureAsStoredOnTheTransactionsEvents(t *testing.T) {
	events := &recorder{}
	letters := app.New(saving{events: events}, noRepublish{}, app.Config{})
	if _, _, err := letters.Store(context.Background(), received("create_voucher", "b-1")); err != nil {
		t.Fatal(err)
	}
	want := contracts.TaskFailed{BookingID: "b-1", Task: contracts.TaskVoucher, Reason: "pdf renderer unavailable", FailedAt: failedAt}
	if len(events.published) != 1 || events.published[0] != want {
		t.Fatalf("published %+v, want %+v", events.published, want)
	}

	// A letter failed again after a replay is announced as the repository
	// stored it (its new round), not as received.
	again := domain.Letter{ID: "l", Handler: "send_confirmation_email", CorrelationID: "b-2", Reason: "smtp down", LastFailedAt: failedAt.Add(time.Hour)}
	events = &recorder{}
	letters = app.New(saving{events: events, stored: &again}, noRepublish{}, app.Config{})
	if _, _, err := letters.Store(context.Background(), received("create_voucher", "b-1")); err != nil {
		t.Fatal(err)
	}
	want = contracts.TaskFailed{BookingID: "b-2", Task: contracts.TaskEmail, Reason: "smtp down", FailedAt: again.LastFailedAt}
	if len(events.published) != 1 || events.published[0] != want {
		t.Fatalf("published %+v, want %+v", events.published, want)
	}
}

func TestStore_AnnouncesNothingForNoTasksFailureOrNoBooking(t *testing.T) {
	for _, r := range []app.Received{received("book_room", "b-1"), received("create_voucher", ""), {UUID: "raw", Payload: []byte("x")}} {
		events := &recorder{}
		letters := app.New(saving{events: events}, noRepublish{}, app.Config{})
		if _, _, err := letters.Store(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if len(events.published) != 0 {
			t.Errorf("letter of %q (booking %q) announced %+v", r.Metadata[contracts.DLHandlerKey], r.Metadata[contracts.CorrelationIDKey], events.published)
		}
	}
}

func TestStore_FailsWhenTheAnnouncementCannotBeWritten(t *testing.T) {
	outboxDown := errors.New("outbox insert failed")
	letters := app.New(saving{events: &recorder{err: outboxDown}}, noRepublish{}, app.Config{})
	if _, _, err := letters.Store(context.Background(), received("create_voucher", "b-1")); !errors.Is(err, outboxDown) {
		t.Fatalf("err %v, want the outbox's (the letter's transaction rolls back, the delivery is retried)", err)
	}
}
