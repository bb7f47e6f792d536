package ports

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/email/internal/domain"
)

// EmailReader reads the sent-email log.
type EmailReader interface {
	Get(ctx context.Context, bookingID string) (domain.Email, error)
}

// HTTPConfig configures the internal API.
type HTTPConfig struct {
	UseCase ConfirmationSender
	Emails  EmailReader
	Logger  *slog.Logger
}

// HTTP serves the internal API (docs/internal-api.md, "email").
type HTTP struct {
	uc     ConfirmationSender
	emails EmailReader
	log    *slog.Logger
}

// NewHTTP builds the internal API.
func NewHTTP(cfg HTTPConfig) *HTTP {
	if cfg.UseCase == nil || cfg.Emails == nil {
		panic("ports: nil use case or email reader")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &HTTP{uc: cfg.UseCase, emails: cfg.Emails, log: cfg.Logger}
}

// Register adds the routes to mux.
func (h *HTTP) Register(mux httpx.Router) {
	mux.HandleFunc("POST /internal/emails", h.sendEmail)
	mux.HandleFunc("GET /internal/emails/{booking_id}", h.getEmail)
}

// maxEventBytes bounds a VoucherCreated body.
const maxEventBytes = 64 << 10

// sendEmail is the direct mode: the booking service sends the
// VoucherCreated event it would otherwise have received through the broker
// and waits for the email. It answers 201 with ConfirmationEmailSent, the
// same for a booking whose email was sent before. It publishes nothing: in
// direct mode the caller tells the others.
func (h *HTTP) sendEmail(w http.ResponseWriter, r *http.Request) {
	var voucher contracts.VoucherCreated
	if err := httpx.DecodeJSON(w, r, &voucher, maxEventBytes); err != nil {
		httpx.WriteRequestError(w, err)
		return
	}
	if voucher.BookingID == "" {
		httpx.WriteRequestError(w, httpx.FieldError("booking_id", "booking_id is required"))
		return
	}
	sent, err := h.uc.Send(r.Context(), voucher)
	switch {
	case err == nil:
		httpx.WriteJSON(w, http.StatusCreated, sent)
	case errors.Is(err, domain.ErrInvalidBooking):
		httpx.WriteRequestError(w, httpx.FieldError("booking_id", "booking_id must be letters, digits, '.', '_' or '-'"))
	case errors.Is(err, domain.ErrInvalidRecipient):
		httpx.WriteRequestError(w, httpx.FieldError("guest_email", "guest_email is not an email address"))
	case errors.Is(err, domain.ErrRecipientRejected):
		httpx.WriteRequestError(w, &httpx.RequestError{Status: http.StatusUnprocessableEntity,
			Code: "recipient_rejected", Field: "guest_email", Message: "the mail server refused the guest's address"})
	default:
		h.log.WarnContext(r.Context(), "direct-mode email not sent", "booking_id", voucher.BookingID, "err", err)
		// A voucher not stored yet, the SMTP server or the database down:
		// worth retrying, with the same body (the send is idempotent).
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the email could not be sent now; retry later")
	}
}

// emailBody is GET /internal/emails/{booking_id}'s answer.
type emailBody struct {
	BookingID     string     `json:"booking_id"`
	MessageID     string     `json:"message_id"`
	Recipient     string     `json:"recipient"`
	RecipientName string     `json:"recipient_name"`
	Subject       string     `json:"subject"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	SentAt        *time.Time `json:"sent_at"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

func (h *HTTP) getEmail(w http.ResponseWriter, r *http.Request) {
	e, err := h.emails.Get(r.Context(), r.PathValue("booking_id"))
	switch {
	case errors.Is(err, domain.ErrEmailNotFound):
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no email for this booking")
		return
	case err != nil:
		h.log.WarnContext(r.Context(), "read email log", "err", err)
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the email log cannot be read now")
		return
	}
	body := emailBody{
		BookingID: e.BookingID, MessageID: e.MessageID, Recipient: e.Recipient, RecipientName: e.RecipientName,
		Subject: e.Subject, Status: string(e.Status), Attempts: e.Attempts, LastError: e.LastError,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
	}
	if e.Sent() {
		body.SentAt = &e.SentAt
	}
	httpx.WriteJSON(w, http.StatusOK, body)
}
