package app

import (
	"context"
	"fmt"

	"github.com/staybook/staybook/services/voucher/internal/domain"
)

// Vouchers serves stored vouchers.
type Vouchers struct {
	store VoucherStore
}

// NewVouchers builds the query on store.
func NewVouchers(store VoucherStore) *Vouchers {
	if store == nil {
		panic("app: Vouchers needs a store")
	}
	return &Vouchers{store: store}
}

// PDF returns the voucher of bookingID. An ID that is not a booking ID is
// domain.ErrNotFound too: no voucher can exist for it.
func (q *Vouchers) PDF(ctx context.Context, bookingID string) (domain.Record, error) {
	id, err := domain.ParseBookingID(bookingID)
	if err != nil {
		return domain.Record{}, fmt.Errorf("voucher %q: %w", bookingID, domain.ErrNotFound)
	}
	return q.store.Get(ctx, id)
}
