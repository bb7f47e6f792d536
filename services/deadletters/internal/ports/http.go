package ports

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/staybook/staybook/services/deadletters/internal/app"
	"github.com/staybook/staybook/services/deadletters/internal/domain"
	"github.com/staybook/staybook/shared/httpx"
)

// Admin serves the dead-letter admin API. The web tier proxies
// /api/admin/dead-letters... to these same paths.
type Admin struct {
	App *app.Letters
	Log *slog.Logger
	// Token is ADMIN_TOKEN; empty refuses every request.
	Token string
}

// Register adds the routes to mux, each behind the bearer token.
func (h *Admin) Register(mux httpx.Router) {
	auth := RequireToken(h.Token)
	mux.Handle("GET /api/admin/dead-letters", auth(http.HandlerFunc(h.list)))
	mux.Handle("GET /api/admin/dead-letters/{id}", auth(http.HandlerFunc(h.show)))
	mux.Handle("POST /api/admin/dead-letters/{id}/replay", auth(http.HandlerFunc(h.replay)))
	mux.Handle("DELETE /api/admin/dead-letters/{id}", auth(http.HandlerFunc(h.purge)))
}

// ErrAdminDisabled is the answer to every admin request when no token is configured.
const ErrAdminDisabled = "admin API disabled: ADMIN_TOKEN not set"

// RequireToken lets a request through only with "Authorization: Bearer
// <token>". The comparison takes constant time (over SHA-256 digests, so not
// even the token's length leaks). With no token configured the API is off:
// 503, rather than open to anyone.
func RequireToken(token string) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			if token == "" {
				httpx.WriteError(w, http.StatusServiceUnavailable, "admin_disabled", ErrAdminDisabled)
				return
			}
			scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			gotSum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="staybook-admin"`)
				httpx.WriteError(w, http.StatusUnauthorized, "unauthorized", "a valid admin token is required (Authorization: Bearer <ADMIN_TOKEN>)")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// LetterJSON is a letter as the API shows it. The payload is its JSON text
// when it is valid JSON (payload_encoding "json"), else base64 ("base64").
type LetterJSON struct {
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	Topic           string            `json:"topic"`
	Queue           string            `json:"queue"`
	Handler         string            `json:"handler"`
	Reason          string            `json:"reason"`
	Attempts        int               `json:"attempts"`
	FirstFailedAt   time.Time         `json:"first_failed_at"`
	LastFailedAt    time.Time         `json:"last_failed_at"`
	CorrelationID   string            `json:"correlation_id"`
	Payload         string            `json:"payload"`
	PayloadEncoding string            `json:"payload_encoding"`
	Metadata        map[string]string `json:"metadata"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
	ReplayedAt      *time.Time        `json:"replayed_at,omitempty"`
	ReplayCount     int               `json:"replay_count"`
	PurgedAt        *time.Time        `json:"purged_at,omitempty"`
}

// Payload encodings.
const (
	EncodingJSON   = "json"
	EncodingBase64 = "base64"
)

func toJSON(l domain.Letter) LetterJSON {
	out := LetterJSON{
		ID: l.ID, Status: l.Status, Topic: l.Topic, Queue: l.Queue, Handler: l.Handler, Reason: l.Reason,
		Attempts: l.Attempts, FirstFailedAt: l.FirstFailedAt.UTC(), LastFailedAt: l.LastFailedAt.UTC(),
		CorrelationID: l.CorrelationID, Metadata: l.Metadata, CreatedAt: l.CreatedAt.UTC(), UpdatedAt: l.UpdatedAt.UTC(),
		ReplayedAt: utc(l.ReplayedAt), ReplayCount: l.ReplayCount, PurgedAt: utc(l.PurgedAt),
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	if len(l.Payload) > 0 && utf8.Valid(l.Payload) && json.Valid(l.Payload) {
		out.Payload, out.PayloadEncoding = string(l.Payload), EncodingJSON
	} else {
		out.Payload, out.PayloadEncoding = base64.StdEncoding.EncodeToString(l.Payload), EncodingBase64
	}
	return out
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// ListJSON is the answer of a listing. NextBefore, set when the page is
// full, is the before= of the next page.
type ListJSON struct {
	DeadLetters []LetterJSON `json:"dead_letters"`
	NextBefore  string       `json:"next_before,omitempty"`
}

// FailureJSON is one failure round.
type FailureJSON struct {
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	FailedAt time.Time `json:"failed_at"`
}

// ReplayJSON is one replay.
type ReplayJSON struct {
	ReplayedAt time.Time `json:"replayed_at"`
	Attempts   int       `json:"attempts"`
	Queue      string    `json:"queue"`
}

// DetailJSON is a letter with its history.
type DetailJSON struct {
	LetterJSON
	History []FailureJSON `json:"history"`
	Replays []ReplayJSON  `json:"replays"`
}

func (h *Admin) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := domain.ListFilter{Status: q.Get("status"), Handler: q.Get("handler"), Reason: q.Get("reason")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			httpx.WriteRequestError(w, httpx.FieldError("limit", "must be a whole number"))
			return
		}
		f.Limit = n
	}
	if s := q.Get("before"); s != "" {
		t, id, err := ParseCursor(s)
		if err != nil {
			httpx.WriteRequestError(w, httpx.FieldError("before", err.Error()))
			return
		}
		f.Before, f.BeforeID = t, id
	}
	letters, err := h.App.List(r.Context(), f)
	var fe *domain.FilterError
	if errors.As(err, &fe) {
		httpx.WriteRequestError(w, httpx.FieldError(fe.Field, fe.Message))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := ListJSON{DeadLetters: make([]LetterJSON, len(letters))}
	for i, l := range letters {
		out.DeadLetters[i] = toJSON(l)
	}
	if f.Validate() == nil && len(letters) == f.Limit {
		last := letters[len(letters)-1]
		out.NextBefore = Cursor(last.LastFailedAt, last.ID)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// Cursor is a listing position: a letter's last failure time and its ID
// (which breaks ties between letters that failed at the same instant).
func Cursor(t time.Time, id string) string {
	return t.UTC().Format(time.RFC3339Nano) + "," + id
}

// ParseCursor reads before=: a Cursor, or a bare RFC 3339 time.
func ParseCursor(s string) (time.Time, string, error) {
	ts, id, _ := strings.Cut(s, ",")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", errors.New("must be an RFC 3339 time, or the next_before of a previous page")
	}
	return t, id, nil
}

func (h *Admin) show(w http.ResponseWriter, r *http.Request) {
	d, err := h.App.Show(r.Context(), r.PathValue("id"))
	if err != nil {
		h.answerError(w, r, d.Letter, err, http.StatusGone)
		return
	}
	out := DetailJSON{LetterJSON: toJSON(d.Letter), History: make([]FailureJSON, len(d.History)), Replays: make([]ReplayJSON, len(d.Replays))}
	for i, f := range d.History {
		out.History[i] = FailureJSON{Attempts: f.Attempts, Reason: f.Reason, FailedAt: f.FailedAt.UTC()}
	}
	for i, p := range d.Replays {
		out.Replays[i] = ReplayJSON{ReplayedAt: p.ReplayedAt.UTC(), Attempts: p.Attempts, Queue: p.Queue}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *Admin) replay(w http.ResponseWriter, r *http.Request) {
	l, err := h.App.Replay(r.Context(), r.PathValue("id"))
	if err != nil {
		h.answerError(w, r, l, err, http.StatusConflict)
		return
	}
	h.Log.InfoContext(r.Context(), "dead letter replayed", "letter_id", l.ID, "queue", l.Queue, "replay_count", l.ReplayCount)
	httpx.WriteJSON(w, http.StatusOK, toJSON(l))
}

func (h *Admin) purge(w http.ResponseWriter, r *http.Request) {
	l, err := h.App.Purge(r.Context(), r.PathValue("id"))
	if err != nil {
		h.answerError(w, r, l, err, http.StatusGone)
		return
	}
	h.Log.InfoContext(r.Context(), "dead letter purged", "letter_id", l.ID, "queue", l.Queue, "failed_handler", l.Handler)
	w.WriteHeader(http.StatusNoContent)
}

// answerError maps a use case's error to its answer; purgedStatus is what a
// purged letter gets (410 to show or purge it, 409 to replay it).
func (h *Admin) answerError(w http.ResponseWriter, r *http.Request, l domain.Letter, err error, purgedStatus int) {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no dead letter "+r.PathValue("id"))
	case errors.Is(err, domain.ErrPurged):
		msg := "dead letter " + r.PathValue("id") + " was purged"
		if l.PurgedAt != nil {
			msg += " at " + l.PurgedAt.UTC().Format(time.RFC3339)
		}
		httpx.WriteError(w, purgedStatus, "purged", msg)
	case errors.Is(err, domain.ErrAlreadyReplayed):
		httpx.WriteError(w, http.StatusConflict, "already_replayed", "dead letter was already replayed; it comes back here if it fails again")
	case errors.Is(err, domain.ErrNoQueue):
		httpx.WriteError(w, http.StatusConflict, "no_queue", err.Error())
	case errors.Is(err, domain.ErrQueueMissing):
		httpx.WriteError(w, http.StatusConflict, "queue_missing", err.Error())
	case errors.Is(err, app.ErrRepublish):
		h.Log.ErrorContext(r.Context(), "replay not published", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, "broker_unavailable", "the broker did not confirm the replayed message; nothing changed, try again")
	default:
		h.fail(w, r, err)
	}
}

func (h *Admin) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.Log.ErrorContext(r.Context(), "admin request failed", "path", r.URL.Path, "err", err)
	httpx.WriteError(w, http.StatusInternalServerError, "internal", "internal error")
}
