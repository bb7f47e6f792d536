package app

import (
	"context"
	"fmt"
	"time"

	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
)

// BookRoomDirect is the "without a message queue" design of the story: book,
// then create the voucher, send the email and notify, all in the caller's
// request, and answer only when everything is done. It exists so the load
// test can compare it with the queue; nothing else uses it. The booking is
// announced by BookingStatusChanged only: without BookingConfirmed or
// BookingRejected in the outbox, no service starts the tasks this request
// runs itself.
//
// Once the booking is stored, the chain runs on a context the caller's
// cannot cancel (bounded by chainTimeout): a client that gives up must not
// leave a confirmed booking with its tasks pending for ever, since in this
// design no event will ever finish them. A step that fails marks its task
// and the ones after it failed.
func (s *Bookings) BookRoomDirect(ctx context.Context, cmd contracts.BookRoom, down Downstream, chainTimeout time.Duration) (domain.Booking, bool, error) {
	b, created, err := s.book(ctx, cmd, s.statusOnly)
	if err != nil {
		return b, false, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), chainTimeout)
	defer cancel()
	b, err = s.runDirectChain(ctx, b, down)
	return b, created, err
}

func (s *Bookings) runDirectChain(ctx context.Context, b domain.Booking, down Downstream) (domain.Booking, error) {
	now := time.Now().UTC()
	if b.Status == contracts.StatusRejected {
		if b.Tasks.Notification != contracts.TaskDone {
			if _, err := down.Notify(ctx, "BookingRejected", b.Rejected(now)); err != nil {
				return s.failFrom(ctx, b, contracts.TaskNotification, fmt.Errorf("notify: %w", err))
			}
			nb, _, err := s.RecordTask(ctx, b.ID, contracts.TaskNotification, contracts.TaskDone)
			return nb, err
		}
		return b, nil
	}
	_, hotels, err := s.Catalogue(ctx)
	if err != nil {
		return b, err
	}
	hotel := hotels[b.HotelID]
	rt, _ := hotel.RoomType(b.RoomType)
	stay, _ := domain.ParseStay(b.CheckIn, b.CheckOut)
	confirmed := b.Confirmed(domain.Decision{Hotel: hotel, RoomType: rt, Stay: stay})

	voucher, err := down.CreateVoucher(ctx, confirmed)
	if err != nil {
		return s.failFrom(ctx, b, contracts.TaskVoucher, fmt.Errorf("create voucher: %w", err))
	}
	if b, _, err = s.RecordTask(ctx, b.ID, contracts.TaskVoucher, contracts.TaskDone); err != nil {
		return b, err
	}
	if _, err := down.SendEmail(ctx, voucher); err != nil {
		return s.failFrom(ctx, b, contracts.TaskEmail, fmt.Errorf("send email: %w", err))
	}
	if b, _, err = s.RecordTask(ctx, b.ID, contracts.TaskEmail, contracts.TaskDone); err != nil {
		return b, err
	}
	if _, err := down.Notify(ctx, "BookingConfirmed", confirmed); err != nil {
		return s.failFrom(ctx, b, contracts.TaskNotification, fmt.Errorf("notify: %w", err))
	}
	b, _, err = s.RecordTask(ctx, b.ID, contracts.TaskNotification, contracts.TaskDone)
	return b, err
}

// failFrom marks task and the tasks after it in the chain failed, and
// returns cause.
func (s *Bookings) failFrom(ctx context.Context, b domain.Booking, task string, cause error) (domain.Booking, error) {
	order := []string{contracts.TaskVoucher, contracts.TaskEmail, contracts.TaskNotification}
	failing := false
	for _, t := range order {
		failing = failing || t == task
		if !failing {
			continue
		}
		if nb, _, err := s.RecordTask(ctx, b.ID, t, contracts.TaskFailedState); err == nil {
			b = nb
		}
	}
	return b, cause
}
