package app

import "github.com/staybook/staybook/services/web/internal/domain"

// Error codes of the public API besides httpx's (invalid_field, malformed_json,
// body_too_large, unsupported_media_type).
const (
	CodeNotFound              = "not_found"
	CodeUnknownHotel          = domain.ProblemUnknownHotel
	CodeUnknownRoomType       = domain.ProblemUnknownRoomType
	CodeInvalidIdempotencyKey = domain.ProblemInvalidIdempotencyKey
	CodeIdempotencyKeyReused  = "idempotency_key_reused"
	CodeUnavailable           = "unavailable"
	CodeCatalogueUnavailable  = "catalogue_unavailable"
	CodeBookingUnavailable    = "booking_unavailable"
	CodeVoucherUnavailable    = "voucher_unavailable"
	CodeTooManyStreams        = "too_many_streams"
)
