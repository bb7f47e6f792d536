package domain_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/notification/internal/domain"
)

var scheme = domain.TopicScheme{Prefix: "staybook-", Secret: []byte("0123456789abcdef-test")}

func TestTopic_IsDeterministicPerEmailAndIgnoresCaseAndSpaces(t *testing.T) {
	a := scheme.Topic("ann@example.org")
	if b := scheme.Topic("  Ann@Example.ORG "); b != a {
		t.Fatalf("same address, other topics: %q and %q", a, b)
	}
	if again := (domain.TopicScheme{Prefix: "staybook-", Secret: []byte("0123456789abcdef-test")}).Topic("ann@example.org"); again != a {
		t.Fatalf("a second scheme with the same settings derives %q, want %q", again, a)
	}
	if !regexp.MustCompile(`^staybook-[0-9a-f]{16}$`).MatchString(a) {
		t.Fatalf("topic %q is not the prefix and 16 hex characters", a)
	}
}

func TestTopic_DiffersPerEmailAndPerSecret(t *testing.T) {
	seen := map[string]string{}
	for _, email := range []string{"ann@example.org", "bob@example.org", "ann@example.com", "ann+1@example.org"} {
		topic := scheme.Topic(email)
		if other, ok := seen[topic]; ok {
			t.Fatalf("%s and %s share topic %s", email, other, topic)
		}
		seen[topic] = email
	}
	other := domain.TopicScheme{Prefix: "staybook-", Secret: []byte("another-secret-0123456")}
	if other.Topic("ann@example.org") == scheme.Topic("ann@example.org") {
		t.Fatal("another secret derives the same topic: the topic does not depend on the secret")
	}
	if strings.Contains(scheme.Topic("ann@example.org"), "ann") {
		t.Fatal("topic reveals the address")
	}
}

func TestTopicScheme_RejectsShortSecretAndBadPrefix(t *testing.T) {
	if err := (domain.TopicScheme{Prefix: "staybook-", Secret: []byte("short")}).Validate(); err == nil || !strings.Contains(err.Error(), "NTFY_TOPIC_SECRET") {
		t.Fatalf("short secret: %v", err)
	}
	if err := (domain.TopicScheme{Prefix: "stay/book", Secret: scheme.Secret}).Validate(); err == nil || !strings.Contains(err.Error(), "NTFY_TOPIC_PREFIX") {
		t.Fatalf("prefix with a slash: %v", err)
	}
	if err := scheme.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBookingConfirmed_NamesHotelAndDates(t *testing.T) {
	n := domain.BookingConfirmed(contracts.BookingConfirmed{
		BookingID: "b1", HotelName: "Hotel Adlon", CheckIn: "2026-03-02", CheckOut: "2026-03-05", Nights: 3,
		GuestEmail: "ann@example.org", ConfirmedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	want := "Your booking at Hotel Adlon is confirmed, from 2 Mar 2026 to 5 Mar 2026 (3 nights)."
	if n.Push.Message != want || n.Push.Title != "Booking confirmed" || !n.ReportsTask {
		t.Fatalf("got %+v", n)
	}
	if w := n.Webhook(); w.Event != "BookingConfirmed" || w.BookingID != "b1" || !w.OccurredAt.Equal(n.OccurredAt) {
		t.Fatalf("webhook %+v", w)
	}
}

func TestBookingRejected_ExplainsTheReasonInWords(t *testing.T) {
	n := domain.BookingRejected(contracts.BookingRejected{BookingID: "b2", CheckIn: "2026-03-02", CheckOut: "2026-03-03", Reason: contracts.ReasonSoldOut})
	if !strings.Contains(n.Push.Message, "no room of that type is free") || strings.Contains(n.Push.Message, "sold_out") {
		t.Fatalf("message %q", n.Push.Message)
	}
	if !strings.Contains(n.Push.Message, "(1 night)") || !n.ReportsTask {
		t.Fatalf("got %+v", n)
	}
	for _, r := range []string{contracts.ReasonUnknownRoomType, contracts.ReasonInvalidStay, contracts.ReasonExpired, contracts.ReasonIdempotencyKeyReused} {
		if w := domain.ReasonInWords(r); strings.Contains(w, r) {
			t.Errorf("reason %s is not put in words: %q", r, w)
		}
	}
}

func TestConfirmationEmailSent_PointsToTheInboxAndIsNotTheTask(t *testing.T) {
	n := domain.ConfirmationEmailSent(contracts.ConfirmationEmailSent{BookingID: "b3", GuestEmail: "ann@example.org"})
	if n.Push.Message != "Your voucher is in your inbox." || n.ReportsTask {
		t.Fatalf("got %+v", n)
	}
}
