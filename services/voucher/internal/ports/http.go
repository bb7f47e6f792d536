package ports

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/staybook/staybook/services/voucher/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/logging"
)

// maxBookingBody bounds POST /internal/vouchers: a BookingConfirmed is a
// few hundred bytes.
const maxBookingBody = 64 << 10

// VoucherSource serves stored vouchers.
type VoucherSource interface {
	PDF(ctx context.Context, bookingID string) (domain.Record, error)
}

// HTTPConfig configures the HTTP API.
type HTTPConfig struct {
	Vouchers VoucherSource
	Creator  VoucherCreator
	Logger   *slog.Logger
}

// RegisterHTTP adds the voucher service's HTTP API (docs/internal-api.md) to mux:
//
//	GET  /internal/vouchers/{booking_id}.pdf  a stored voucher
//	POST /internal/vouchers                   direct mode: create it now
func RegisterHTTP(mux httpx.Router, cfg HTTPConfig) {
	if cfg.Vouchers == nil || cfg.Creator == nil {
		panic("ports: HTTP API needs vouchers and a creator")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &httpAPI{cfg: cfg}
	mux.HandleFunc("GET /internal/vouchers/{file}", h.getVoucher)
	mux.HandleFunc("POST /internal/vouchers", h.createVoucher)
}

// NewHTTPHandler is the HTTP API on a mux of its own, with panic recovery.
func NewHTTPHandler(cfg HTTPConfig) http.Handler {
	mux := http.NewServeMux()
	RegisterHTTP(mux, cfg)
	return httpx.Recover(slog.Default())(mux)
}

type httpAPI struct{ cfg HTTPConfig }

// getVoucher serves GET /internal/vouchers/{booking_id}.pdf.
func (h *httpAPI) getVoucher(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".pdf")
	if !ok {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no such voucher")
		return
	}
	rec, err := h.cfg.Vouchers.PDF(r.Context(), id)
	if errors.Is(err, domain.ErrNotFound) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no voucher for this booking")
		return
	}
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "read voucher", "booking_id", id, "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "voucher store unavailable")
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="staybook-voucher-`+rec.BookingID+`.pdf"`)
	w.Header().Set("ETag", `"`+hex.EncodeToString(rec.SHA256)+`"`)
	w.Header().Set("Cache-Control", "private, max-age=86400") // a stored voucher never changes
	// ServeContent answers If-None-Match, If-Modified-Since and ranges.
	http.ServeContent(w, r, "", rec.CreatedAt, bytes.NewReader(rec.PDF))
}

// createVoucher serves POST /internal/vouchers, the direct mode: the body is
// a BookingConfirmed; the answer is 201 with the VoucherCreated body, also
// when the voucher existed already (the call is idempotent).
func (h *httpAPI) createVoucher(w http.ResponseWriter, r *http.Request) {
	var ev contracts.BookingConfirmed
	if err := httpx.DecodeJSON(w, r, &ev, maxBookingBody); err != nil {
		httpx.WriteRequestError(w, err)
		return
	}
	ctx := logging.WithAttrs(r.Context(), slog.String("booking_id", ev.BookingID))
	created, _, err := h.cfg.Creator.Create(ctx, ev)
	var ve *domain.ValidationError
	switch {
	case errors.As(err, &ve):
		httpx.WriteRequestError(w, httpx.FieldError(ve.Field, ve.Message))
	case err != nil:
		h.cfg.Logger.ErrorContext(ctx, "create voucher (direct)", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "voucher could not be created; retry")
	default:
		httpx.WriteJSON(w, http.StatusCreated, created)
	}
}
