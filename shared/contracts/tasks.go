package contracts

import (
	"errors"
	"time"
)

// Background tasks of a booking, as named in task status and TaskFailed.
const (
	TaskVoucher      = "voucher"
	TaskEmail        = "email"
	TaskNotification = "notification"
)

// Task states (docs/architecture.md, "Task status and the live stream").
const (
	TaskPending     = "pending"
	TaskSkipped     = "skipped"
	TaskDone        = "done"
	TaskFailedState = "failed"
)

// Booking states.
const (
	StatusPending   = "pending"
	StatusConfirmed = "confirmed"
	StatusRejected  = "rejected"
)

// VoucherCreated is published by the voucher service once the PDF is stored.
type VoucherCreated struct {
	BookingID  string `json:"booking_id"`
	GuestName  string `json:"guest_name"`
	GuestEmail string `json:"guest_email"`
	HotelName  string `json:"hotel_name"`
	CheckIn    Date   `json:"check_in"`
	CheckOut   Date   `json:"check_out"`
	// VoucherURL is the public path of the PDF (/api/bookings/{id}/voucher.pdf,
	// served by the web tier). Services fetch it from VOUCHER_URL +
	// /internal/vouchers/{id}.pdf instead, never from a URL in a message.
	VoucherURL string    `json:"voucher_url"`
	SizeBytes  int       `json:"size_bytes"`
	CreatedAt  time.Time `json:"created_at"`
}

func (VoucherCreated) SchemaName() string { return "VoucherCreated" }
func (VoucherCreated) SchemaVersion() int { return 1 }

func (e *VoucherCreated) Validate() error { return requireBookingID(e.BookingID) }

// ConfirmationEmailSent is published by the email service once the SMTP server accepted the email.
type ConfirmationEmailSent struct {
	BookingID  string    `json:"booking_id"`
	GuestName  string    `json:"guest_name"`
	GuestEmail string    `json:"guest_email"`
	MessageID  string    `json:"message_id"`
	SentAt     time.Time `json:"sent_at"`
}

func (ConfirmationEmailSent) SchemaName() string { return "ConfirmationEmailSent" }
func (ConfirmationEmailSent) SchemaVersion() int { return 1 }

func (e *ConfirmationEmailSent) Validate() error { return requireBookingID(e.BookingID) }

// CustomerNotified is published by the notification service after it told the
// customer (push) and other services (webhooks) about a booking event.
type CustomerNotified struct {
	BookingID string `json:"booking_id"`
	// Event is the event the notification was about (BookingConfirmed, ...).
	Event      string    `json:"event"`
	Channels   []string  `json:"channels"`
	NotifiedAt time.Time `json:"notified_at"`
}

func (CustomerNotified) SchemaName() string { return "CustomerNotified" }
func (CustomerNotified) SchemaVersion() int { return 1 }

func (e *CustomerNotified) Validate() error { return requireBookingID(e.BookingID) }

// TaskFailed says a booking's background task failed for good (its message
// was dead-lettered or discarded). A successful replay later turns it done.
type TaskFailed struct {
	BookingID string    `json:"booking_id"`
	Task      string    `json:"task"`
	Reason    string    `json:"reason"`
	FailedAt  time.Time `json:"failed_at"`
}

func (TaskFailed) SchemaName() string { return "TaskFailed" }
func (TaskFailed) SchemaVersion() int { return 1 }

func (e *TaskFailed) Validate() error {
	if err := requireBookingID(e.BookingID); err != nil {
		return err
	}
	switch e.Task {
	case TaskVoucher, TaskEmail, TaskNotification:
		return nil
	}
	return errors.New("task " + e.Task + " is unknown")
}

// Tasks is the state of each background task of a booking.
type Tasks struct {
	Voucher      string `json:"voucher"`
	Email        string `json:"email"`
	Notification string `json:"notification"`
}

// BookingStatusChanged is the booking's state after every change, published
// to the notifications fanout for the web tier's live streams. Version grows
// by one with every change, so a client keeps the highest it has seen.
type BookingStatusChanged struct {
	BookingID string    `json:"booking_id"`
	Version   int64     `json:"version"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	Tasks     Tasks     `json:"tasks"`
	ChangedAt time.Time `json:"changed_at"`
	// IdempotencyKeyHash is the SHA-256 of the Idempotency-Key the booking
	// was made with, on the change that stored it (version 1); empty on
	// every later change and for a booking made without a key. Every web
	// replica learns from it which keys are taken (a reused key with
	// another body is a 422 there, without asking the booking service).
	IdempotencyKeyHash string `json:"idempotency_key_hash,omitempty"`
}

func (BookingStatusChanged) SchemaName() string { return "BookingStatusChanged" }
func (BookingStatusChanged) SchemaVersion() int { return 1 }

func (e *BookingStatusChanged) Validate() error { return requireBookingID(e.BookingID) }

func requireBookingID(id string) error {
	if id == "" {
		return errors.New("booking_id is missing")
	}
	return nil
}

// CorrelationID is the booking the message is about (Correlated).
func (e VoucherCreated) CorrelationID() string { return e.BookingID }

// CorrelationID is the booking the message is about (Correlated).
func (e ConfirmationEmailSent) CorrelationID() string { return e.BookingID }

// CorrelationID is the booking the message is about (Correlated).
func (e CustomerNotified) CorrelationID() string { return e.BookingID }

// CorrelationID is the booking the message is about (Correlated).
func (e TaskFailed) CorrelationID() string { return e.BookingID }

// CorrelationID is the booking the message is about (Correlated).
func (e BookingStatusChanged) CorrelationID() string { return e.BookingID }
