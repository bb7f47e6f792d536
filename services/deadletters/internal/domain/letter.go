// Package domain holds what a dead letter is and the rules about it: how a
// letter is read from a dead-lettered message (whatever metadata it has),
// which handler's failure is a booking task's failure, how a letter may
// change state (dead, replayed, purged), and what a replay republishes.
// No I/O.
package domain

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/staybook/staybook/shared/contracts"
)

// Status of a letter.
const (
	StatusDead     = "dead"     // waiting for an operator
	StatusReplayed = "replayed" // republished to its queue; it comes back dead if it fails again
	StatusPurged   = "purged"   // deleted by an operator; kept for audit
)

// Errors of the state rules.
var (
	ErrNotFound        = errors.New("dead letter not found")
	ErrPurged          = errors.New("dead letter was purged")
	ErrAlreadyReplayed = errors.New("dead letter was already replayed")
	// ErrNoQueue: the letter does not say which queue it came from, so it
	// cannot be replayed (it was not dead-lettered by a Staybook router).
	ErrNoQueue = errors.New("dead letter has no queue to replay to")
	// ErrQueueMissing: the letter's queue does not exist (any more), so a
	// replay would vanish in the broker's default exchange.
	ErrQueueMissing = errors.New("the dead letter's queue does not exist")
)

// Letter is a message that failed for good, as stored.
type Letter struct {
	ID     string // the message UUID
	Status string
	// Topic is the message's schema name (metadata "name").
	Topic   string
	Queue   string // dl_queue: where a replay goes
	Handler string // dl_handler
	Reason  string // dl_reason of the latest failure
	// Attempts is dl_attempts: calls of the handler, cumulative across replays.
	Attempts      int
	FirstFailedAt time.Time
	LastFailedAt  time.Time
	CorrelationID string // the booking ID
	Payload       []byte
	// Metadata is the message's metadata as received (original keys and dl_*).
	Metadata    map[string]string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ReplayedAt  *time.Time
	ReplayCount int
	PurgedAt    *time.Time
}

// Failure is one failure round of a letter: the first dead-lettering, or a
// replay that failed again.
type Failure struct {
	Attempts int // cumulative attempts at the end of the round
	Reason   string
	FailedAt time.Time
}

// Replay is one replay of a letter.
type Replay struct {
	ReplayedAt time.Time
	Attempts   int    // the letter's attempts when it was replayed
	Queue      string // where it went
}

// Failure is the letter's latest failure round.
func (l Letter) Failure() Failure {
	return Failure{Attempts: l.Attempts, Reason: l.Reason, FailedAt: l.LastFailedAt}
}

// Outcome is what storing a received letter did.
type Outcome string

const (
	// OutcomeNew: a message never dead-lettered before.
	OutcomeNew Outcome = "new"
	// OutcomeFailedAgain: a known letter (a replay) failed again.
	OutcomeFailedAgain Outcome = "failed_again"
	// OutcomeDuplicate: a failure round already stored, delivered again
	// (RabbitMQ delivers at least once); nothing changed.
	OutcomeDuplicate Outcome = "duplicate"
)

// Metadata keys RabbitMQ or the subscriber add on the way, which describe a
// delivery rather than the message.
const (
	redeliveredKey       = "_watermill_amqp_redelivered"
	xDeathKey            = "x-death"
	xFirstDeathQueueKey  = "x-first-death-queue"
	xFirstDeathReasonKey = "x-first-death-reason"
)

// maxIDLength bounds a message UUID used as a letter ID; a longer (or empty,
// or binary) one is replaced by a derived ID.
const maxIDLength = 128

// idNamespace derives IDs for messages without a usable UUID.
var idNamespace = uuid.MustParse("5f0e4c1e-8f3a-4d0b-9d5e-2b8e4a7c6d10")

// Received reads a letter from a message taken off dead_letters, at receivedAt.
// It never fails: a letter with missing or garbled metadata is kept with
// what it has, because a letter must never be lost. Metadata values are
// made storable (valid UTF-8, no NUL), the payload is kept byte for byte.
//
// A letter from a Staybook router has dl_* metadata. One dead-lettered by
// RabbitMQ itself (a quorum queue's delivery limit, a reject) has only
// x-death headers: its queue and reason come from those, its handler is
// unknown, and each such dead-lettering counts as one more attempt.
func Received(msgUUID string, payload []byte, metadata map[string]string, receivedAt time.Time) Letter {
	md := make(map[string]string, len(metadata))
	for k, v := range metadata {
		if k == redeliveredKey {
			continue // our own subscriber's flag, not the message's
		}
		md[storable(k)] = storable(v)
	}
	receivedAt = receivedAt.UTC()
	l := Letter{
		ID:            letterID(msgUUID, payload, md),
		Status:        StatusDead,
		Topic:         md[contracts.SchemaNameKey],
		Queue:         md[contracts.DLQueueKey],
		Handler:       md[contracts.DLHandlerKey],
		Reason:        md[contracts.DLReasonKey],
		CorrelationID: md[contracts.CorrelationIDKey],
		Payload:       payload,
		Metadata:      md,
	}
	if l.Payload == nil {
		l.Payload = []byte{}
	}
	prev, _ := strconv.Atoi(md[contracts.DLAttemptsKey])
	l.Attempts = max(prev, 0)
	l.LastFailedAt = parseTime(md[contracts.DLLastFailedAtKey], receivedAt)
	if l.Handler == "" { // not from a Staybook router
		death := firstDeath(md)
		if l.Queue == "" {
			l.Queue = firstNonEmpty(md[xFirstDeathQueueKey], death.Queue)
		}
		if r := firstNonEmpty(md[xFirstDeathReasonKey], death.Reason); r != "" && l.Reason == "" {
			l.Reason = "dead-lettered by RabbitMQ: " + r
		}
		if l.Reason == "" {
			l.Reason = "unknown: the message carries no dead-letter metadata"
		}
		l.Attempts += max(death.Count, 1)
		if md[contracts.DLLastFailedAtKey] == "" && !death.Time.IsZero() {
			l.LastFailedAt = death.Time.UTC()
		}
	}
	l.FirstFailedAt = parseTime(md[contracts.DLFirstFailedAtKey], l.LastFailedAt)
	if l.FirstFailedAt.After(l.LastFailedAt) {
		l.FirstFailedAt = l.LastFailedAt
	}
	// PostgreSQL keeps microseconds: what is announced (TaskFailed) and
	// what is stored are then the same instant.
	l.FirstFailedAt = l.FirstFailedAt.Truncate(time.Microsecond)
	l.LastFailedAt = l.LastFailedAt.Truncate(time.Microsecond)
	return l
}

// letterID is the message UUID, or, when the message has none usable (a
// raw publish), a UUID derived from its payload and metadata, so that the
// same dead letter delivered twice still gets one ID.
func letterID(msgUUID string, payload []byte, md map[string]string) string {
	if msgUUID != "" && len(msgUUID) <= maxIDLength && msgUUID == storable(msgUUID) && !strings.ContainsAny(msgUUID, "/?#% \t\r\n") {
		return msgUUID
	}
	h := sha256.New()
	h.Write(payload)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "\x00%s\x00%s", k, md[k])
	}
	return uuid.NewSHA1(idNamespace, h.Sum(nil)).String()
}

type death struct {
	Queue  string    `json:"queue"`
	Reason string    `json:"reason"`
	Count  int       `json:"count"`
	Time   time.Time `json:"time"`
}

// firstDeath reads the most recent entry of the x-death header (which the
// shared marshaler turned into JSON).
func firstDeath(md map[string]string) death {
	var deaths []death
	if err := json.Unmarshal([]byte(md[xDeathKey]), &deaths); err != nil || len(deaths) == 0 {
		return death{}
	}
	return deaths[0]
}

func parseTime(s string, def time.Time) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return def
	}
	return t.UTC()
}

// storable makes s acceptable to PostgreSQL text and jsonb: valid UTF-8 and no NUL.
func storable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// taskOfHandler is which booking task each handler performs.
var taskOfHandler = map[string]string{
	"create_voucher":           contracts.TaskVoucher,
	"send_confirmation_email":  contracts.TaskEmail,
	"notify_booking_confirmed": contracts.TaskNotification,
	"notify_booking_rejected":  contracts.TaskNotification,
	"notify_email_sent":        contracts.TaskNotification,
}

// TaskOf returns the booking task that handler performs, if any. The
// booking service's own handlers (book_room, record_*) and unknown ones
// perform none: their failure is no task's failure.
func TaskOf(handler string) (string, bool) {
	task, ok := taskOfHandler[handler]
	return task, ok
}

// TaskFailed is the event that announces this letter's latest failure as
// its booking's task failure; ok is false when the handler is no task's or
// the letter names no booking.
func (l Letter) TaskFailed() (contracts.TaskFailed, bool) {
	task, ok := TaskOf(l.Handler)
	if !ok || l.CorrelationID == "" {
		return contracts.TaskFailed{}, false
	}
	return contracts.TaskFailed{BookingID: l.CorrelationID, Task: task, Reason: l.Reason, FailedAt: l.LastFailedAt}, true
}

// FailedAgain applies a new failure round of a known letter (received
// again after a replay): it is dead again, with the round's attempts,
// reason, time, queue, handler and metadata.
func (l *Letter) FailedAgain(round Letter, now time.Time) {
	l.Status = StatusDead
	l.Attempts = round.Attempts
	l.Reason = round.Reason
	l.LastFailedAt = round.LastFailedAt
	if round.Queue != "" {
		l.Queue = round.Queue
	}
	if round.Handler != "" {
		l.Handler = round.Handler
	}
	l.Metadata = round.Metadata
	l.UpdatedAt = now
}

// Replay marks the letter replayed at now, if its state allows: a dead
// letter with a queue. A replayed letter is not replayed twice (it is on its
// way; if it fails again it comes back dead and can be replayed then).
func (l *Letter) Replay(now time.Time) error {
	switch {
	case l.Status == StatusPurged:
		return ErrPurged
	case l.Status == StatusReplayed:
		return ErrAlreadyReplayed
	case l.Queue == "":
		return ErrNoQueue
	}
	l.Status = StatusReplayed
	l.ReplayedAt = &now
	l.ReplayCount++
	l.UpdatedAt = now
	return nil
}

// Purge marks the letter purged at now: it leaves every listing, and only
// its record stays.
func (l *Letter) Purge(now time.Time) error {
	if l.Status == StatusPurged {
		return ErrPurged
	}
	l.Status = StatusPurged
	l.PurgedAt = &now
	l.UpdatedAt = now
	return nil
}

// deliveryKeys describe one dead-lettering, not the message; a replay drops
// them so that the next failure sets its own.
var deliveryKeys = []string{
	contracts.DLQueueKey, contracts.DLHandlerKey, contracts.DLReasonKey,
	contracts.DLLastFailedAtKey, contracts.DLPermanentKey, redeliveredKey,
}

// ReplayMetadata is the metadata a replay republishes: the original
// message's (trace context, correlation ID, schema name and version, ...),
// with dl_attempts and dl_first_failed_at, so that the router adds the next
// round's attempts to these and keeps the first failure's time; without
// what describes the last dead-lettering (dl_reason, dl_handler, ...) or
// RabbitMQ's x- headers.
func (l Letter) ReplayMetadata() map[string]string {
	out := make(map[string]string, len(l.Metadata))
	for k, v := range l.Metadata {
		if slices.Contains(deliveryKeys, k) || strings.HasPrefix(k, "x-") {
			continue
		}
		out[k] = v
	}
	out[contracts.DLAttemptsKey] = strconv.Itoa(l.Attempts)
	out[contracts.DLFirstFailedAtKey] = l.FirstFailedAt.UTC().Format(time.RFC3339Nano)
	return out
}

// ListFilter selects letters to list, newest (last failed) first.
type ListFilter struct {
	Status  string // dead or replayed; "" for both
	Handler string // exact
	Reason  string // substring, case-insensitive
	Limit   int
	// Before, if set, lists only letters that failed last before it (a
	// page's cursor, with BeforeID breaking ties at the same instant).
	Before   time.Time
	BeforeID string
}

// Limits of a listing.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// FilterError names the field of a ListFilter that is wrong.
type FilterError struct{ Field, Message string }

func (e *FilterError) Error() string { return e.Field + ": " + e.Message }

// Validate checks the filter and fills the default limit.
func (f *ListFilter) Validate() error {
	switch f.Status {
	case "", StatusDead, StatusReplayed:
	default:
		return &FilterError{"status", fmt.Sprintf("%q is not %s or %s", f.Status, StatusDead, StatusReplayed)}
	}
	if f.Limit == 0 {
		f.Limit = DefaultListLimit
	}
	if f.Limit < 1 || f.Limit > MaxListLimit {
		return &FilterError{"limit", fmt.Sprintf("%d is not between 1 and %d", f.Limit, MaxListLimit)}
	}
	return nil
}
