// Package chaos is Staybook's chaos suite: it runs the real service
// binaries, keeps a steady stream of bookings flowing through the web tier
// as customers would (an Idempotency-Key each, retried with the same key
// until accepted), and meanwhile, one fault at a time, kills services with
// SIGKILL in the middle of their work, restarts (or cuts the connections to)
// RabbitMQ and PostgreSQL, takes the SMTP server away for longer than the
// email retries last and replays the dead letters, and kills the booking
// service between its commit and its outbox forward. Then it checks that
// nothing accepted was lost or done twice, and reports how long each
// recovery took.
//
// The full run (cmd/chaos, `make chaos`) brings its own RabbitMQ node and
// PostgreSQL cluster on other ports so that it can restart them; the short
// run (TestChaosShort...) uses the machine's, isolated by vhost and
// databases, and cuts connections through TCP proxies instead.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/staybook/staybook/shared/testkit"
	"github.com/staybook/staybook/system/stack"
)

// Disruption breaks a piece of infrastructure and repairs it; Run returns
// once it is repaired (the server restarted, the connections let back in).
type Disruption struct {
	Name string
	Run  func(ctx context.Context) error
}

// FaultKind is what a fault does.
type FaultKind string

// Kinds of faults.
const (
	// KindKill: SIGKILL a service while it handles messages, then start it.
	KindKill FaultKind = "kill"
	// KindBroker: Config.Broker (restart RabbitMQ, or cut the connections).
	KindBroker FaultKind = "broker"
	// KindDatabase: Config.Database (restart PostgreSQL, or cut the connections).
	KindDatabase FaultKind = "database"
	// KindSMTP: stop the SMTP server for longer than the email retries
	// last (SIGKILL the deadletters service while the dead letters pour
	// in), start it again and replay the dead letters.
	KindSMTP FaultKind = "smtp"
	// KindBrokerFlaps: Config.BrokerFlaps (the broker connections cut
	// again and again, briefly).
	KindBrokerFlaps FaultKind = "broker-flaps"
	// KindBrokerAlarm: Config.BrokerAlarm (RabbitMQ blocks publishers).
	KindBrokerAlarm FaultKind = "broker-alarm"
	// KindFailpoint: run the booking service with STAYBOOK_FAILPOINT=
	// booking.after_commit, which exits right after a booking commits and
	// before its outbox rows are forwarded; then start it normally.
	KindFailpoint FaultKind = "failpoint"
	// KindBrokerOutage: Config.BrokerOutage (RabbitMQ stopped for long:
	// longer than every publish, ack and retry deadline of the services).
	KindBrokerOutage FaultKind = "broker-outage"
	// KindAlarmBacklog: the booking service stopped until commands.BookRoom
	// holds a backlog, then RabbitMQ's memory alarm raised (Config.Alarm)
	// and the booking service started: it settles the backlog while every
	// publisher, its outbox forwarder included, is blocked for
	// Config.AlarmBacklog; then the alarm is cleared.
	KindAlarmBacklog FaultKind = "alarm-backlog"
	// KindEmailDatabase: Config.EmailDatabase (the email service's database
	// connections cut for long: longer than recording a sent email once
	// gave it, and than its claim's lease); the email dead letters of the
	// outage are replayed afterwards. No email may be sent twice.
	KindEmailDatabase FaultKind = "email-database"
	// KindRollingRestart: every service stopped (SIGTERM, the way a
	// deployment rolls) and started again, one after the other, while the
	// stream runs at Config.BurstFactor times its rate.
	KindRollingRestart FaultKind = "rolling-restart"
)

// Fault is one step of a run.
type Fault struct {
	Kind    FaultKind
	Service string // for KindKill
}

// String names the fault as the -only flag of cmd/chaos takes it: the
// kind, or "kill:<service>".
func (f Fault) String() string {
	if f.Kind == KindKill {
		return "kill:" + f.Service
	}
	return string(f.Kind)
}

// Kill is a KindKill fault of service.
func Kill(service string) Fault { return Fault{Kind: KindKill, Service: service} }

// FullFaults is the full run: every service killed, RabbitMQ and PostgreSQL
// restarted, the SMTP outage, the failpoint, RabbitMQ's memory alarm, the
// long faults (RabbitMQ stopped for long, the memory alarm held while the
// booking service settles a backlog), a rolling restart of every service
// during a burst; and, last because it may leave the system unable to
// publish, the broker connections flapping.
func FullFaults() []Fault {
	return []Fault{
		Kill("web"), Kill("booking"), Kill("voucher"), Kill("email"), Kill("notification"), Kill("deadletters"),
		{Kind: KindBroker}, {Kind: KindDatabase}, {Kind: KindSMTP}, {Kind: KindFailpoint},
		{Kind: KindBrokerAlarm}, {Kind: KindBrokerOutage}, {Kind: KindAlarmBacklog}, {Kind: KindEmailDatabase},
		{Kind: KindRollingRestart},
		{Kind: KindBrokerFlaps},
	}
}

// ShortFaults is the short run of `make test`.
func ShortFaults() []Fault {
	return []Fault{Kill("booking"), Kill("email"), {Kind: KindFailpoint}, {Kind: KindBroker}, {Kind: KindDatabase}}
}

// Config configures a run.
type Config struct {
	// Mode names the run in the report ("full", "short").
	Mode string
	// Root is the repository root; BinDir holds the built services
	// (see Build); MailpitBin is the Mailpit binary.
	Root, BinDir, MailpitBin string
	// WorkDir holds the run's files (Mailpit's database).
	WorkDir string
	// AMQPURL and DatabaseURL are what the services connect to.
	AMQPURL     string
	DatabaseURL func(service string) string
	// CheckAMQPURL and CheckDatabaseURL are what the checks use (the same
	// servers without a proxy in between); they default to the above.
	CheckAMQPURL     string
	CheckDatabaseURL func(service string) string
	// Env is added to every service's environment.
	Env map[string]string
	// Rate is bookings per second; Workers the client's concurrency.
	Rate    float64
	Workers int
	Faults  []Fault
	// Broker, BrokerFlaps, BrokerAlarm, BrokerOutage and Database run the
	// faults of those kinds.
	Broker, BrokerFlaps, BrokerAlarm, BrokerOutage, Database, EmailDatabase *Disruption
	// Alarm raises (on) or clears RabbitMQ's memory alarm, for
	// KindAlarmBacklog, which holds it for AlarmBacklog (90 s by default)
	// once commands.BookRoom holds Backlog commands (Rate x 15 s by default).
	Alarm        func(ctx context.Context, on bool) error
	AlarmBacklog time.Duration
	Backlog      int
	// BurstFactor multiplies the stream's rate during KindRollingRestart (3
	// by default).
	BurstFactor float64
	// SMTPOutage is how long the SMTP server stays away: longer than the
	// email retries (EmailRetryBudget) last.
	SMTPOutage time.Duration
	// Pause is the calm time between one fault's recovery and the next fault.
	Pause time.Duration
	// RecoveryTimeout bounds the wait for recovery after a fault;
	// SettleTimeout the final wait for every booking to settle.
	RecoveryTimeout, SettleTimeout time.Duration
	// Logs receives every process's output; Progress a line per step;
	// Bookings, if set, a CSV line per booking (its timeline in the run).
	Logs, Progress, Bookings io.Writer
}

// Email retries during a run: few attempts, so that the SMTP outage
// outlasts them; the budget is their waits at most (1 s + 2 s + 4 s, each
// +20 % jitter) plus the attempts themselves.
const (
	emailMaxAttempts     = 4
	emailInitialInterval = time.Second
	// EmailRetryBudget is the longest an email is retried before it is dead-lettered.
	EmailRetryBudget = 9 * time.Second
)

// AdminToken is the ADMIN_TOKEN of the run's services.
const AdminToken = "chaos-admin-token"

func (c *Config) defaults() error {
	if c.Root == "" || c.BinDir == "" || c.MailpitBin == "" || c.WorkDir == "" || c.AMQPURL == "" || c.DatabaseURL == nil {
		return errors.New("chaos: Root, BinDir, MailpitBin, WorkDir, AMQPURL and DatabaseURL are required")
	}
	if c.Mode == "" {
		c.Mode = "custom"
	}
	if c.CheckAMQPURL == "" {
		c.CheckAMQPURL = c.AMQPURL
	}
	if c.CheckDatabaseURL == nil {
		c.CheckDatabaseURL = c.DatabaseURL
	}
	if c.Rate <= 0 {
		c.Rate = 30
	}
	if c.Workers <= 0 {
		c.Workers = 32
	}
	if c.SMTPOutage == 0 {
		c.SMTPOutage = 2*EmailRetryBudget + 2*time.Second
	}
	if c.Pause == 0 {
		c.Pause = 4 * time.Second
	}
	if c.RecoveryTimeout == 0 {
		c.RecoveryTimeout = 2 * time.Minute
	}
	if c.SettleTimeout == 0 {
		c.SettleTimeout = 3 * time.Minute
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.AlarmBacklog == 0 {
		c.AlarmBacklog = 90 * time.Second
	}
	if c.Backlog == 0 {
		c.Backlog = int(c.Rate * 15)
	}
	if c.BurstFactor == 0 {
		c.BurstFactor = 3
	}
	for _, f := range c.Faults {
		if (f.Kind == KindBroker && c.Broker == nil) || (f.Kind == KindDatabase && c.Database == nil) ||
			(f.Kind == KindBrokerFlaps && c.BrokerFlaps == nil) || (f.Kind == KindBrokerAlarm && c.BrokerAlarm == nil) ||
			(f.Kind == KindBrokerOutage && c.BrokerOutage == nil) || (f.Kind == KindAlarmBacklog && c.Alarm == nil) ||
			(f.Kind == KindEmailDatabase && c.EmailDatabase == nil) {
			return fmt.Errorf("chaos: fault %s needs its Disruption in the Config", f.Kind)
		}
	}
	return nil
}

// Build compiles the services into binDir and returns the Mailpit binary:
// root/bin/mailpit if `make tools` built it, else one built into binDir.
func Build(ctx context.Context, root, binDir string) (mailpit string, err error) {
	if err := stack.Build(ctx, root, binDir, stack.Services); err != nil {
		return "", err
	}
	if p := filepath.Join(root, "bin", "mailpit"); fileExists(p) {
		return p, nil
	}
	if err := stack.BuildTools(ctx, root, binDir); err != nil {
		return "", err
	}
	return filepath.Join(binDir, "mailpit"), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// window is a stretch of time during which something happened.
type window struct {
	from, to time.Time
	what     string
}

func (w window) contains(t time.Time, slack time.Duration) bool {
	return !t.Before(w.from.Add(-slack)) && !t.After(w.to.Add(slack))
}

// distance is how far t is from the window (0 inside it).
func (w window) distance(t time.Time) time.Duration {
	switch {
	case t.Before(w.from):
		return w.from.Sub(t)
	case t.After(w.to):
		return t.Sub(w.to)
	}
	return 0
}

// engine is one run.
type engine struct {
	cfg     Config
	st      *stack.Stack
	logs    *logWatch
	tracker *tracker
	stream  *stream
	mail    mailpit
	push    *pushGateway
	client  *http.Client
	started time.Time

	mu     sync.Mutex
	faults []*FaultRecord
	// emailOutages are when the SMTP server or the email database was away
	// (email dead letters expected);
	// duplicateRisks when a second copy of an email is explainable (the
	// email service killed, the database or SMTP server gone mid-send).
	emailOutages, duplicateRisks []window
	// pushRisks when a second push is explainable (the notification
	// service killed, the broker connections lost mid-push).
	pushRisks []window
}

// Run runs the system, the stream and the faults, and checks the outcome.
// An error means the run could not be carried out; what the checks found
// is in the report (Report.Violations).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	startLoad := loadAverage()
	e := &engine{
		cfg: cfg, logs: newLogWatch(cfg.Logs), tracker: newTracker(),
		client: &http.Client{Timeout: 30 * time.Second}, started: time.Now(),
	}
	defer e.client.CloseIdleConnections()
	push, err := startPushGateway()
	if err != nil {
		return nil, err
	}
	defer push.Close()
	e.push = push
	if err := e.startSystem(ctx); err != nil {
		if e.st != nil {
			e.st.Close()
		}
		return nil, err
	}
	defer e.st.Close()

	pollCtx, stopPolling := context.WithCancel(ctx)
	var polling sync.WaitGroup
	polling.Add(1)
	go func() {
		defer polling.Done()
		e.tracker.poll(pollCtx, cfg.CheckDatabaseURL("booking"), 200*time.Millisecond)
	}()
	defer func() {
		stopPolling()
		polling.Wait()
	}()

	e.stream = newStream(e.st.URL("web"), cfg.Rate, cfg.Workers, randomHex(3), e.tracker)
	e.stream.Start()
	streaming := true
	defer func() {
		if streaming {
			e.stream.Stop()
		}
	}()
	e.say("stream: %.0f bookings/s through %s/api/bookings", cfg.Rate, e.st.URL("web"))
	if err := e.warmUp(ctx); err != nil {
		return nil, err
	}
	for _, f := range cfg.Faults {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		rec := e.inject(ctx, f)
		e.awaitRecovery(ctx, rec)
		e.say("%s: down %s, recovered after %s%s", rec.Name, round(rec.Downtime), recoveryText(rec), errText(rec.Err))
	}
	e.stream.Stop()
	streaming = false
	e.say("stream stopped; waiting for every booking to settle")
	e.settleAll(ctx)
	stopPolling()
	polling.Wait()
	report := e.check(ctx)
	report.Notes = append(report.Notes, "load average at the start: "+startLoad+"; at the end: "+loadAverage())
	if cfg.Bookings != nil {
		e.writeBookings(cfg.Bookings)
	}
	return report, nil
}

// writeBookings writes every booking's timeline, in seconds from the
// start of the run, with the faults as comment lines.
func (e *engine) writeBookings(w io.Writer) {
	sec := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return strconv.FormatFloat(t.Sub(e.started).Seconds(), 'f', 3, 64)
	}
	e.mu.Lock()
	for _, f := range e.faults {
		fmt.Fprintf(w, "# %s: started %s, repaired %s, recovered %s\n", f.Name, sec(f.Started), sec(f.Repaired), sec(f.Recovered))
	}
	e.mu.Unlock()
	fmt.Fprintln(w, "key,id,scarce,first_try,accepted,attempts,status,voucher,email,notification,final,voucher_done,email_done,notification_done,settled")
	for _, b := range e.tracker.snapshot() {
		fmt.Fprintf(w, "%s,%s,%t,%s,%s,%d,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", b.Key, b.ID, b.Scarce, sec(b.FirstTry), sec(b.AcceptedAt), b.Attempts,
			b.Status, b.Voucher, b.Email, b.Notify, sec(b.FinalAt), sec(b.VoucherAt), sec(b.EmailAt), sec(b.NotifyAt), sec(b.SettledAt))
	}
}

func (e *engine) say(format string, args ...any) {
	fmt.Fprintf(e.cfg.Progress, "chaos %6s | %s\n", round(time.Since(e.started)), fmt.Sprintf(format, args...))
}

// startSystem starts Mailpit and every service on free ports.
func (e *engine) startSystem(ctx context.Context) error {
	ports, err := testkit.FreePorts(len(stack.Services) + 2)
	if err != nil {
		return err
	}
	portOf := map[string]int{}
	for i, s := range stack.Services {
		portOf[s] = ports[i]
	}
	e.mail = mailpit{
		bin:  e.cfg.MailpitBin,
		smtp: "127.0.0.1:" + strconv.Itoa(ports[len(stack.Services)]),
		api:  "127.0.0.1:" + strconv.Itoa(ports[len(stack.Services)+1]),
		db:   filepath.Join(e.cfg.WorkDir, "mailpit.db"),
	}
	env := map[string]string{
		"LOG_FORMAT": "text", "LOG_LEVEL": "info", "ADMIN_TOKEN": AdminToken,
		"OTEL_EXPORTER_OTLP_ENDPOINT": "", "SHUTDOWN_TIMEOUT": "10s",
		"SMTP_ADDR":                                e.mail.smtp,
		"SEND_CONFIRMATION_EMAIL_MAX_ATTEMPTS":     strconv.Itoa(emailMaxAttempts),
		"SEND_CONFIRMATION_EMAIL_INITIAL_INTERVAL": emailInitialInterval.String(),
		"SEND_CONFIRMATION_EMAIL_MULTIPLIER":       "2",
		"NTFY_URL":                                 e.push.URL(),
		"NTFY_TOPIC_SECRET":                        "chaos-run-topic-secret",
	}
	for k, v := range e.cfg.Env {
		env[k] = v
	}
	e.st = stack.New(stack.Config{
		Root: e.cfg.Root, BinDir: e.cfg.BinDir, Services: stack.Services, Ports: portOf,
		AMQPURL: e.cfg.AMQPURL, DatabaseURL: e.cfg.DatabaseURL, Env: env, Logs: e.logs,
	})
	if err := e.mail.start(ctx, e.st); err != nil {
		return err
	}
	e.say("mailpit: smtp %s, api http://%s", e.mail.smtp, e.mail.api)
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := e.st.StartAll(startCtx); err != nil {
		return fmt.Errorf("start the services: %w", err)
	}
	e.say("services ready: web %s", e.st.URL("web"))
	return nil
}

// warmUp waits until bookings flow end to end before the first fault.
func (e *engine) warmUp(ctx context.Context) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		settled := 0
		for _, b := range e.tracker.snapshot() {
			if !b.SettledAt.IsZero() {
				settled++
			}
		}
		if settled >= 20 && time.Since(e.stream.start) > 5*time.Second {
			e.say("warm: %d bookings settled", settled)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no steady stream before the faults: %d bookings settled after 90s, stream %+v", settled, e.stream.Stats())
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// awaitRecovery waits until the stream recovered from rec's fault (see recovery).
func (e *engine) awaitRecovery(ctx context.Context, rec *FaultRecord) {
	deadline := time.Now().Add(e.cfg.RecoveryTimeout)
	for {
		if at, ok := recovery(e.tracker.snapshot(), rec.Started, rec.Repaired, 5*time.Second); ok {
			rec.Recovered = at
			rec.Recovery = at.Sub(rec.Started)
			break
		}
		if time.Now().After(deadline) || sleep(ctx, 100*time.Millisecond) != nil {
			rec.Notes = append(rec.Notes, fmt.Sprintf("not recovered within %s of the repair", e.cfg.RecoveryTimeout))
			break
		}
	}
	end := rec.Recovered
	if end.IsZero() {
		end = time.Now()
	}
	rec.AcceptGap = longestAcceptGap(e.tracker.snapshot(), rec.Started, end)
	rec.Refused = e.refusedSoFar() - rec.refusedBefore
	// A pause between faults, so that each recovery is measured on its own
	// and the stream runs calm for a while (the yardstick latency).
	sleep(ctx, e.cfg.Pause)
}

func (e *engine) refusedSoFar() int {
	n := 0
	for _, v := range e.stream.Stats().Refused {
		n += v
	}
	return n
}

// settleAll waits for every accepted booking to settle.
func (e *engine) settleAll(ctx context.Context) {
	deadline := time.Now().Add(e.cfg.SettleTimeout)
	for e.tracker.unsettledCount() > 0 && time.Now().Before(deadline) {
		if sleep(ctx, 200*time.Millisecond) != nil {
			return
		}
	}
}

// sleep waits d or until ctx ends. It paces the run (an outage held for
// its length, a poll interval); conditions are waited for by polling.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// loadAverage is the machine's load average over 1, 5 and 15 minutes: the
// figures of a run depend on what else the machine is doing.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func round(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return d
	case d < 10*time.Second:
		return d.Round(10 * time.Millisecond)
	default:
		return d.Round(100 * time.Millisecond)
	}
}

func recoveryText(r *FaultRecord) string {
	if r.Recovered.IsZero() {
		return "never"
	}
	return round(r.Recovery).String()
}

func errText(err string) string {
	if err == "" {
		return ""
	}
	return " (error: " + err + ")"
}
