package ports_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"

	"github.com/staybook/staybook/services/email/internal/domain"
	"github.com/staybook/staybook/services/email/internal/ports"
)

type fakeSender struct {
	err  error
	seen []contracts.VoucherCreated
}

func (f *fakeSender) Send(_ context.Context, v contracts.VoucherCreated) (contracts.ConfirmationEmailSent, error) {
	f.seen = append(f.seen, v)
	return contracts.ConfirmationEmailSent{BookingID: v.BookingID}, f.err
}

func (f *fakeSender) SendAndAnnounce(ctx context.Context, v contracts.VoucherCreated) (contracts.ConfirmationEmailSent, error) {
	return f.Send(ctx, v)
}

func TestVoucherCreatedHandler_MapsErrorsToPermanentOrTransient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		ucErr     error
		wantErr   bool
		permanent bool
	}{
		{"sent", nil, false, false},
		{"invalid booking id", fmt.Errorf("b-1: %w", domain.ErrInvalidBooking), true, true},
		{"invalid address", fmt.Errorf("x: %w", domain.ErrInvalidRecipient), true, true},
		{"recipient refused for good", fmt.Errorf("550: %w", domain.ErrRecipientRejected), true, true},
		{"smtp down", errors.New("connection refused"), true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			uc := &fakeSender{err: c.ucErr}
			h := ports.NewVoucherCreatedHandler(uc)
			if h.HandlerName() != ports.HandlerName {
				t.Fatalf("handler name %q", h.HandlerName())
			}
			err := h.Handle(context.Background(), &contracts.VoucherCreated{BookingID: "b-1"})
			if (err != nil) != c.wantErr || messaging.IsPermanent(err) != c.permanent {
				t.Fatalf("err = %v (permanent %v); want error %v, permanent %v", err, messaging.IsPermanent(err), c.wantErr, c.permanent)
			}
			if len(uc.seen) != 1 || uc.seen[0].BookingID != "b-1" {
				t.Fatalf("use case saw %+v", uc.seen)
			}
		})
	}
}
