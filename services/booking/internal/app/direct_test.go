package app_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/shared/contracts"
)

// fakeDownstream records each call and fails the steps named in fail.
type fakeDownstream struct {
	mu        sync.Mutex
	calls     []string // "voucher", "email", "notify BookingConfirmed", ...
	confirmed []contracts.BookingConfirmed
	rejected  []contracts.BookingRejected
	fail      map[string]bool
	ctxErrs   []error // the context's state at each call
}

func (d *fakeDownstream) record(ctx context.Context, call string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, call)
	d.ctxErrs = append(d.ctxErrs, ctx.Err())
	if d.fail[call] {
		return errors.New(call + " unavailable")
	}
	return nil
}

func (d *fakeDownstream) CreateVoucher(ctx context.Context, ev contracts.BookingConfirmed) (contracts.VoucherCreated, error) {
	d.mu.Lock()
	d.confirmed = append(d.confirmed, ev)
	d.mu.Unlock()
	return contracts.VoucherCreated{BookingID: ev.BookingID, GuestEmail: ev.GuestEmail}, d.record(ctx, "voucher")
}

func (d *fakeDownstream) SendEmail(ctx context.Context, ev contracts.VoucherCreated) (contracts.ConfirmationEmailSent, error) {
	return contracts.ConfirmationEmailSent{BookingID: ev.BookingID}, d.record(ctx, "email")
}

func (d *fakeDownstream) Notify(ctx context.Context, event string, payload any) (contracts.CustomerNotified, error) {
	d.mu.Lock()
	if r, ok := payload.(contracts.BookingRejected); ok {
		d.rejected = append(d.rejected, r)
	}
	d.mu.Unlock()
	return contracts.CustomerNotified{}, d.record(ctx, "notify "+event)
}

func TestBookRoomDirect_ConfirmedRunsVoucherEmailNotifyInOrder(t *testing.T) {
	repo, down := newRepo(), &fakeDownstream{}
	s := app.New(repo, app.Config{})
	b, created, err := s.BookRoomDirect(context.Background(), command("b1"), down, time.Minute)
	if err != nil || !created || b.Status != contracts.StatusConfirmed {
		t.Fatalf("%+v %v %v", b, created, err)
	}
	if want := []string{"voucher", "email", "notify BookingConfirmed"}; !slices.Equal(down.calls, want) {
		t.Fatalf("calls %v, want %v", down.calls, want)
	}
	if b.Tasks != (contracts.Tasks{Voucher: "done", Email: "done", Notification: "done"}) || b.Version != 4 {
		t.Fatalf("returned %+v", b)
	}
	if ev := down.confirmed[0]; ev.BookingID != "b1" || ev.HotelName != "Lisbon Inn" || ev.RoomTypeName != "Double room" ||
		ev.Nights != 3 || ev.TotalPrice.Amount != 30000 || ev.GuestEmail != "ada@example.com" {
		t.Fatalf("BookingConfirmed sent to the voucher service: %+v", ev)
	}
	// Only the status feed hears of the booking: BookingConfirmed in the
	// outbox would start the voucher, email and notification services too.
	out := repo.Outbox()
	if got := names(out); !equal(got, []string{"BookingStatusChanged", "BookingStatusChanged", "BookingStatusChanged", "BookingStatusChanged"}) {
		t.Fatalf("outbox %v", got)
	}
	if last := out[3].(contracts.BookingStatusChanged); last.Version != 4 || last.Tasks != b.Tasks {
		t.Fatalf("last status %+v", last)
	}
}

func TestBookRoomDirect_AFailedStepFailsItsTaskAndTheRest(t *testing.T) {
	cases := []struct {
		fail  string
		calls []string
		tasks contracts.Tasks
	}{
		{"voucher", []string{"voucher"}, contracts.Tasks{Voucher: "failed", Email: "failed", Notification: "failed"}},
		{"email", []string{"voucher", "email"}, contracts.Tasks{Voucher: "done", Email: "failed", Notification: "failed"}},
		{"notify BookingConfirmed", []string{"voucher", "email", "notify BookingConfirmed"}, contracts.Tasks{Voucher: "done", Email: "done", Notification: "failed"}},
	}
	for _, c := range cases {
		t.Run(c.fail, func(t *testing.T) {
			repo, down := newRepo(), &fakeDownstream{fail: map[string]bool{c.fail: true}}
			s := app.New(repo, app.Config{})
			b, created, err := s.BookRoomDirect(context.Background(), command("b1"), down, time.Minute)
			if err == nil || !created {
				t.Fatalf("created %v, err %v: the caller must hear of the failure", created, err)
			}
			if !slices.Equal(down.calls, c.calls) {
				t.Fatalf("calls %v, want %v", down.calls, c.calls)
			}
			stored, _ := repo.Get(context.Background(), "b1")
			if b.Tasks != c.tasks || stored.Tasks != c.tasks {
				t.Fatalf("returned %+v, stored %+v, want %+v", b.Tasks, stored.Tasks, c.tasks)
			}
		})
	}
}

func TestBookRoomDirect_RejectedOnlyNotifiesTheRejection(t *testing.T) {
	repo, down := newRepo(), &fakeDownstream{}
	s := app.New(repo, app.Config{})
	cmd := command("b1")
	cmd.RoomType = "broom-cupboard"
	b, created, err := s.BookRoomDirect(context.Background(), cmd, down, time.Minute)
	if err != nil || !created || b.Status != contracts.StatusRejected {
		t.Fatalf("%+v %v %v", b, created, err)
	}
	if want := []string{"notify BookingRejected"}; !slices.Equal(down.calls, want) {
		t.Fatalf("calls %v, want %v", down.calls, want)
	}
	if r := down.rejected[0]; r.BookingID != "b1" || r.Reason != contracts.ReasonUnknownRoomType || r.GuestEmail != "ada@example.com" || r.RejectedAt.IsZero() {
		t.Fatalf("BookingRejected %+v", r)
	}
	if b.Tasks != (contracts.Tasks{Voucher: "skipped", Email: "skipped", Notification: "done"}) {
		t.Fatalf("tasks %+v", b.Tasks)
	}
	if got := names(repo.Outbox()); !equal(got, []string{"BookingStatusChanged", "BookingStatusChanged"}) {
		t.Fatalf("outbox %v: BookingRejected would make the notification service notify it again", got)
	}

	// The client retries: nothing is sent twice.
	b, created, err = s.BookRoomDirect(context.Background(), cmd, down, time.Minute)
	if err != nil || created || len(down.calls) != 1 || b.Tasks.Notification != "done" {
		t.Fatalf("retry: created %v, err %v, calls %v, %+v", created, err, down.calls, b.Tasks)
	}
}

func TestBookRoomDirect_AFailedRejectionNoticeIsMarkedAndRetried(t *testing.T) {
	repo, down := newRepo(), &fakeDownstream{fail: map[string]bool{"notify BookingRejected": true}}
	s := app.New(repo, app.Config{})
	cmd := command("b1")
	cmd.Guests = 9
	b, _, err := s.BookRoomDirect(context.Background(), cmd, down, time.Minute)
	if err == nil || b.Tasks.Notification != "failed" {
		t.Fatalf("err %v, tasks %+v", err, b.Tasks)
	}
	down.fail = nil
	b, _, err = s.BookRoomDirect(context.Background(), cmd, down, time.Minute)
	if err != nil || b.Tasks.Notification != "done" || len(down.calls) != 2 {
		t.Fatalf("retry: err %v, tasks %+v, calls %v", err, b.Tasks, down.calls)
	}
}

func TestBookRoomDirect_TheChainOutlivesTheCallersContext(t *testing.T) {
	repo, down := newRepo(), &fakeDownstream{}
	s := app.New(repo, app.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	// The caller gives up as soon as the booking is stored.
	repo.AfterCreate = cancel
	b, _, err := s.BookRoomDirect(ctx, command("b1"), down, time.Minute)
	if err != nil || b.Tasks.Notification != "done" {
		t.Fatalf("err %v, tasks %+v", err, b.Tasks)
	}
	for i, e := range down.ctxErrs {
		if e != nil {
			t.Fatalf("call %s ran on a cancelled context: %v", down.calls[i], e)
		}
	}
	// ...but the chain has a deadline of its own (here one already spent).
	down2 := &fakeDownstream{}
	_, _, err = app.New(newRepo(), app.Config{}).BookRoomDirect(context.Background(), command("b2"), down2, -time.Second)
	if len(down2.ctxErrs) == 0 || !errors.Is(down2.ctxErrs[0], context.DeadlineExceeded) {
		t.Fatalf("err %v, contexts %v: the chain timeout was not applied", err, down2.ctxErrs)
	}
}
