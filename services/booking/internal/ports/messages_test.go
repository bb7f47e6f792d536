package ports_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/services/booking/internal/ports"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newMessage(t *testing.T, payload contracts.Contract) *message.Message {
	t.Helper()
	msg, err := contracts.NewMessage(context.Background(), payload, bookingID)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

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
	if err := m.BookRoom(newMessage(t, cmd)); err != nil {
		t.Fatal(err)
	}
	if len(f.booked) != 1 || f.booked[0].BookingID != bookingID || f.booked[0].CheckOut != "2031-03-12" || f.booked[0].Guests != 2 {
		t.Fatalf("the use case got %+v", f.booked)
	}
	if len(got) != 1 || got[0] != (settled{contracts.StatusRejected, contracts.ReasonSoldOut, true}) {
		t.Fatalf("settled %+v", got)
	}
}

func TestBookRoomHandler_MapsErrorsToPermanentOrTransient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		msg       func(t *testing.T) *message.Message
		appErr    error
		wantErr   bool
		permanent bool
		calls     int
	}{
		{"valid", func(t *testing.T) *message.Message { return newMessage(t, contracts.BookRoom{BookingID: bookingID}) }, nil, false, false, 1},
		{"bad JSON", func(t *testing.T) *message.Message {
			msg := newMessage(t, contracts.BookRoom{BookingID: bookingID})
			msg.Payload = []byte("{not json")
			return msg
		}, nil, true, true, 0},
		{"another message", func(t *testing.T) *message.Message {
			return newMessage(t, contracts.VoucherCreated{BookingID: bookingID})
		}, nil, true, true, 0},
		{"database down", func(t *testing.T) *message.Message { return newMessage(t, contracts.BookRoom{BookingID: bookingID}) },
			errors.New("connection refused"), true, false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeApp{err: c.appErr}
			settledCalls := 0
			m := &ports.Messages{App: f, Log: quiet, Settled: func(string, string, bool) { settledCalls++ }}
			err := m.BookRoom(c.msg(t))
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
		name   string
		handle func(*ports.Messages) func(*message.Message) error
		event  contracts.Contract
		task   string
		state  string
	}{
		{"voucher created", func(m *ports.Messages) func(*message.Message) error { return m.VoucherCreated },
			contracts.VoucherCreated{BookingID: bookingID}, contracts.TaskVoucher, contracts.TaskDone},
		{"email sent", func(m *ports.Messages) func(*message.Message) error { return m.ConfirmationEmailSent },
			contracts.ConfirmationEmailSent{BookingID: bookingID}, contracts.TaskEmail, contracts.TaskDone},
		{"customer notified", func(m *ports.Messages) func(*message.Message) error { return m.CustomerNotified },
			contracts.CustomerNotified{BookingID: bookingID}, contracts.TaskNotification, contracts.TaskDone},
		{"email failed", func(m *ports.Messages) func(*message.Message) error { return m.TaskFailed },
			contracts.TaskFailed{BookingID: bookingID, Task: contracts.TaskEmail}, contracts.TaskEmail, contracts.TaskFailedState},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeApp{}
			if err := c.handle(&ports.Messages{App: f, Log: quiet})(newMessage(t, c.event)); err != nil {
				t.Fatal(err)
			}
			want := []taskCall{{bookingID, c.task, c.state}}
			if len(f.recorded) != 1 || f.recorded[0] != want[0] {
				t.Fatalf("recorded %+v, want %+v", f.recorded, want)
			}

			// Undecodable: permanent, nothing recorded.
			f = &fakeApp{}
			msg := newMessage(t, c.event)
			msg.Payload = []byte("[]")
			if err := c.handle(&ports.Messages{App: f, Log: quiet})(msg); !messaging.IsPermanent(err) || len(f.recorded) != 0 {
				t.Fatalf("bad payload: err %v, recorded %+v", err, f.recorded)
			}

			// A booking not stored yet: transient, so that it is retried.
			f = &fakeApp{err: app.ErrNotFound}
			if err := c.handle(&ports.Messages{App: f, Log: quiet})(newMessage(t, c.event)); err == nil || messaging.IsPermanent(err) {
				t.Fatalf("booking not stored yet: err %v, want a transient error", err)
			}
		})
	}
}
