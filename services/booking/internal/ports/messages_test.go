package ports_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/services/booking/internal/ports"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type settled struct {
	status, reason string
	created        bool
}

func TestBookRoomHandler_SettlesTheCommandAndReportsTheOutcome(t *testing.T) {
	t.Parallel()
	f := &fakeApp{created: true, bookings: map[string]domain.Booking{
		bookingID: {ID: bookingID, Status: contracts.StatusRejected, Reason: contracts.ReasonSoldOut},
	}}
	var got []settled
	m := &ports.Messages{App: f, Log: quiet, Settled: func(status, reason string, created bool) {
		got = append(got, settled{status, reason, created})
	}}
	cmd := contracts.BookRoom{BookingID: bookingID, HotelID: "lisbon", RoomType: "double", CheckIn: "2031-03-10", CheckOut: "2031-03-12", Guests: 2}
	h := m.BookRoomHandler()
	if h.HandlerName() != "book_room" {
		t.Fatalf("handler name %q", h.HandlerName())
	}
	if err := h.Handle(context.Background(), &cmd); err != nil {
		t.Fatal(err)
	}
	if len(f.booked) != 1 || f.booked[0].BookingID != bookingID || f.booked[0].CheckOut != "2031-03-12" || f.booked[0].Guests != 2 {
		t.Fatalf("the use case got %+v", f.booked)
	}
	if len(got) != 1 || got[0] != (settled{contracts.StatusRejected, contracts.ReasonSoldOut, true}) {
		t.Fatalf("settled %+v", got)
	}
}

// Undecodable messages never reach the handler: the cqrs processor refuses
// them as malformed (shared/servicekit's tests dead-letter them at once).
func TestBookRoomHandler_ReturnsTheUseCasesErrorAsTransient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		appErr    error
		wantErr   bool
		permanent bool
		calls     int
	}{
		{"valid", nil, false, false, 1},
		{"database down", errors.New("connection refused"), true, false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeApp{err: c.appErr}
			settledCalls := 0
			m := &ports.Messages{App: f, Log: quiet, Settled: func(string, string, bool) { settledCalls++ }}
			err := m.BookRoomHandler().Handle(context.Background(), &contracts.BookRoom{BookingID: bookingID})
			if (err != nil) != c.wantErr || messaging.IsPermanent(err) != c.permanent {
				t.Fatalf("err = %v (permanent %v); want error %v, permanent %v", err, messaging.IsPermanent(err), c.wantErr, c.permanent)
			}
			if len(f.booked) != c.calls {
				t.Fatalf("the use case was called %d times, want %d", len(f.booked), c.calls)
			}
			if c.wantErr && settledCalls != 0 {
				t.Fatal("a command not settled was reported settled")
			}
		})
	}
}

func TestTaskEventHandlers_RecordTheirTask(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		handler string
		event   contracts.Contract
		task    string
		state   string
	}{
		{"voucher created", "record_voucher_created", &contracts.VoucherCreated{BookingID: bookingID}, contracts.TaskVoucher, contracts.TaskDone},
		{"email sent", "record_email_sent", &contracts.ConfirmationEmailSent{BookingID: bookingID}, contracts.TaskEmail, contracts.TaskDone},
		{"customer notified", "record_customer_notified", &contracts.CustomerNotified{BookingID: bookingID}, contracts.TaskNotification, contracts.TaskDone},
		{"email failed", "record_task_failed", &contracts.TaskFailed{BookingID: bookingID, Task: contracts.TaskEmail}, contracts.TaskEmail, contracts.TaskFailedState},
	}
	// handle runs the handler called name on event.
	handle := func(t *testing.T, m *ports.Messages, name string, event contracts.Contract) error {
		t.Helper()
		for _, h := range m.TaskHandlers() {
			if h.HandlerName() == name {
				if got, want := (contracts.Marshaler{}).Name(h.NewEvent()), event.SchemaName(); got != want {
					t.Fatalf("%s handles %s, want %s", name, got, want)
				}
				return h.Handle(context.Background(), event)
			}
		}
		t.Fatalf("no handler %s", name)
		return nil
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeApp{}
			if err := handle(t, &ports.Messages{App: f, Log: quiet}, c.handler, c.event); err != nil {
				t.Fatal(err)
			}
			want := []taskCall{{bookingID, c.task, c.state}}
			if len(f.recorded) != 1 || f.recorded[0] != want[0] {
				t.Fatalf("recorded %+v, want %+v", f.recorded, want)
			}

			// A booking not stored yet: transient, so that it is retried.
			f = &fakeApp{err: app.ErrNotFound}
			if err := handle(t, &ports.Messages{App: f, Log: quiet}, c.handler, c.event); err == nil || messaging.IsPermanent(err) {
				t.Fatalf("booking not stored yet: err %v, want a transient error", err)
			}
		})
	}
}
