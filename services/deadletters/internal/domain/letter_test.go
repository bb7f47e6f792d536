package domain

import (
	"errors"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"
)

var received = time.Date(2031, 3, 10, 12, 0, 0, 0, time.UTC)

func routerMetadata() map[string]string {
	return map[string]string{
		contracts.SchemaNameKey: "BookingConfirmed", contracts.SchemaVersionKey: "1",
		contracts.CorrelationIDKey: "booking-1", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		contracts.DLQueueKey: "events.BookingConfirmed_voucher", contracts.DLHandlerKey: "create_voucher",
		contracts.DLReasonKey: "pdf renderer down", contracts.DLAttemptsKey: "3", contracts.DLPermanentKey: "false",
		contracts.DLFirstFailedAtKey: "2031-03-10T11:00:00Z", contracts.DLLastFailedAtKey: "2031-03-10T11:00:01.5Z",
		"_watermill_amqp_redelivered": "true",
	}
}

func TestReceived_ReadsARouterDeadLetter(t *testing.T) {
	l := Received("4f1c2a9e-0000-4000-8000-000000000001", []byte(`{"booking_id":"booking-1"}`), routerMetadata(), received)
	want := Letter{
		ID: "4f1c2a9e-0000-4000-8000-000000000001", Status: StatusDead, Topic: "BookingConfirmed",
		Queue: "events.BookingConfirmed_voucher", Handler: "create_voucher", Reason: "pdf renderer down", Attempts: 3,
		FirstFailedAt: time.Date(2031, 3, 10, 11, 0, 0, 0, time.UTC), LastFailedAt: time.Date(2031, 3, 10, 11, 0, 1, 5e8, time.UTC),
		CorrelationID: "booking-1",
	}
	if l.ID != want.ID || l.Status != want.Status || l.Topic != want.Topic || l.Queue != want.Queue || l.Handler != want.Handler ||
		l.Reason != want.Reason || l.Attempts != want.Attempts || !l.FirstFailedAt.Equal(want.FirstFailedAt) ||
		!l.LastFailedAt.Equal(want.LastFailedAt) || l.CorrelationID != want.CorrelationID {
		t.Fatalf("got %+v\nwant %+v", l, want)
	}
	if _, ok := l.Metadata["_watermill_amqp_redelivered"]; ok {
		t.Error("the subscriber's redelivery flag was stored as the message's metadata")
	}
	if l.Metadata["traceparent"] == "" {
		t.Error("original metadata lost")
	}
}

func TestReceived_KeepsALetterWithoutMetadataAndGivesItAStableID(t *testing.T) {
	payload := []byte{0xff, 0x00, 'x'}
	md := map[string]string{"weird\x00key": "bad \xff utf8"}
	a := Received("", payload, md, received)
	b := Received("", payload, md, received.Add(time.Minute))
	if a.ID == "" || a.ID != b.ID {
		t.Fatalf("IDs %q and %q: want one stable derived ID for the same letter", a.ID, b.ID)
	}
	if other := Received("", []byte("other"), md, received); other.ID == a.ID {
		t.Fatal("different letters got the same derived ID")
	}
	if a.Status != StatusDead || a.Queue != "" || a.Handler != "" || a.Attempts != 1 || !a.LastFailedAt.Equal(received) || !a.FirstFailedAt.Equal(received) {
		t.Fatalf("letter %+v", a)
	}
	if a.Reason == "" {
		t.Error("a letter without a reason should say so")
	}
	if string(a.Payload) != string(payload) {
		t.Error("payload not kept byte for byte")
	}
	for k, v := range a.Metadata {
		if k != "weird\uFFFDkey" || v != "bad \uFFFD utf8" {
			t.Errorf("metadata %q=%q not made storable", k, v)
		}
	}
	if bad := Received("has/slash", nil, nil, received); bad.ID == "has/slash" {
		t.Error("an ID unusable in a URL path was kept")
	}
}

func TestReceived_ReadsALetterDeadLetteredByRabbitMQ(t *testing.T) {
	md := map[string]string{
		contracts.SchemaNameKey: "BookingConfirmed", contracts.CorrelationIDKey: "booking-2",
		"x-first-death-queue": "events.BookingConfirmed_voucher", "x-first-death-reason": "delivery_limit",
		"x-death": `[{"count":1,"exchange":"","queue":"events.BookingConfirmed_voucher","reason":"delivery_limit","time":"2031-03-10T11:30:00Z"}]`,
		// a replay carried these on:
		contracts.DLAttemptsKey: "3", contracts.DLFirstFailedAtKey: "2031-03-10T11:00:00Z",
	}
	l := Received("id-2", []byte(`{}`), md, received)
	if l.Queue != "events.BookingConfirmed_voucher" || l.Handler != "" || l.Attempts != 4 ||
		l.Reason != "dead-lettered by RabbitMQ: delivery_limit" ||
		!l.LastFailedAt.Equal(time.Date(2031, 3, 10, 11, 30, 0, 0, time.UTC)) ||
		!l.FirstFailedAt.Equal(time.Date(2031, 3, 10, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("letter %+v", l)
	}
	if _, ok := l.TaskFailed(); ok {
		t.Error("a letter of an unknown handler announced a task failure")
	}
}

func TestTaskOf_MapsTaskHandlersOnly(t *testing.T) {
	cases := map[string]string{
		"create_voucher":           contracts.TaskVoucher,
		"send_confirmation_email":  contracts.TaskEmail,
		"notify_booking_confirmed": contracts.TaskNotification,
		"notify_booking_rejected":  contracts.TaskNotification,
		"notify_email_sent":        contracts.TaskNotification,
		"book_room":                "",
		"record_voucher_created":   "",
		"record_task_failed":       "",
		"":                         "",
		"something_new":            "",
	}
	for handler, want := range cases {
		got, ok := TaskOf(handler)
		if got != want || ok != (want != "") {
			t.Errorf("TaskOf(%q) = %q, %v; want %q", handler, got, ok, want)
		}
	}
}

func TestTaskFailed_NeedsATaskHandlerAndABooking(t *testing.T) {
	l := Received("id", nil, routerMetadata(), received)
	ev, ok := l.TaskFailed()
	if !ok || ev.BookingID != "booking-1" || ev.Task != contracts.TaskVoucher || ev.Reason != "pdf renderer down" || !ev.FailedAt.Equal(l.LastFailedAt) {
		t.Fatalf("%+v %v", ev, ok)
	}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	l.CorrelationID = ""
	if _, ok := l.TaskFailed(); ok {
		t.Error("TaskFailed without a booking ID")
	}
}

func TestReplay_OnlyADeadLetterWithAQueue(t *testing.T) {
	now := received
	l := Received("id", nil, routerMetadata(), received)
	if err := l.Replay(now); err != nil || l.Status != StatusReplayed || l.ReplayCount != 1 || !l.ReplayedAt.Equal(now) {
		t.Fatalf("err %v, letter %+v", err, l)
	}
	if err := l.Replay(now); !errors.Is(err, ErrAlreadyReplayed) {
		t.Fatalf("second replay: %v", err)
	}
	l.FailedAgain(Received("id", nil, map[string]string{contracts.DLHandlerKey: "create_voucher", contracts.DLAttemptsKey: "6", contracts.DLReasonKey: "still down"}, now), now)
	if l.Status != StatusDead || l.Attempts != 6 || l.Reason != "still down" || l.Queue != "events.BookingConfirmed_voucher" {
		t.Fatalf("after failing again: %+v", l)
	}
	if err := l.Replay(now); err != nil || l.ReplayCount != 2 {
		t.Fatalf("replay after failing again: %v, %+v", err, l)
	}
	if err := l.Purge(now); err != nil || l.Status != StatusPurged {
		t.Fatalf("purge: %v", err)
	}
	if err := l.Replay(now); !errors.Is(err, ErrPurged) {
		t.Fatalf("replay purged: %v", err)
	}
	if err := l.Purge(now); !errors.Is(err, ErrPurged) {
		t.Fatalf("purge purged: %v", err)
	}
	noQueue := Received("", []byte("x"), nil, received)
	if err := noQueue.Replay(now); !errors.Is(err, ErrNoQueue) {
		t.Fatalf("replay without queue: %v", err)
	}
}

func TestReplayMetadata_CarriesTheOriginalAndTheCountsOnly(t *testing.T) {
	md := routerMetadata()
	md["x-death"] = "[]"
	l := Received("id", nil, md, received)
	l.Attempts = 3
	got := l.ReplayMetadata()
	for _, k := range []string{contracts.DLQueueKey, contracts.DLHandlerKey, contracts.DLReasonKey, contracts.DLLastFailedAtKey,
		contracts.DLPermanentKey, "x-death", "_watermill_amqp_redelivered"} {
		if _, ok := got[k]; ok {
			t.Errorf("replay carries %s", k)
		}
	}
	want := map[string]string{
		"traceparent": md["traceparent"], contracts.CorrelationIDKey: "booking-1", contracts.SchemaNameKey: "BookingConfirmed",
		contracts.SchemaVersionKey: "1", contracts.DLAttemptsKey: "3", contracts.DLFirstFailedAtKey: "2031-03-10T11:00:00Z",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("replay %s = %q, want %q", k, got[k], v)
		}
	}
	if l.Metadata[contracts.DLQueueKey] == "" {
		t.Error("ReplayMetadata changed the letter's own metadata")
	}
}

func TestListFilter_Validate(t *testing.T) {
	f := ListFilter{}
	if err := f.Validate(); err != nil || f.Limit != DefaultListLimit {
		t.Fatalf("%v %d", err, f.Limit)
	}
	var fe *FilterError
	for _, bad := range []ListFilter{{Status: "purged"}, {Limit: -1}, {Limit: MaxListLimit + 1}} {
		if err := bad.Validate(); !errors.As(err, &fe) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
