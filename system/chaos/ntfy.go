package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// pushGateway is the run's ntfy server: it accepts what ntfy's publish API
// accepts (POST /<topic>, the title in a header) and records when each push
// arrived, so that the checks can count the pushes per guest and kind.
// Every booking of the stream has a guest of its own, so a topic is a
// booking.
type pushGateway struct {
	srv *http.Server
	ln  net.Listener

	mu     sync.Mutex
	pushes map[string][]time.Time // "topic title" -> arrivals
}

func startPushGateway() (*pushGateway, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &pushGateway{ln: ln, pushes: map[string][]time.Time{}}
	g.srv = &http.Server{Handler: http.HandlerFunc(g.serve), ReadHeaderTimeout: 5 * time.Second}
	go g.srv.Serve(ln)
	return g, nil
}

// URL is the gateway's base URL (NTFY_URL).
func (g *pushGateway) URL() string { return "http://" + g.ln.Addr().String() }

func (g *pushGateway) serve(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	topic := strings.TrimPrefix(r.URL.Path, "/")
	if r.Method != http.MethodPost && r.Method != http.MethodPut || topic == "" || strings.Contains(topic, "/") {
		http.NotFound(w, r)
		return
	}
	g.mu.Lock()
	key := topic + " " + r.Header.Get("Title")
	g.pushes[key] = append(g.pushes[key], time.Now())
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": "chaos", "event": "message", "topic": topic})
}

// Close stops the gateway.
func (g *pushGateway) Close() error { return g.srv.Close() }

// checkPushes: one push per booking and kind (confirmed or not possible,
// and "voucher sent" per confirmed booking); a second copy only near a kill
// of the notification service or a broker fault (a push sent, its message's
// ack lost with the process or the connection), reported by cause.
func (e *engine) checkPushes(confirmed, rejected int) Check {
	name := "one push per booking and kind"
	e.push.mu.Lock()
	byTitle := map[string]int{}
	copies := map[string][]time.Time{}
	for key, times := range e.push.pushes {
		_, title, _ := strings.Cut(key, " ")
		byTitle[title]++
		if len(times) > 1 {
			copies[key] = append([]time.Time(nil), times...)
		}
	}
	e.push.mu.Unlock()
	e.mu.Lock()
	risks := append([]window(nil), e.pushRisks...)
	e.mu.Unlock()
	byCause := map[string]int{}
	var unexplained []string
	for key, times := range copies {
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		cause, closest := "", 10*time.Second
		for _, w := range risks {
			if d := w.distance(times[1]); d <= closest {
				cause, closest = w.what, d
			}
		}
		if cause == "" {
			unexplained = append(unexplained, fmt.Sprintf("%s x%d (second %s)", key, len(times), times[1].Format("15:04:05.000")))
		} else {
			byCause[cause]++
		}
	}
	sort.Strings(unexplained)
	want := map[string]int{"Booking confirmed": confirmed, "Voucher sent": confirmed, "Booking not possible": rejected}
	ok := len(unexplained) == 0
	for title, n := range want {
		if byTitle[title] != n {
			ok = false
		}
	}
	return Check{Name: name, OK: ok,
		Detail: fmt.Sprintf("guests pushed to, by kind: %s (want %d confirmed, %d voucher sent, %d not possible); second copies near a kill or broker fault: %s; %d away from any%s",
			counts(byTitle), confirmed, confirmed, rejected, counts(byCause), len(unexplained), sample(unexplained))}
}
