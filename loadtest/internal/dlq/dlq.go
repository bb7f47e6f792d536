// Package dlq is the dead-letter demo: on a Staybook of its own it makes the
// email service fail, books one room, and shows the retries with their
// growing waits, the dead letter, the email task failed, then the fix, the
// replay, one email and the task done, each step with its evidence.
package dlq

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/staybook/staybook/loadtest/internal/localstack"
	"github.com/staybook/staybook/shared/testkit"
)

// Handler is the handler the demo breaks.
const Handler = "send_confirmation_email"

// Config configures the demo.
type Config struct {
	// MaxAttempts, InitialInterval, Multiplier and RandomizationFactor are
	// the email handler's retry policy (SEND_CONFIRMATION_EMAIL_*).
	MaxAttempts         int
	InitialInterval     time.Duration
	Multiplier          float64
	RandomizationFactor float64
	// OutDir receives services.log.
	OutDir string
	// Out receives the narrative.
	Out io.Writer
	// Timeout bounds each wait.
	Timeout time.Duration
}

// Result is what the demo measured.
type Result struct {
	BookingID string
	// Attempts are the failed attempts' times, as the email service logged them.
	Attempts []time.Time
	// Letter is the dead letter as the admin API listed it.
	Letter Letter
	// EmailsBefore is the number of emails received before the replay,
	// EmailsAfter after it.
	EmailsBefore, EmailsAfter int
	// TaskBefore and TaskAfter are the email task's state before and after the replay.
	TaskBefore, TaskAfter string
}

// Delays are the waits between consecutive failed attempts.
func (r *Result) Delays() []time.Duration {
	var out []time.Duration
	for i := 1; i < len(r.Attempts); i++ {
		out = append(out, r.Attempts[i].Sub(r.Attempts[i-1]))
	}
	return out
}

// Letter is a dead letter as GET /api/admin/dead-letters shows it.
type Letter struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Queue         string `json:"queue"`
	Handler       string `json:"handler"`
	Reason        string `json:"reason"`
	Attempts      int    `json:"attempts"`
	CorrelationID string `json:"correlation_id"`
}

func (c *Config) defaults() {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 4
	}
	if c.InitialInterval == 0 {
		c.InitialInterval = 200 * time.Millisecond
	}
	if c.Multiplier == 0 {
		c.Multiplier = 2
	}
	if c.RandomizationFactor == 0 {
		c.RandomizationFactor = 0.2
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Timeout == 0 {
		c.Timeout = time.Minute
	}
	if c.OutDir == "" {
		c.OutDir = filepath.Join("out", time.Now().Format("20060102-150405")+"-dlq")
	}
}

const adminToken = "loadtest-dlq-admin-token"

// Run builds the services, starts a stack, and plays the demo on it.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	say := func(format string, args ...any) { fmt.Fprintf(cfg.Out, format+"\n", args...) }
	root, err := localstack.Root()
	if err != nil {
		return nil, err
	}
	services := localstack.Available(root, []string{"deadletters", "booking", "voucher", "email", "notification", "web"})
	for _, need := range []string{"deadletters", "booking", "email", "web"} {
		if !contains(services, need) {
			return nil, fmt.Errorf("the %s service is needed; have %v", need, services)
		}
	}
	binDir, err := os.MkdirTemp("", "staybook-dlq-bin")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)
	say("building %v", services)
	if err := localstack.Build(ctx, root, binDir, services); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(cfg.OutDir, "services.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	logs := &logLines{w: logFile}

	policy := map[string]string{
		"SEND_CONFIRMATION_EMAIL_MAX_ATTEMPTS":         fmt.Sprint(cfg.MaxAttempts),
		"SEND_CONFIRMATION_EMAIL_INITIAL_INTERVAL":     cfg.InitialInterval.String(),
		"SEND_CONFIRMATION_EMAIL_MULTIPLIER":           fmt.Sprint(cfg.Multiplier),
		"SEND_CONFIRMATION_EMAIL_RANDOMIZATION_FACTOR": fmt.Sprint(cfg.RandomizationFactor),
		"LOG_LEVEL": "info", // "faults cleared" is an info line
	}
	// The fault switches are on the web tier's internal listener only.
	internal, err := testkit.FreePorts(1)
	if err != nil {
		return nil, err
	}
	faults := fmt.Sprintf("127.0.0.1:%d", internal[0])
	say("starting %v on a vhost, databases and ports of their own, with an in-process SMTP sink (logs: %s)", services, logFile.Name())
	st, err := localstack.Start(ctx, localstack.Config{
		Root: root, BinDir: binDir, Services: services, Logs: logs,
		Env:        map[string]string{"ADMIN_TOKEN": adminToken},
		ServiceEnv: map[string]map[string]string{"email": policy, "web": {"INTERNAL_ADDR": faults}},
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := st.Close(); err != nil {
			say("stop: %v", err)
		}
	}()
	d := &demo{cfg: cfg, say: say, st: st, logs: logs, web: st.URL("web"), faults: "http://" + faults}
	return d.play(ctx)
}

type demo struct {
	cfg  Config
	say  func(string, ...any)
	st   *localstack.Stack
	logs *logLines
	web  string
	// faults is the web tier's internal listener, where the fault switches are.
	faults string
}

func (d *demo) play(ctx context.Context) (*Result, error) {
	cfg, say := d.cfg, d.say
	res := &Result{}

	say("\n1. Break the email service: PUT %s/api/admin/faults/email {\"fail_rate\":1,\"mode\":\"transient\",\"handler\":%q} (the web tier's internal listener)", d.faults, Handler)
	if _, err := d.call(ctx, http.MethodPut, "/api/admin/faults/email",
		map[string]any{"fail_rate": 1, "mode": "transient", "handler": Handler}, nil); err != nil {
		return nil, err
	}
	if err := d.wait(ctx, "the email service to apply the fault", func() (bool, error) {
		return d.logs.count("email", "fault injected") > 0, nil
	}); err != nil {
		return nil, err
	}
	say("   email logged \"fault injected\": every %s call now fails with a transient error", Handler)
	say("   retry policy: %d attempts, first wait %s, x%g each time, +/-%.0f%% jitter",
		cfg.MaxAttempts, cfg.InitialInterval, cfg.Multiplier, cfg.RandomizationFactor*100)

	say("\n2. Book one room")
	var booked struct {
		ID string `json:"id"`
	}
	stay := time.Now().UTC().AddDate(0, 2, 0)
	body := map[string]any{
		"hotel_id": "loadtest-harbour-plaza", "room_type": "twin", "guests": 1,
		"check_in": stay.Format("2006-01-02"), "check_out": stay.AddDate(0, 0, 2).Format("2006-01-02"),
		"guest_name": "Dee Ell-Cue", "guest_email": "dlq-demo@example.com",
	}
	status, raw, err := d.request(ctx, http.MethodPost, "/api/bookings", body, map[string]string{"Idempotency-Key": "dlq-demo"})
	if err != nil {
		return nil, err
	}
	if status != http.StatusAccepted && status != http.StatusCreated {
		return nil, fmt.Errorf("POST /api/bookings: %d %s", status, raw)
	}
	if err := json.Unmarshal(raw, &booked); err != nil || booked.ID == "" {
		return nil, fmt.Errorf("POST /api/bookings: no id in %s", raw)
	}
	res.BookingID = booked.ID
	say("   %d, booking %s", status, booked.ID)

	say("\n3. The email service retries with growing waits, then gives up")
	if err := d.wait(ctx, "the email task to turn failed", func() (bool, error) {
		st, err := d.emailTask(ctx, booked.ID)
		res.TaskBefore = st
		return st == "failed", err
	}); err != nil {
		return nil, err
	}
	res.Attempts = d.logs.attempts("email", booked.ID)
	for i, at := range res.Attempts {
		line := fmt.Sprintf("   attempt %d failed at %s", i+1, at.Format("15:04:05.000"))
		if i > 0 {
			want := float64(cfg.InitialInterval) * pow(cfg.Multiplier, i-1)
			lo, hi := time.Duration(want*(1-cfg.RandomizationFactor)), time.Duration(want*(1+cfg.RandomizationFactor))
			line += fmt.Sprintf("  (+%s after the previous; the policy allows %s to %s)",
				at.Sub(res.Attempts[i-1]).Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond))
		}
		say("%s", line)
	}
	if len(res.Attempts) != cfg.MaxAttempts {
		return res, fmt.Errorf("the email service logged %d failed attempts, want %d", len(res.Attempts), cfg.MaxAttempts)
	}

	say("\n4. The dead letter: GET %s/api/admin/dead-letters?status=dead&handler=%s", d.web, Handler)
	if err := d.wait(ctx, "the dead letter", func() (bool, error) {
		var list struct {
			DeadLetters []Letter `json:"dead_letters"`
		}
		if _, err := d.call(ctx, http.MethodGet, "/api/admin/dead-letters?status=dead&handler="+Handler, nil, &list); err != nil {
			return false, err
		}
		for _, l := range list.DeadLetters {
			if l.CorrelationID == booked.ID {
				res.Letter = l
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return nil, err
	}
	l := res.Letter
	say("   letter %s: handler %s, queue %s, %d attempts, reason %q", l.ID, l.Handler, l.Queue, l.Attempts, l.Reason)
	res.EmailsBefore = d.st.SMTP.EmailsFor(booked.ID)
	say("   the booking's email task is %q; emails received for it: %d", res.TaskBefore, res.EmailsBefore)

	say("\n5. Fix: DELETE %s/api/admin/faults/email", d.faults)
	if _, err := d.call(ctx, http.MethodDelete, "/api/admin/faults/email", nil, nil); err != nil {
		return nil, err
	}
	if err := d.wait(ctx, "the email service to clear the fault", func() (bool, error) {
		return d.logs.count("email", "faults cleared") > 0, nil
	}); err != nil {
		return nil, err
	}
	say("   email logged \"faults cleared\"")

	say("\n6. Replay: POST %s/api/admin/dead-letters/%s/replay", d.web, l.ID)
	replayed := time.Now()
	if _, err := d.call(ctx, http.MethodPost, "/api/admin/dead-letters/"+l.ID+"/replay", nil, nil); err != nil {
		return nil, err
	}
	if err := d.wait(ctx, "the email task to turn done and the email to arrive", func() (bool, error) {
		st, err := d.emailTask(ctx, booked.ID)
		res.TaskAfter = st
		return st == "done" && d.st.SMTP.EmailsFor(booked.ID) >= 1, err
	}); err != nil {
		return nil, err
	}
	took := time.Since(replayed).Round(time.Millisecond)
	// The replay's record comes after the broker confirmed the message; by
	// then a second delivery would already have had its chance to mail.
	if err := d.wait(ctx, "the dead letter marked replayed", func() (bool, error) {
		var got Letter
		_, err := d.call(ctx, http.MethodGet, "/api/admin/dead-letters/"+l.ID, nil, &got)
		return got.Status == "replayed", err
	}); err != nil {
		return nil, err
	}
	res.EmailsAfter = d.st.SMTP.EmailsFor(booked.ID)
	say("   email task %q %s after the replay; emails received for the booking (by Message-ID <%s@staybook>): %d",
		res.TaskAfter, took, booked.ID, res.EmailsAfter)
	say("   the letter's status is now \"replayed\"")
	if res.EmailsAfter != 1 {
		return res, fmt.Errorf("the booking got %d emails, want 1", res.EmailsAfter)
	}
	say("\nIn short: %d failed attempts %s apart, dead-lettered with its reason, task failed; fixed, replayed once, one email, task done.",
		len(res.Attempts), joinDurations(res.Delays()))
	return res, nil
}

func pow(x float64, n int) float64 {
	out := 1.0
	for range n {
		out *= x
	}
	return out
}

func joinDurations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Round(time.Millisecond).String()
	}
	return strings.Join(parts, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// emailTask reads the booking's email task state through the public API.
func (d *demo) emailTask(ctx context.Context, id string) (string, error) {
	var b struct {
		Tasks struct {
			Email string `json:"email"`
		} `json:"tasks"`
	}
	status, raw, err := d.request(ctx, http.MethodGet, "/api/bookings/"+id, nil, nil)
	if err != nil {
		return "", err
	}
	if status == http.StatusNotFound {
		return "", nil // not stored yet
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("GET /api/bookings/%s: %d %s", id, status, raw)
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return "", fmt.Errorf("GET /api/bookings/%s: %w", id, err)
	}
	return b.Tasks.Email, nil
}

// call is an admin request with the token; it decodes a 2xx answer into out.
func (d *demo) call(ctx context.Context, method, path string, body, out any) (int, error) {
	status, raw, err := d.request(ctx, method, path, body, map[string]string{"Authorization": "Bearer " + adminToken})
	if err != nil {
		return status, err
	}
	if status/100 != 2 {
		return status, fmt.Errorf("%s %s: %d %s", method, path, status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return status, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return status, nil
}

var client = &http.Client{Timeout: 30 * time.Second}

func (d *demo) request(ctx context.Context, method, path string, body any, header map[string]string) (int, []byte, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	base := d.web
	if strings.HasPrefix(path, "/api/admin/faults/") {
		base = d.faults // never on the public listener
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// wait polls cond until it holds, fails, or the timeout passes.
func (d *demo) wait(ctx context.Context, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, errors.Join(ctx.Err(), last))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logLines keeps the stack's output (as system/stack prefixes it,
// "<process> | <line>") and writes it on to w.
type logLines struct {
	mu    sync.Mutex
	w     io.Writer
	lines []string
	part  []byte
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.part[:i]))
		l.part = l.part[i+1:]
	}
	return l.w.Write(p)
}

func (l *logLines) of(process string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		name, rest, ok := strings.Cut(line, "|")
		if ok && strings.TrimSpace(name) == process {
			out = append(out, strings.TrimSpace(rest))
		}
	}
	return out
}

func (l *logLines) count(process, text string) int {
	n := 0
	for _, line := range l.of(process) {
		if strings.Contains(line, text) {
			n++
		}
	}
	return n
}

// attempts returns the times of the "handler attempt failed" lines of
// process for a booking, in order.
func (l *logLines) attempts(process, bookingID string) []time.Time {
	return parseAttempts(l.of(process), bookingID)
}

var timeField = regexp.MustCompile(`(?:^|\s)time=(\S+)`)

// parseAttempts reads slog text lines (time=... msg="handler attempt failed" booking_id=...).
func parseAttempts(lines []string, bookingID string) []time.Time {
	var out []time.Time
	sc := bufio.NewScanner(strings.NewReader(strings.Join(lines, "\n")))
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `msg="handler attempt failed"`) || !strings.Contains(line, "booking_id="+bookingID) {
			continue
		}
		m := timeField.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			continue
		}
		out = append(out, at)
	}
	return out
}
