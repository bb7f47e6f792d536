package app

import (
	"context"
	"errors"
	"io"
)

// Vouchers fetches voucher PDFs from the voucher service (adapters/voucherclient).
type Vouchers interface {
	Voucher(ctx context.Context, bookingID string) (*VoucherPDF, error)
}

// ErrVoucherNotFound: the booking has no voucher (yet).
var ErrVoucherNotFound = errors.New("voucher not found")

// VoucherPDF is an open voucher download; the caller closes it.
type VoucherPDF struct {
	io.ReadCloser
	ContentType   string
	ContentLength int64 // -1 if unknown
}
