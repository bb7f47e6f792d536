package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/system/stack"
)

// FaultRecord is what happened during one fault.
type FaultRecord struct {
	Name string
	// Started: the fault struck; Repaired: the broken piece is back (the
	// process restarted and ready, the server up, the letters replayed);
	// Recovered: the bookings caught in it settled, and new ones settle.
	Started, Repaired, Recovered time.Time
	// Downtime is Repaired - Started; Recovery is Recovered - Started.
	Downtime, Recovery time.Duration
	// AcceptGap is the longest time the web tier accepted no booking.
	AcceptGap time.Duration
	// Refused counts the client's attempts refused or unanswered meanwhile.
	Refused       int
	Notes         []string
	Err           string
	refusedBefore int
}

// killTriggers are log lines after which a service is in the middle of its
// work: the kill follows the line at once. (The booking service logs nothing
// per message at info level; it handles five messages per booking, so a
// kill at any moment of the stream lands mid-message.)
var killTriggers = map[string]string{
	"web":          "booking queued",          // the next requests are in flight
	"voucher":      "voucher created",         // stored, VoucherCreated not yet published
	"email":        "confirmation email sent", // recorded, ConfirmationEmailSent not yet published
	"notification": "customer notified",
	"deadletters":  "dead letter stored",
}

func (e *engine) inject(ctx context.Context, f Fault) *FaultRecord {
	rec := &FaultRecord{refusedBefore: e.refusedSoFar()}
	var err error
	switch f.Kind {
	case KindKill:
		rec.Name = "kill -9 " + f.Service
		err = e.kill(ctx, rec, f.Service)
	case KindBroker:
		rec.Name = e.cfg.Broker.Name
		err = e.disrupt(ctx, rec, e.cfg.Broker)
		e.pushRisk(window{rec.Started, rec.Repaired, "a broker fault"})
	case KindBrokerOutage:
		rec.Name = e.cfg.BrokerOutage.Name
		err = e.disrupt(ctx, rec, e.cfg.BrokerOutage)
		e.pushRisk(window{rec.Started, rec.Repaired, "a broker fault"})
	case KindBrokerFlaps:
		rec.Name = e.cfg.BrokerFlaps.Name
		err = e.disrupt(ctx, rec, e.cfg.BrokerFlaps)
		e.pushRisk(window{rec.Started, rec.Repaired, "a broker fault"})
	case KindAlarmBacklog:
		rec.Name = fmt.Sprintf("memory alarm %s while booking settles a backlog of %d", round(e.cfg.AlarmBacklog), e.cfg.Backlog)
		err = e.alarmBacklog(ctx, rec)
	case KindEmailDatabase:
		rec.Name = e.cfg.EmailDatabase.Name + ", dead letters replayed"
		err = e.emailDatabaseOutage(ctx, rec)
	case KindRollingRestart:
		rec.Name = fmt.Sprintf("rolling restart of every service, stream x%g", e.cfg.BurstFactor)
		err = e.rollingRestart(ctx, rec)
	case KindBrokerAlarm:
		rec.Name = e.cfg.BrokerAlarm.Name
		err = e.disrupt(ctx, rec, e.cfg.BrokerAlarm)
	case KindDatabase:
		rec.Name = e.cfg.Database.Name
		err = e.disrupt(ctx, rec, e.cfg.Database)
	case KindSMTP:
		rec.Name = fmt.Sprintf("SMTP server down %s, dead letters replayed", round(e.cfg.SMTPOutage))
		err = e.smtpOutage(ctx, rec)
	case KindFailpoint:
		rec.Name = "booking dies between commit and outbox forward"
		err = e.failpoint(ctx, rec)
	default:
		err = fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	if rec.Started.IsZero() {
		rec.Started = time.Now()
	}
	if rec.Repaired.IsZero() {
		rec.Repaired = time.Now()
	}
	rec.Downtime = rec.Repaired.Sub(rec.Started)
	if err != nil {
		rec.Err = err.Error()
	}
	e.mu.Lock()
	e.faults = append(e.faults, rec)
	e.mu.Unlock()
	return rec
}

func (e *engine) risk(w window) {
	e.mu.Lock()
	e.duplicateRisks = append(e.duplicateRisks, w)
	e.mu.Unlock()
}

func (e *engine) pushRisk(w window) {
	e.mu.Lock()
	e.pushRisks = append(e.pushRisks, w)
	e.mu.Unlock()
}

// kill sends SIGKILL to service right after it logs its trigger line (or
// after a few seconds without one), then starts it again.
func (e *engine) kill(ctx context.Context, rec *FaultRecord, service string) error {
	if trigger, ok := killTriggers[service]; ok {
		select {
		case <-e.logs.next(service, trigger):
			rec.Notes = append(rec.Notes, fmt.Sprintf("killed right after %q", trigger))
		case <-time.After(5 * time.Second):
			rec.Notes = append(rec.Notes, fmt.Sprintf("killed without its trigger line %q (none in 5s)", trigger))
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		sleep(ctx, rand.N(500*time.Millisecond))
	}
	rec.Started = time.Now()
	e.st.Kill(service)
	err := e.start(ctx, service)
	rec.Repaired = time.Now()
	switch service {
	case "email":
		e.risk(window{rec.Started, rec.Repaired, "the kill of the email service"})
	case "notification":
		e.pushRisk(window{rec.Started, rec.Repaired, "the kill of the notification service"})
	}
	return err
}

func (e *engine) start(ctx context.Context, service string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return e.st.Start(ctx, service)
}

func (e *engine) disrupt(ctx context.Context, rec *FaultRecord, d *Disruption) error {
	rec.Started = time.Now()
	err := d.Run(ctx)
	rec.Repaired = time.Now()
	return err
}

// smtpOutage stops Mailpit for Config.SMTPOutage, kills the deadletters
// service while the dead letters pour in, starts Mailpit again, waits until
// no more letters come, and replays every dead one through the admin API.
func (e *engine) smtpOutage(ctx context.Context, rec *FaultRecord) error {
	rec.Started = time.Now()
	stored := e.logs.next("deadletters", "dead letter stored")
	if err := e.st.Stop("mailpit", 10*time.Second); err != nil {
		rec.Notes = append(rec.Notes, "mailpit stop: "+err.Error())
	}
	e.risk(window{rec.Started, rec.Started.Add(2 * time.Second), "the stop of the SMTP server"})
	outageEnd := rec.Started.Add(e.cfg.SMTPOutage)

	select {
	case <-stored:
		killedAt := time.Now()
		e.st.Kill("deadletters")
		if err := e.start(ctx, "deadletters"); err != nil {
			return fmt.Errorf("restart deadletters: %w", err)
		}
		rec.Notes = append(rec.Notes, fmt.Sprintf("deadletters killed %s into the outage while storing letters, ready again after %s",
			round(killedAt.Sub(rec.Started)), round(time.Since(killedAt))))
	case <-time.After(time.Until(outageEnd)):
		rec.Notes = append(rec.Notes, "no dead letter during the outage: deadletters not killed")
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := sleep(ctx, time.Until(outageEnd)); err != nil {
		return err
	}
	if err := e.mail.start(ctx, e.st); err != nil {
		return fmt.Errorf("restart mailpit: %w", err)
	}
	return e.replayOutageLetters(ctx, rec, window{rec.Started, time.Now(), "SMTP outage"})
}

// replayOutageLetters notes outage as a time when email dead letters are
// expected, waits until the emails failing around its end are dead-lettered
// (within the retry budget; after that the count must stay still), and
// replays every dead letter.
func (e *engine) replayOutageLetters(ctx context.Context, rec *FaultRecord, outage window) error {
	e.mu.Lock()
	e.emailOutages = append(e.emailOutages, outage)
	e.mu.Unlock()
	back := outage.to
	db, err := pgx.Connect(ctx, e.cfg.CheckDatabaseURL("deadletters"))
	if err != nil {
		return fmt.Errorf("deadletters database: %w", err)
	}
	defer db.Close(context.Background())
	count := func() int {
		var n int
		db.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&n)
		return n
	}
	last, lastChange := count(), time.Now()
	for time.Since(back) < EmailRetryBudget || time.Since(lastChange) < 3*time.Second {
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
		if n := count(); n != last {
			last, lastChange = n, time.Now()
		}
		if time.Since(back) > 2*time.Minute {
			break
		}
	}
	replayed, err := e.replayDeadLetters(ctx)
	rec.Notes = append(rec.Notes, fmt.Sprintf("%d dead letters, %d replayed", last, replayed))
	rec.Repaired = time.Now()
	return err
}

// replayDeadLetters replays every dead letter through the admin API, page
// by page, until none is left dead.
func (e *engine) replayDeadLetters(ctx context.Context) (int, error) {
	base := e.st.URL("deadletters") + "/api/admin/dead-letters"
	replayed := 0
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		var page struct {
			DeadLetters []struct {
				ID string `json:"id"`
			} `json:"dead_letters"`
		}
		if err := e.admin(ctx, http.MethodGet, base+"?status=dead&limit=500", &page); err != nil {
			return replayed, err
		}
		if len(page.DeadLetters) == 0 {
			return replayed, nil
		}
		for _, l := range page.DeadLetters {
			if err := e.admin(ctx, http.MethodPost, base+"/"+l.ID+"/replay", nil); err != nil {
				return replayed, fmt.Errorf("replay %s: %w", l.ID, err)
			}
			replayed++
		}
	}
	return replayed, errors.New("dead letters still dead after 3 minutes of replays")
}

func (e *engine) admin(ctx context.Context, method, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body struct {
			Error any `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		return fmt.Errorf("%s %s: %s %v", method, url, resp.Status, body.Error)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// failpoint stops the booking service, runs it with the after-commit
// failpoint until it dies at its first commit, checks that the commit left
// events in the outbox, and starts the service normally.
func (e *engine) failpoint(ctx context.Context, rec *FaultRecord) error {
	rec.Started = time.Now()
	if err := e.st.Stop("booking", 30*time.Second); err != nil {
		rec.Notes = append(rec.Notes, "stop: "+err.Error())
	}
	died := e.logs.next("booking", "failpoint booking.after_commit")
	p, err := e.st.StartProgram("booking", filepath.Join(e.cfg.BinDir, "booking"), nil,
		append(e.st.Env("booking"), "STAYBOOK_FAILPOINT=booking.after_commit"))
	if err != nil {
		return err
	}
	select {
	case <-died:
		rec.Notes = append(rec.Notes, fmt.Sprintf("stopped, started with the failpoint, died at its first commit %s later", round(time.Since(rec.Started))))
	case <-p.Done():
	case <-time.After(time.Minute):
		e.st.Kill("booking")
		return errors.New("the failpoint did not fire within a minute")
	case <-ctx.Done():
		return ctx.Err()
	}
	<-p.Done()
	e.st.Stop("booking", time.Second) // forget the dead process
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) || ee.ExitCode() != 137 {
		return fmt.Errorf("booking with the failpoint exited with %v, want exit status 137", p.Err())
	}
	// The point of the exercise: the booking is committed, its events wait
	// in the outbox, nobody forwarded them.
	if n, err := e.outboxRows(ctx); err == nil {
		rec.Notes = append(rec.Notes, fmt.Sprintf("%d events left in the outbox by the dead process", n))
		if n == 0 {
			rec.Notes = append(rec.Notes, "the outbox was empty: the failpoint did not leave events behind")
		}
	}
	err = e.start(ctx, "booking")
	rec.Repaired = time.Now()
	if err != nil {
		return err
	}
	if n, err := e.outboxRows(ctx); err == nil {
		rec.Notes = append(rec.Notes, fmt.Sprintf("%d events in the outbox once the service was back", n))
	}
	return nil
}

func (e *engine) outboxRows(ctx context.Context) (int, error) { return e.outboxRowsOf(ctx, "booking") }

// outboxRowsOf counts the rows of service's outbox (shared/outbox's table).
func (e *engine) outboxRowsOf(ctx context.Context, service string) (int, error) {
	conn, err := pgx.Connect(ctx, e.cfg.CheckDatabaseURL(service))
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM watermill_outbox`).Scan(&n)
	return n, err
}

// mailpit is the run's SMTP server, keeping every message in a database
// file so that a restart loses none (the email checks count them all).
type mailpit struct {
	bin, smtp, api, db string
}

func (m mailpit) start(ctx context.Context, st *stack.Stack) error {
	p, err := st.StartProgram("mailpit", m.bin, []string{
		"--smtp", m.smtp, "--listen", m.api, "--database", m.db, "--max", "0",
		"--disable-version-check", "--smtp-disable-rdns", "--quiet",
	}, nil)
	if err != nil {
		return err
	}
	return stack.WaitHTTP(ctx, "http://"+m.api+"/api/v1/info", p, time.Minute)
}

// mailpitMessage is a message as Mailpit lists it.
type mailpitMessage struct {
	MessageID string    `json:"MessageID"`
	Created   time.Time `json:"Created"`
}

// messages lists every message Mailpit holds.
func (m mailpit) messages(ctx context.Context, client *http.Client) ([]mailpitMessage, error) {
	var all []mailpitMessage
	for start := 0; ; {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
			fmt.Sprintf("http://%s/api/v1/messages?start=%d&limit=1000", m.api, start), nil)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		var page struct {
			Total    int              `json:"total"`
			Messages []mailpitMessage `json:"messages"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("mailpit messages: %w", err)
		}
		all = append(all, page.Messages...)
		start += len(page.Messages)
		if len(page.Messages) == 0 || start >= page.Total {
			return all, nil
		}
	}
}

// messageBookingID is the booking ID of a confirmation email's Message-ID
// (<booking-id@staybook>).
func messageBookingID(messageID string) string {
	id, _, _ := strings.Cut(strings.Trim(messageID, "<>"), "@")
	return id
}

// alarmBacklog stops the booking service until commands.BookRoom holds
// Config.Backlog commands (the web tier goes on accepting), raises the
// memory alarm, starts the booking service, which settles the backlog while
// its outbox forwarder cannot publish, holds the alarm for
// Config.AlarmBacklog (longer than every publish and ack deadline), and
// clears it. The outbox must lose none of the events it holds meanwhile.
func (e *engine) alarmBacklog(ctx context.Context, rec *FaultRecord) error {
	rec.Started = time.Now()
	if err := e.st.Stop("booking", 30*time.Second); err != nil {
		rec.Notes = append(rec.Notes, "stop: "+err.Error())
	}
	depth, err := e.waitQueueDepth(ctx, messaging.BookRoomQueue, e.cfg.Backlog, 2*time.Minute)
	if err != nil {
		return err
	}
	rec.Notes = append(rec.Notes, fmt.Sprintf("%d commands queued after %s", depth, round(time.Since(rec.Started))))
	if err := e.cfg.Alarm(ctx, true); err != nil {
		return err
	}
	alarmed := time.Now()
	startErr := e.start(ctx, "booking")
	held := sleep(ctx, e.cfg.AlarmBacklog-time.Since(alarmed))
	if n, err := e.outboxRows(ctx); err == nil {
		rec.Notes = append(rec.Notes, fmt.Sprintf("%d events in the outbox at the end of the alarm", n))
	}
	clearErr := e.cfg.Alarm(context.WithoutCancel(ctx), false)
	rec.Repaired = time.Now()
	return errors.Join(startErr, held, clearErr)
}

// waitQueueDepth waits until queue holds at least n messages, or timeout
// passes (then it goes on with what there is).
func (e *engine) waitQueueDepth(ctx context.Context, queue string, n int, timeout time.Duration) (int, error) {
	conn, err := amqp091.Dial(e.cfg.CheckAMQPURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	deadline := time.Now().Add(timeout)
	for {
		ch, err := conn.Channel()
		if err != nil {
			return 0, err
		}
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		ch.Close()
		if err != nil {
			return 0, err
		}
		if q.Messages >= n || time.Now().After(deadline) {
			return q.Messages, nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return q.Messages, err
		}
	}
}

// rollingRestart stops every service gracefully (SIGTERM) and starts it
// again, one after the other, as a deployment rolls, while the stream runs
// at Config.BurstFactor times its rate. A stopping service must finish (or
// hand back) what it is doing: nothing lost, nothing done twice.
func (e *engine) rollingRestart(ctx context.Context, rec *FaultRecord) error {
	rec.Started = time.Now()
	stopBurst := e.stream.Burst(e.cfg.Rate * (e.cfg.BurstFactor - 1))
	defer stopBurst()
	var errs []error
	for _, s := range stack.Services {
		began := time.Now()
		if err := e.st.Stop(s, 40*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", s, err))
		}
		stopped := time.Since(began)
		if err := e.start(ctx, s); err != nil {
			errs = append(errs, err)
		}
		rec.Notes = append(rec.Notes, fmt.Sprintf("%s stopped in %s, back in %s", s, round(stopped), round(time.Since(began))))
	}
	rec.Repaired = time.Now()
	return errors.Join(errs...)
}

// emailDatabaseOutage cuts the email service's database connections for
// long (Config.EmailDatabase): the sends caught between the SMTP server's
// acceptance and their record wait for the database, holding their
// messages, and the other emails fail their attempts and are dead-lettered;
// those are replayed once the database is back. Nothing may be sent twice:
// no window for second copies is noted.
func (e *engine) emailDatabaseOutage(ctx context.Context, rec *FaultRecord) error {
	rec.Started = time.Now()
	if err := e.cfg.EmailDatabase.Run(ctx); err != nil {
		return err
	}
	return e.replayOutageLetters(ctx, rec, window{rec.Started, time.Now(), "email database outage"})
}
