// Package settle runs after the load: it waits for the backlog to drain
// (commands.BookRoom empty, every accepted booking confirmed or rejected,
// and its background tasks finished where their services run), then
// checks from outside what the services let it see: every accepted booking
// reached a final state, each confirmed one has its voucher and its email,
// and no booking was made or mailed twice.
package settle

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/staybook/staybook/loadtest/internal/record"
	"github.com/staybook/staybook/loadtest/internal/scenario"
)

// States of a booking and its tasks (contracts).
const (
	statusConfirmed = "confirmed"
	statusRejected  = "rejected"
	taskPending     = "pending"
)

// EmailCounter counts the emails an SMTP server received for a booking
// (by Message-ID <booking-id@staybook>): the load test's own SMTP sink.
type EmailCounter interface {
	EmailsFor(bookingID string) int
}

// NotificationCounter counts the webhook deliveries of an event for a
// booking: the load test's own webhook receiver.
type NotificationCounter interface {
	NotificationsFor(bookingID, event string) int
}

// Config says where to look and how long to wait.
type Config struct {
	// Target is the web tier.
	Target string
	// BookingURL, VoucherURL, EmailURL, NotificationURL: the services'
	// internal APIs; empty or unreachable turns that check off.
	BookingURL, VoucherURL, EmailURL, NotificationURL string
	// MailpitURL, if reachable, is searched for each booking's emails.
	MailpitURL string
	// Emails, if set, counts emails per booking (wins over Mailpit).
	Emails EmailCounter
	// Notifications, if set, counts the notification webhooks per booking.
	Notifications NotificationCounter
	// QueueDepth reads commands.BookRoom's depth; nil: not watched.
	QueueDepth func() (int, bool)
	// Timeout bounds the whole drain.
	Timeout time.Duration
	// Concurrency of the polling (default 16).
	Concurrency int
	// RunStart is when the load began (settled times are relative to it).
	RunStart time.Time
	// Say prints a progress line.
	Say    func(format string, args ...any)
	Logger *slog.Logger
	// Transport carries the reads (nil: http.DefaultTransport); the run
	// passes one that adds the load-test token, as the rate limit reads it.
	Transport http.RoundTripper
	// Drained, if set, is called once the drain has ended, before the
	// checks: their thousands of reads (a Mailpit search per booking) are
	// the load test's work, not the system's, and must not be counted in
	// the CPU a booking costs.
	Drained func()
}

// Check is the outcome of one consistency check.
type Check struct {
	// Status: ok, failed, skipped (the service is not running or does not
	// expose what the check needs).
	// late (nothing missing but some not there yet) or incomplete
	// (interrupted before every booking was asked).
	Status  string `json:"status"`
	Checked int    `json:"checked,omitempty"`
	Missing int    `json:"missing,omitempty"`
	Twice   int    `json:"twice,omitempty"`
	// Late: not there, but the booking says its task is still pending
	// (or the booking itself is): in progress when the drain ended, so
	// neither done nor lost.
	Late int    `json:"late,omitempty"`
	Note string `json:"note,omitempty"`
}

// Booking is what the drain learnt about one accepted booking.
type Booking struct {
	ID     string
	Status string
	Reason string
	Tasks  map[string]string
	// FinalAt: when the load test first saw it final (since RunStart).
	FinalAt time.Duration
	// ConfirmedAfter and SettledAfter: from the request to the booking's
	// commit and to its last task change (booking service timestamps).
	ConfirmedAfter, SettledAfter time.Duration
}

// Result is the drain's outcome.
type Result struct {
	Accepted int
	Final    map[string]int
	// NotFinal: accepted bookings still pending when the drain gave up
	// (its timeout, or an interruption): late, not known to be lost.
	NotFinal int
	// TasksPending: final bookings whose tasks were still pending at the end.
	TasksPending int
	// QueueDrained is how long commands.BookRoom took to empty (-1: not watched or never).
	QueueDrained time.Duration
	// Drain is how long the whole drain took.
	Drain time.Duration
	// TimedOut: the drain reached its timeout; Interrupted: its context
	// ended first (the run was stopped).
	TimedOut, Interrupted bool
	Checks                map[string]Check
	Bookings              []*Booking
}

// Run drains and checks the accepted bookings.
func Run(ctx context.Context, cfg Config, accepted []*record.Accepted) *Result {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Say == nil {
		cfg.Say = func(string, ...any) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	start := time.Now()
	deadline := start.Add(cfg.Timeout)
	// Untraced: the polls would otherwise be most of Jaeger's traces.
	client := &http.Client{Timeout: 10 * time.Second, Transport: scenario.UntracedTransport{Base: cfg.Transport}}
	res := &Result{Accepted: len(accepted), Final: map[string]int{}, Checks: map[string]Check{}, QueueDrained: -1}

	up := func(base string) bool { return base != "" && healthy(ctx, client, base) }
	voucherUp, emailUp, notificationUp := up(cfg.VoucherURL), up(cfg.EmailURL), up(cfg.NotificationURL)

	// 1. The command queue empties.
	if cfg.QueueDepth != nil {
		for {
			n, ok := cfg.QueueDepth()
			if !ok {
				break
			}
			if n == 0 {
				res.QueueDrained = time.Since(start)
				break
			}
			if stopped(ctx, res, deadline) {
				break
			}
			cfg.Say("drain: %d commands in commands.BookRoom", n)
			sleep(ctx, time.Second)
		}
	}

	// 2. Every accepted booking is final, and its tasks done where their services run.
	bookings := make([]*Booking, len(accepted))
	sentAt := map[string]time.Time{}
	for i, a := range accepted {
		bookings[i] = &Booking{ID: a.ID, Status: a.Status}
		if a.Status == statusConfirmed || a.Status == statusRejected {
			b := bookings[i] // direct mode: the answer carried the final state
			b.FinalAt = a.SentAt.Add(a.Latency).Sub(cfg.RunStart)
		}
		sentAt[a.ID] = a.SentAt
	}
	waitTask := map[string]bool{"voucher": voucherUp, "email": emailUp, "notification": notificationUp}
	settled := func(b *Booking) bool {
		if b.Status != statusConfirmed && b.Status != statusRejected {
			return false
		}
		for task, wait := range waitTask {
			if wait && b.Tasks[task] == taskPending {
				return false
			}
		}
		return true
	}
	pending := bookings
	lastSay := time.Now()
	// A round ends at the deadline too: with thousands of bookings and the
	// service that answers for them down, one round of reads (each retried)
	// would otherwise outlast any drain timeout.
	roundCtx, endRounds := context.WithDeadline(ctx, deadline)
	defer endRounds()
	for len(pending) > 0 {
		poll(roundCtx, cfg.Concurrency, pending, func(b *Booking) {
			v, err := getBooking(roundCtx, client, cfg.Target, b.ID)
			if err != nil {
				return
			}
			if (v.Status == statusConfirmed || v.Status == statusRejected) && b.FinalAt == 0 {
				b.FinalAt = time.Since(cfg.RunStart)
			}
			b.Status, b.Reason, b.Tasks = v.Status, v.Reason, v.Tasks
		})
		var still []*Booking
		final := 0
		for _, b := range pending {
			if !settled(b) {
				still = append(still, b)
			}
		}
		for _, b := range bookings {
			if b.Status == statusConfirmed || b.Status == statusRejected {
				final++
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if stopped(ctx, res, deadline) {
			break
		}
		if time.Since(lastSay) >= time.Second {
			cfg.Say("drain: %d of %d bookings final, %d not settled yet", final, len(bookings), len(pending))
			lastSay = time.Now()
		}
		// A round reads every pending booking; with thousands pending, back
		// to back, the reads would take the CPU the workers need to settle
		// them. Wait about 5 ms per pending booking (at most 200 reads a
		// second on average), 200 ms at least.
		sleep(ctx, max(200*time.Millisecond, time.Duration(len(pending))*5*time.Millisecond))
	}
	res.Drain = time.Since(start)
	var confirmed []*Booking
	for _, b := range bookings {
		switch b.Status {
		case statusConfirmed:
			res.Final[b.Status]++
			confirmed = append(confirmed, b)
		case statusRejected:
			res.Final[b.Status]++
		default:
			res.NotFinal++
		}
		if (b.Status == statusConfirmed || b.Status == statusRejected) && !settled(b) {
			res.TasksPending++
		}
	}
	res.Bookings = bookings
	if cfg.Drained != nil {
		cfg.Drained()
	}

	// 3. What the services say about each confirmed booking.
	res.Checks["voucher"] = checkEach(ctx, cfg, voucherUp, "voucher service", cfg.VoucherURL, confirmed, taskRunning("voucher"), func(b *Booking) (bool, int) {
		return status(ctx, client, http.MethodHead, cfg.VoucherURL+"/internal/vouchers/"+b.ID+".pdf") == http.StatusOK, 0
	})
	if c := res.Checks["voucher"]; c.Status != "skipped" {
		c.Note = "one voucher per booking is guaranteed by the voucher table's primary key; only presence is checked"
		res.Checks["voucher"] = c
	}
	res.Checks["email"] = checkEach(ctx, cfg, emailUp, "email service", cfg.EmailURL, confirmed, taskRunning("email"), func(b *Booking) (bool, int) {
		var e struct {
			Status string `json:"status"`
		}
		code := getJSON(ctx, client, cfg.EmailURL+"/internal/emails/"+b.ID, &e)
		return code == http.StatusOK && e.Status == "sent", 0
	})
	res.Checks["emails_received"] = emailsReceived(ctx, cfg, client, confirmed)
	if cfg.Notifications != nil && notificationUp {
		res.Checks["webhooks"] = webhooks(cfg.Notifications, bookings)
	}
	notFinal := func(b *Booking) bool { return b.Status != statusConfirmed && b.Status != statusRejected }
	res.Checks["booking_times"] = checkEach(ctx, cfg, cfg.BookingURL != "" && healthy(ctx, client, cfg.BookingURL), "booking service", cfg.BookingURL, bookings, notFinal, func(b *Booking) (bool, int) {
		var v struct {
			CreatedAt time.Time `json:"created_at"`
			UpdatedAt time.Time `json:"updated_at"`
		}
		if getJSON(ctx, client, cfg.BookingURL+"/internal/bookings/"+b.ID, &v) != http.StatusOK {
			return false, 0
		}
		sent := sentAt[b.ID]
		b.ConfirmedAfter, b.SettledAfter = v.CreatedAt.Sub(sent), v.UpdatedAt.Sub(sent)
		return true, 0
	})
	return res
}

// stopped reports whether the drain must end: its context ended
// (Interrupted) or its deadline passed (TimedOut).
func stopped(ctx context.Context, res *Result, deadline time.Time) bool {
	switch {
	case ctx.Err() != nil:
		res.Interrupted = true
	case time.Now().After(deadline):
		res.TimedOut = true
	default:
		return false
	}
	return true
}

// taskRunning reports whether a booking's task was still pending when the
// drain last read it.
func taskRunning(task string) func(*Booking) bool {
	return func(b *Booking) bool { return b.Tasks[task] == taskPending }
}

// emailsReceived counts each confirmed booking's emails at the SMTP server:
// the load test's own sink, or Mailpit's search by Message-ID.
func emailsReceived(ctx context.Context, cfg Config, client *http.Client, confirmed []*Booking) Check {
	switch {
	case cfg.Emails != nil:
		c := Check{Status: "ok", Checked: len(confirmed)}
		for _, b := range confirmed {
			switch n := cfg.Emails.EmailsFor(b.ID); {
			case n == 0 && taskRunning("email")(b):
				c.Late++
			case n == 0:
				c.Missing++
			case n > 1:
				c.Twice++
			}
		}
		c.Status = checkStatus(c)
		c.Note = "counted by Message-ID at the load test's own SMTP server"
		return c
	case cfg.MailpitURL != "" && getJSON(ctx, client, cfg.MailpitURL+"/api/v1/info", &struct{}{}) == http.StatusOK:
		c := checkEach(ctx, cfg, true, "Mailpit", cfg.MailpitURL, confirmed, taskRunning("email"), func(b *Booking) (bool, int) {
			var s struct {
				Count int `json:"messages_count"`
			}
			q := url.QueryEscape("message-id:" + b.ID + "@staybook")
			if getJSON(ctx, client, cfg.MailpitURL+"/api/v1/search?limit=5&query="+q, &s) != http.StatusOK {
				return false, 0
			}
			return s.Count > 0, s.Count
		})
		if c.Note == "" {
			c.Note = "counted by Message-ID in Mailpit's search"
		}
		return c
	default:
		return Check{Status: "skipped", Note: "no SMTP server to ask (Mailpit not reachable): duplicate emails cannot be seen"}
	}
}

// webhooks checks that each final booking's first notification reached the
// webhook receiver. Repeated deliveries are allowed by the contract (at
// least once, with an Idempotency-Key for the receiver), so they are
// counted but do not fail the check.
func webhooks(n NotificationCounter, bookings []*Booking) Check {
	c := Check{Status: "ok", Note: "webhooks are at least once by contract; repeats are counted, not failed"}
	for _, b := range bookings {
		event := "BookingConfirmed"
		switch b.Status {
		case statusConfirmed:
		case statusRejected:
			event = "BookingRejected"
		default:
			continue
		}
		c.Checked++
		switch k := n.NotificationsFor(b.ID, event); {
		case k == 0 && taskRunning("notification")(b):
			c.Late++
		case k == 0:
			c.Missing++
		case k > 1:
			c.Twice++
		}
	}
	if c.Missing > 0 {
		c.Status = "failed"
	} else if c.Late > 0 {
		c.Status = "late"
	}
	return c
}

// checkEach runs ok on every booking when up; counts the missing, the late
// (missing while running says the booking is still at it) and the doubled
// (ok's second result above 1).
func checkEach(ctx context.Context, cfg Config, up bool, what, base string, bookings []*Booking, running func(*Booking) bool, ok func(*Booking) (bool, int)) Check {
	if !up {
		note := what + " not configured"
		if base != "" {
			note = what + " not reachable at " + base
		}
		return Check{Status: "skipped", Note: note}
	}
	var missing, late, twice atomic.Int64
	done := poll(ctx, cfg.Concurrency, bookings, func(b *Booking) {
		good, n := ok(b)
		switch {
		case !good && running(b):
			late.Add(1)
		case !good:
			missing.Add(1)
		}
		if n > 1 {
			twice.Add(1)
		}
	})
	c := Check{Checked: done, Missing: int(missing.Load()), Late: int(late.Load()), Twice: int(twice.Load())}
	c.Status = checkStatus(c)
	if c.Status == "ok" && done < len(bookings) {
		c.Status = "incomplete"
		c.Note = fmt.Sprintf("interrupted after %d of %d bookings", done, len(bookings))
	}
	return c
}

// checkStatus: failed if anything is missing or doubled, else late if
// anything is still on its way, else ok.
func checkStatus(c Check) string {
	switch {
	case c.Missing > 0 || c.Twice > 0:
		return "failed"
	case c.Late > 0:
		return "late"
	default:
		return "ok"
	}
}

// poll runs f on every booking with n goroutines (until ctx ends) and
// returns how many it ran f on.
func poll(ctx context.Context, n int, bookings []*Booking, f func(*Booking)) int {
	work := make(chan *Booking)
	var wg sync.WaitGroup
	for range min(n, len(bookings)) {
		wg.Go(func() {
			for b := range work {
				f(b)
			}
		})
	}
	sent := 0
	for _, b := range bookings {
		if ctx.Err() != nil {
			break
		}
		work <- b
		sent++
	}
	close(work)
	wg.Wait()
	return sent
}

type bookingView struct {
	Status string            `json:"status"`
	Reason string            `json:"reason"`
	Tasks  map[string]string `json:"tasks"`
}

func getBooking(ctx context.Context, client *http.Client, target, id string) (bookingView, error) {
	var v bookingView
	if code := getJSON(ctx, client, target+"/api/bookings/"+id, &v); code != http.StatusOK {
		return v, fmt.Errorf("GET booking %s: %d", id, code)
	}
	return v, nil
}

// getJSON returns the status code (0 on a transport error) and decodes a
// 200. A 5xx or no answer is tried again twice: a busy service is not a
// missing voucher.
func getJSON(ctx context.Context, client *http.Client, url string, into any) int {
	return retried(ctx, func() int { return getJSONOnce(ctx, client, url, into) })
}

func retried(ctx context.Context, f func() int) int {
	code := f()
	for i := 0; i < 2 && (code == 0 || code >= 500) && ctx.Err() == nil; i++ {
		sleep(ctx, 500*time.Millisecond)
		code = f()
	}
	return code
}

func getJSONOnce(ctx context.Context, client *http.Client, url string, into any) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(into) != nil {
		return 0
	}
	return resp.StatusCode
}

func status(ctx context.Context, client *http.Client, method, url string) int {
	return retried(ctx, func() int { return statusOnce(ctx, client, method, url) })
}

func statusOnce(ctx context.Context, client *http.Client, method, url string) int {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func healthy(ctx context.Context, client *http.Client, base string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return statusOnce(ctx, client, http.MethodGet, base+"/healthz") == http.StatusOK
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
