// Package domain holds what the notification service says and to whom: the
// push text for each booking event, the webhook body, and the derivation of a
// guest's ntfy topic. It does no I/O.
package domain

import (
	"fmt"
	"time"

	"github.com/staybook/staybook/shared/contracts"
)

// Channels a notification goes out on, as listed in CustomerNotified.channels.
const (
	ChannelPush    = "push"    // the guest's ntfy topic
	ChannelWebhook = "webhook" // other services' webhook URLs
)

// Events this service notifies about (their contract names).
var (
	EventBookingConfirmed      = contracts.BookingConfirmed{}.SchemaName()
	EventBookingRejected       = contracts.BookingRejected{}.SchemaName()
	EventConfirmationEmailSent = contracts.ConfirmationEmailSent{}.SchemaName()
)

// Notification is what to tell about one booking event.
type Notification struct {
	BookingID string
	Event     string
	// GuestEmail picks the guest's topic; never log it unmasked.
	GuestEmail string
	OccurredAt time.Time
	Push       Push
	// Data is the event as received, forwarded to the webhooks.
	Data any
	// ReportsTask says whether this notification is the booking's
	// "notification" task, so that giving up on it must be reported
	// (TaskFailed), or the task would stay pending forever. The voucher
	// notification is an extra: the task is done by then.
	ReportsTask bool
}

// Push is one ntfy message (https://docs.ntfy.sh/publish/).
type Push struct {
	Title   string
	Message string
	// Tags are ntfy tags; those that name an emoji show as one.
	Tags []string
	// Priority is an ntfy priority: min, low, default, high, max.
	Priority string
	// Click is the page opened when the guest taps the notification (optional).
	Click string
}

// WebhookEvent is the JSON body POSTed to every webhook URL.
type WebhookEvent struct {
	Event      string    `json:"event"`
	BookingID  string    `json:"booking_id"`
	OccurredAt time.Time `json:"occurred_at"`
	Data       any       `json:"data"`
}

// Webhook is the body the webhooks receive for n.
func (n Notification) Webhook() WebhookEvent {
	return WebhookEvent{Event: n.Event, BookingID: n.BookingID, OccurredAt: n.OccurredAt, Data: n.Data}
}

// BookingConfirmed tells the guest their booking holds.
func BookingConfirmed(e contracts.BookingConfirmed) Notification {
	return Notification{
		BookingID:  e.BookingID,
		Event:      EventBookingConfirmed,
		GuestEmail: e.GuestEmail,
		OccurredAt: e.ConfirmedAt,
		Push: Push{
			Title:    "Booking confirmed",
			Message:  fmt.Sprintf("Your booking at %s is confirmed, %s.", orDefault(e.HotelName, "the hotel"), Stay(e.CheckIn, e.CheckOut, e.Nights)),
			Tags:     []string{"white_check_mark", "hotel"},
			Priority: "high",
		},
		Data:        e,
		ReportsTask: true,
	}
}

// BookingRejected tells the guest why their booking could not be made.
func BookingRejected(e contracts.BookingRejected) Notification {
	return Notification{
		BookingID:  e.BookingID,
		Event:      EventBookingRejected,
		GuestEmail: e.GuestEmail,
		OccurredAt: e.RejectedAt,
		Push: Push{
			Title:    "Booking not possible",
			Message:  fmt.Sprintf("Sorry, we could not book your stay, %s: %s.", Stay(e.CheckIn, e.CheckOut, 0), ReasonInWords(e.Reason)),
			Tags:     []string{"x", "hotel"},
			Priority: "high",
		},
		Data:        e,
		ReportsTask: true,
	}
}

// ConfirmationEmailSent tells the guest where their voucher is.
func ConfirmationEmailSent(e contracts.ConfirmationEmailSent) Notification {
	return Notification{
		BookingID:  e.BookingID,
		Event:      EventConfirmationEmailSent,
		GuestEmail: e.GuestEmail,
		OccurredAt: e.SentAt,
		Push: Push{
			Title:    "Voucher sent",
			Message:  "Your voucher is in your inbox.",
			Tags:     []string{"envelope_with_arrow"},
			Priority: "default",
		},
		Data: e,
	}
}

// ReasonInWords explains a rejection reason code to a guest.
func ReasonInWords(reason string) string {
	switch reason {
	case contracts.ReasonSoldOut:
		return "no room of that type is free for those dates"
	case contracts.ReasonUnknownRoomType:
		return "the hotel does not offer that room type"
	case contracts.ReasonInvalidStay:
		return "the dates or the number of guests are not valid for this room"
	case contracts.ReasonExpired:
		return "your request waited too long to be processed; please try again"
	case contracts.ReasonIdempotencyKeyReused:
		return "this request repeats an earlier one with different details"
	case "":
		return "the reason is unknown"
	default:
		return "an unexpected problem (" + reason + ")"
	}
}

// Stay renders check-in and check-out dates for a guest: "from 2 Mar 2026
// to 5 Mar 2026 (3 nights)". Dates that do not parse are shown as given.
func Stay(checkIn, checkOut contracts.Date, nights int) string {
	in, errIn := time.Parse(time.DateOnly, checkIn)
	out, errOut := time.Parse(time.DateOnly, checkOut)
	if errIn != nil || errOut != nil {
		return fmt.Sprintf("from %s to %s", checkIn, checkOut)
	}
	if nights <= 0 {
		nights = int(out.Sub(in).Hours() / 24)
	}
	s := fmt.Sprintf("from %s to %s", in.Format("2 Jan 2006"), out.Format("2 Jan 2006"))
	switch {
	case nights == 1:
		s += " (1 night)"
	case nights > 1:
		s += fmt.Sprintf(" (%d nights)", nights)
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
