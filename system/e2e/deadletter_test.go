package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"
)

var allServices = []string{"deadletters", "booking", "voucher", "email", "notification", "web"}

func TestSMTPDown_EmailsAreDeadLetteredThenReplayedOnceSMTPIsBack(t *testing.T) {
	t.Parallel()
	requireServices(t, allServices)
	s := newSystem(t, allServices, map[string]string{
		"SEND_CONFIRMATION_EMAIL_MAX_ATTEMPTS":     "3",
		"SEND_CONFIRMATION_EMAIL_INITIAL_INTERVAL": "100ms",
	}, nil)
	mail := s.startMailpit(t)
	s.start(t, allServices...)
	testkit.Must(t, s.Stop("mailpit", 10*time.Second))
	web, admin := s.URL("web"), s.URL("deadletters")
	auth := map[string]string{"Authorization": "Bearer test-admin-token"}

	const guests = 3
	ids := make([]string, guests)
	for i := range ids {
		body := booking("loadtest-grand-central", "suite", 100+i)
		r := do(t, http.MethodPost, web+"/api/bookings", body, nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("POST: %d %s", r.Status, r.Raw)
		}
		ids[i] = r.Body["id"].(string)
	}
	// Retried, then dead-lettered: the email task turns failed.
	for _, id := range ids {
		testkit.Eventually(t, time.Minute, "email task of "+id+" failed", func() bool {
			r := do(t, http.MethodGet, web+"/api/bookings/"+id, nil, nil)
			tasks, _ := r.Body["tasks"].(map[string]any)
			return tasks != nil && tasks["email"] == "failed" && tasks["voucher"] == "done"
		})
	}
	list := do(t, http.MethodGet, admin+"/api/admin/dead-letters?status=dead&handler=send_confirmation_email", nil, auth)
	letters, _ := list.Body["dead_letters"].([]any)
	if list.Status != 200 || len(letters) != guests {
		t.Fatalf("dead letters: %d %s", list.Status, list.Raw)
	}
	for _, l := range letters {
		if a := l.(map[string]any)["attempts"]; a != float64(3) {
			t.Fatalf("attempts %v, want 3", a)
		}
	}

	mail.restart(t, s)
	for _, l := range letters {
		id := l.(map[string]any)["id"].(string)
		if r := do(t, http.MethodPost, admin+"/api/admin/dead-letters/"+id+"/replay", nil, auth); r.Status != 200 {
			t.Fatalf("replay %s: %d %s", id, r.Status, r.Raw)
		}
	}
	for i, id := range ids {
		waitTasksDone(t, web, id, time.Minute)
		testkit.Eventually(t, 30*time.Second, "email of guest", func() bool {
			return len(mail.messagesTo(t, booking("", "", 100+i)["guest_email"].(string))) >= 1
		})
	}
	// Exactly one email each, and nothing still on its way.
	testkit.Eventually(t, 10*time.Second, "queues drained", func() bool {
		return testkit.QueueDepth(t, s.amqpURL, "events.VoucherCreated_email") == 0
	})
	for i := range ids {
		if n := len(mail.messagesTo(t, booking("", "", 100+i)["guest_email"].(string))); n != 1 {
			t.Fatalf("guest %d got %d emails, want 1", i, n)
		}
	}
	after := do(t, http.MethodGet, admin+"/api/admin/dead-letters?status=dead", nil, auth)
	if left, _ := after.Body["dead_letters"].([]any); len(left) != 0 {
		t.Fatalf("%d letters still dead after the replays: %s", len(left), after.Raw)
	}
}
