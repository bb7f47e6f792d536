package app

// Error codes of the public API besides httpx's (invalid_field, malformed_json,
// body_too_large, unsupported_media_type).
const (
	CodeNotFound              = "not_found"
	CodeUnknownHotel          = "unknown_hotel"
	CodeUnknownRoomType       = "unknown_room_type"
	CodeInvalidIdempotencyKey = "invalid_idempotency_key"
	CodeIdempotencyKeyReused  = "idempotency_key_reused"
	CodeUnavailable           = "unavailable"
	CodeCatalogueUnavailable  = "catalogue_unavailable"
	CodeBookingUnavailable    = "booking_unavailable"
	CodeVoucherUnavailable    = "voucher_unavailable"
	CodeTooManyStreams        = "too_many_streams"
)
