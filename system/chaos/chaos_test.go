package chaos_test

import (
	"bytes"
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"
	"github.com/staybook/staybook/system/chaos"
	"github.com/staybook/staybook/system/stack"
)

// TestChaosShort_ConnectionLostKillsAndFailpointLoseNothing is the short
// chaos run of `make test`: the machine's RabbitMQ and PostgreSQL (a vhost
// and databases of its own), reached through TCP proxies whose connections
// it cuts, plus SIGKILLs of the booking and email services in the middle of
// the stream and the booking service dying between commit and outbox
// forward. Nothing accepted may be lost or done twice.
func TestChaosShort_ConnectionLostKillsAndFailpointLoseNothing(t *testing.T) {
	testkit.SkipIfConnectionLossUnderRace(t)
	t.Parallel()
	root, err := stack.FindRoot()
	testkit.Must(t, err)
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	mailpit, err := chaos.Build(ctx, root, filepath.Join(work, "bin"))
	testkit.Must(t, err)

	amqpURL := testkit.Vhost(t)
	dbs := map[string]string{}
	for _, s := range stack.Services {
		dbs[s] = testkit.Database(t)
	}
	broker := testkit.NewProxy(t, hostOf(t, amqpURL))
	database := testkit.NewProxy(t, hostOf(t, testkit.PostgresAdmin))
	cut := func(p *testkit.Proxy, d time.Duration) func(context.Context) error {
		return func(ctx context.Context) error {
			p.Cut()
			defer p.Restore()
			select {
			case <-time.After(d):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	logs := &testkit.Buffer{}
	progress := testWriter{t}
	report, err := chaos.Run(ctx, chaos.Config{
		Mode: "short", Root: root, BinDir: filepath.Join(work, "bin"), MailpitBin: mailpit, WorkDir: work,
		AMQPURL:          withHost(t, amqpURL, broker.Addr()),
		CheckAMQPURL:     amqpURL,
		DatabaseURL:      func(s string) string { return withHost(t, dbs[s], database.Addr()) },
		CheckDatabaseURL: func(s string) string { return dbs[s] },
		Rate:             10,
		Workers:          16,
		Faults:           chaos.ShortFaults(),
		Broker:           &chaos.Disruption{Name: "AMQP connections cut for 3s", Run: cut(broker, 3*time.Second)},
		Database:         &chaos.Disruption{Name: "PostgreSQL connections cut for 1s", Run: cut(database, time.Second)},
		Pause:            time.Second,
		Logs:             logs, Progress: progress,
	})
	testkit.Must(t, err)
	var out bytes.Buffer
	report.Print(&out)
	t.Log(out.String())
	if v := report.Violations(); len(v) > 0 {
		for _, c := range v {
			t.Errorf("%s: %s", c.Name, c.Detail)
		}
		t.Logf("last lines of the services' logs:\n%s", tail(logs.String(), 150))
	}
	if report.Stream.Accepted < 100 || len(report.Faults) != len(chaos.ShortFaults()) {
		t.Fatalf("%d bookings accepted, %d faults: the run did not happen as planned", report.Stream.Accepted, len(report.Faults))
	}
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	testkit.Must(t, err)
	return u.Host
}

func withHost(t *testing.T, raw, host string) string {
	u, err := url.Parse(raw)
	testkit.Must(t, err)
	u.Host = host
	return u.String()
}

// testWriter shows the run's progress in the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
