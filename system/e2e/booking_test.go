package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/staybook/staybook/shared/testkit"
)

func (s *system) bookingDB(t *testing.T, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dbURLs["booking"])
	testkit.Must(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), sql, args...)
	testkit.Must(t, err)
}

func (s *system) bookingCount(t *testing.T, sql string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dbURLs["booking"])
	testkit.Must(t, err)
	defer conn.Close(context.Background())
	var n int
	testkit.Must(t, conn.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func TestBooking_PostedToWebIsConfirmedOrSoldOut(t *testing.T) {
	t.Parallel()
	s := newSystem(t, []string{"booking", "web"}, nil, nil)
	s.start(t, "booking")
	s.bookingDB(t, `INSERT INTO room_types VALUES ('lisbon-alfama-house', 'attic', 'Attic', 2, 5000, 'EUR', 1)`)
	s.start(t, "web")
	web := s.URL("web")

	first := do(t, http.MethodPost, web+"/api/bookings", booking("lisbon-alfama-house", "attic", 1), nil)
	if first.Status != http.StatusAccepted || first.Body["status"] != "pending" || first.Header.Get("Location") == "" || first.Header.Get("Retry-After") == "" {
		t.Fatalf("POST: %d %s %v", first.Status, first.Raw, first.Header)
	}
	id := first.Body["id"].(string)
	if first.Header.Get("Location") != "/api/bookings/"+id || first.Body["status_url"] != "/api/bookings/"+id {
		t.Fatalf("Location %q, status_url %v", first.Header.Get("Location"), first.Body["status_url"])
	}
	waitFinal(t, web, []string{id}, 30*time.Second)
	got := do(t, http.MethodGet, web+"/api/bookings/"+id, nil, nil)
	if got.Body["status"] != "confirmed" || got.Body["version"] == nil {
		t.Fatalf("GET: %s", got.Raw)
	}

	second := do(t, http.MethodPost, web+"/api/bookings", booking("lisbon-alfama-house", "attic", 2), nil)
	if second.Status != http.StatusAccepted {
		t.Fatalf("second POST: %d %s", second.Status, second.Raw)
	}
	id2 := second.Body["id"].(string)
	waitFinal(t, web, []string{id2}, 30*time.Second)
	got = do(t, http.MethodGet, web+"/api/bookings/"+id2, nil, nil)
	if got.Body["status"] != "rejected" || got.Body["reason"] != "sold_out" {
		t.Fatalf("second booking: %s", got.Raw)
	}
}

func TestBooking_RepeatedIdempotencyKeyBooksOnce(t *testing.T) {
	t.Parallel()
	s := newSystem(t, []string{"booking", "web"}, nil, nil)
	s.start(t, "booking", "web")
	web := s.URL("web")
	key := map[string]string{"Idempotency-Key": "e2e-" + testkit.Name("key")}
	body := booking("loadtest-harbour-plaza", "double", 7)
	a := do(t, http.MethodPost, web+"/api/bookings", body, key)
	b := do(t, http.MethodPost, web+"/api/bookings", body, key)
	if a.Status != 202 || b.Status != 202 || a.Body["id"] != b.Body["id"] {
		t.Fatalf("%d %s / %d %s", a.Status, a.Raw, b.Status, b.Raw)
	}
	id := a.Body["id"].(string)
	waitFinal(t, web, []string{id}, 30*time.Second)
	c := do(t, http.MethodPost, web+"/api/bookings", body, key) // after it is stored
	if c.Status != 202 || c.Body["id"] != id {
		t.Fatalf("third: %d %s", c.Status, c.Raw)
	}
	testkit.Eventually(t, 10*time.Second, "queue drained", func() bool {
		return testkit.QueueDepth(t, s.amqpURL, "commands.BookRoom") == 0
	})
	if n := s.bookingCount(t, `SELECT count(*) FROM bookings`); n != 1 {
		t.Fatalf("%d bookings, want 1", n)
	}
	other := booking("loadtest-harbour-plaza", "double", 8)
	if d := do(t, http.MethodPost, web+"/api/bookings", other, key); d.Status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d %s", d.Status, d.Raw)
	}
}

// burst posts n bookings from workers goroutines, each with an
// Idempotency-Key, retrying (as a client should) until it is accepted; it
// returns the accepted IDs and how many attempts were refused or failed.
func burst(t *testing.T, web string, n, workers int, onEach func(i int)) (accepted []string, refused int) {
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if onEach != nil {
					onEach(i)
				}
				key := map[string]string{"Idempotency-Key": fmt.Sprintf("burst-%d", i)}
				for attempt := 0; ; attempt++ {
					r := do(t, http.MethodPost, web+"/api/bookings", booking("loadtest-grand-central", "single", i), key)
					mu.Lock()
					if r.Status == http.StatusAccepted {
						accepted = append(accepted, r.Body["id"].(string))
						mu.Unlock()
						break
					}
					refused++
					mu.Unlock()
					if attempt == 200 || (r.Status >= 400 && r.Status < 500) {
						t.Errorf("booking %d not accepted: %d %s", i, r.Status, r.Raw)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	return accepted, refused
}

func TestShutdown_SIGTERMDuringABurstLosesNoAcceptedBooking(t *testing.T) {
	t.Parallel()
	s := newSystem(t, []string{"booking", "web"}, nil, nil)
	s.start(t, "booking", "web")
	web := s.URL("web")
	var restarts sync.WaitGroup
	accepted, refused := burst(t, web, 600, 8, func(i int) {
		switch i {
		case 150: // the booking service stops while commands flow in, and comes back
			restarts.Add(1)
			go func() {
				defer restarts.Done()
				if err := s.Stop("booking", 30*time.Second); err != nil {
					t.Errorf("booking did not stop cleanly: %v", err)
				}
				s.start(t, "booking")
			}()
		case 350: // the web tier stops in the middle of requests
			if err := s.Stop("web", 30*time.Second); err != nil {
				t.Errorf("web did not stop cleanly: %v", err)
			}
			s.start(t, "web")
		}
	})
	restarts.Wait()
	t.Logf("accepted %d, refused or failed attempts %d (during the web restart)", len(accepted), refused)
	if len(accepted) != 600 || refused == 0 {
		t.Fatalf("accepted %d of 600 after %d refusals (the restart should refuse some)", len(accepted), refused)
	}
	final := waitFinal(t, web, accepted, 2*time.Minute)
	if final["confirmed"] != 600 {
		t.Fatalf("final %v, want 600 confirmed", final)
	}
	if n := s.bookingCount(t, `SELECT count(*) FROM bookings`); n != 600 {
		t.Fatalf("%d bookings stored, want 600 (retries must not book twice)", n)
	}
	if strings.Contains(s.logs.String(), "dead-lettered") {
		t.Fatal("a message was dead-lettered during the restarts")
	}
}

func TestFullQueue_Answers503AndLosesNothingAccepted(t *testing.T) {
	t.Parallel()
	s := newSystem(t, []string{"booking", "web"}, map[string]string{"BOOKING_QUEUE_MAX": "20"}, nil)
	s.start(t, "booking", "web")
	web := s.URL("web")
	if r := do(t, http.MethodGet, web+"/api/hotels", nil, nil); r.Status != 200 {
		t.Fatalf("catalogue: %d", r.Status)
	}
	if err := s.Stop("booking", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var accepted []string
	full := 0
	for i := range 30 {
		r := do(t, http.MethodPost, web+"/api/bookings", booking("loadtest-grand-central", "double", i), nil)
		switch r.Status {
		case http.StatusAccepted:
			accepted = append(accepted, r.Body["id"].(string))
		case http.StatusServiceUnavailable:
			full++
			if r.Header.Get("Retry-After") == "" {
				t.Fatalf("503 without Retry-After: %s", r.Raw)
			}
		default:
			t.Fatalf("POST %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if len(accepted) != 20 || full != 10 {
		t.Fatalf("accepted %d, refused %d; want 20 and 10", len(accepted), full)
	}
	s.start(t, "booking")
	if final := waitFinal(t, web, accepted, time.Minute); final["confirmed"] != 20 {
		t.Fatalf("final %v", final)
	}
}
