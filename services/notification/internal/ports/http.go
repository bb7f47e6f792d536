package ports

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/messaging"

	"github.com/staybook/staybook/services/notification/internal/domain"
)

const maxBodyBytes = 64 << 10

// DirectNotifier is the use case the HTTP API calls.
type DirectNotifier interface {
	Notify(ctx context.Context, n domain.Notification) (contracts.CustomerNotified, error)
	// Topic is the guest's ntfy topic, and whether the push channel is on.
	Topic(email string) (string, bool)
}

// HTTPConfig configures the HTTP API.
type HTTPConfig struct {
	App    DirectNotifier
	Logger *slog.Logger
	// NtfyPublicURL is the ntfy server as guests reach it (for subscribe URLs).
	NtfyPublicURL string
}

// RegisterHTTP adds the service's HTTP API to mux:
//
//	POST /internal/notifications  direct mode: notify now, answer the CustomerNotified body
//	POST /internal/push-topics    the ntfy topic of a guest's email address
func RegisterHTTP(mux httpx.Router, cfg HTTPConfig) {
	if cfg.App == nil {
		panic("ports: HTTPConfig.App is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &httpAPI{cfg: cfg}
	mux.HandleFunc("POST /internal/notifications", h.notify)
	mux.HandleFunc("POST /internal/push-topics", h.pushTopic)
}

// NewHTTPHandler is the HTTP API on a mux of its own, with panic recovery.
func NewHTTPHandler(cfg HTTPConfig) http.Handler {
	mux := http.NewServeMux()
	RegisterHTTP(mux, cfg)
	return httpx.Recover(slog.Default())(mux)
}

type httpAPI struct{ cfg HTTPConfig }

// DirectRequest is the body of POST /internal/notifications.
type DirectRequest struct {
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
}

// notify is direct mode: the booking service calls it in its request instead
// of this service consuming the event. It pushes and calls the webhooks but
// publishes nothing: in direct mode the caller records the outcome from the
// answer (and the broker is not part of that design).
func (h *httpAPI) notify(w http.ResponseWriter, r *http.Request) {
	var req DirectRequest
	if err := httpx.DecodeJSON(w, r, &req, maxBodyBytes); err != nil {
		httpx.WriteRequestError(w, err)
		return
	}
	n, err := DecodeDirect(req)
	if err != nil {
		httpx.WriteRequestError(w, err)
		return
	}
	ctx := logging.WithAttrs(r.Context(), slog.String("booking_id", n.BookingID))
	done, err := h.cfg.App.Notify(ctx, n)
	if err != nil {
		h.cfg.Logger.WarnContext(ctx, "direct notification failed", "event", n.Event, "err", err)
		code, msg := "notify_failed", "a notification channel failed; retry later"
		if messaging.IsPermanent(err) {
			code, msg = "notify_refused", "a notification channel refused the message"
		}
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusServiceUnavailable, code, msg)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, done)
}

// DecodeDirect turns a direct-mode request into a notification; the errors
// are 422s that name the field.
func DecodeDirect(req DirectRequest) (domain.Notification, error) {
	switch req.Event {
	case domain.EventBookingConfirmed:
		return decodePayload(req.Payload, domain.BookingConfirmed)
	case domain.EventBookingRejected:
		return decodePayload(req.Payload, domain.BookingRejected)
	case domain.EventConfirmationEmailSent:
		return decodePayload(req.Payload, domain.ConfirmationEmailSent)
	case "":
		return domain.Notification{}, httpx.FieldError("event", "event is required")
	default:
		return domain.Notification{}, httpx.FieldError("event", `event must be "BookingConfirmed", "BookingRejected" or "ConfirmationEmailSent"`)
	}
}

func decodePayload[T contracts.Contract](raw json.RawMessage, build func(T) domain.Notification) (domain.Notification, error) {
	var zero T
	if len(raw) == 0 || string(raw) == "null" {
		return domain.Notification{}, httpx.FieldError("payload", "payload is required")
	}
	var e T
	if err := json.Unmarshal(raw, &e); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return domain.Notification{}, httpx.FieldError("payload."+ute.Field, "payload."+ute.Field+" must be a "+ute.Type.String())
		}
		return domain.Notification{}, httpx.FieldError("payload", "payload is not a "+zero.SchemaName()+" event")
	}
	if v, ok := any(&e).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return domain.Notification{}, httpx.FieldError("payload.booking_id", err.Error())
		}
	}
	return build(e), nil
}

// PushTopicRequest is the body of POST /internal/push-topics. The address is
// in the body, not the URL, so that it stays out of access logs.
type PushTopicRequest struct {
	GuestEmail string `json:"guest_email"`
}

// PushTopic tells a guest where to subscribe.
type PushTopic struct {
	Topic        string `json:"topic"`
	SubscribeURL string `json:"subscribe_url"`
}

// pushTopic lets the web tier or the email service show a guest their topic
// (on the booking page, in the confirmation email) without sharing the secret.
func (h *httpAPI) pushTopic(w http.ResponseWriter, r *http.Request) {
	var req PushTopicRequest
	if err := httpx.DecodeJSON(w, r, &req, maxBodyBytes); err != nil {
		httpx.WriteRequestError(w, err)
		return
	}
	if !strings.Contains(req.GuestEmail, "@") {
		httpx.WriteRequestError(w, httpx.FieldError("guest_email", "guest_email must be an email address"))
		return
	}
	topic, on := h.cfg.App.Topic(req.GuestEmail)
	if !on {
		httpx.WriteError(w, http.StatusNotFound, "push_off", "push notifications are off (NTFY_URL is not set)")
		return
	}
	httpx.WriteJSON(w, http.StatusOK, PushTopic{
		Topic:        topic,
		SubscribeURL: strings.TrimRight(h.cfg.NtfyPublicURL, "/") + "/" + topic,
	})
}
