// Command chaos is the full chaos run (`make chaos`): it starts a RabbitMQ
// node and a PostgreSQL cluster of its own on other ports (nobody's running
// services are disturbed), runs Staybook on them with a steady stream of
// bookings, kills every service, restarts RabbitMQ and PostgreSQL, takes the
// SMTP server away, kills the booking service between commit and outbox
// forward, stops RabbitMQ for 90 s, holds a memory alarm for 90 s while the
// booking service settles a backlog, and restarts every service in turn
// during a burst; then prints what it checked and how long each recovery
// took. It exits 1 if a check failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/staybook/staybook/shared/testkit"
	"github.com/staybook/staybook/system/chaos"
	"github.com/staybook/staybook/system/stack"
)

func main() {
	code, err := run()
	if err != nil {
		slog.Error("chaos", "err", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run() (int, error) {
	rate := flag.Float64("rate", 20, "bookings per second (the machine has 2 cores shared by everything the run starts)")
	logFile := flag.String("logs", "", "file for every process's output (default: in the run's folder, kept)")
	markdown := flag.String("markdown", "", "also write the figures as Markdown tables to this file")
	pgStop := flag.String("pg-stop-mode", "immediate", "how PostgreSQL is stopped for its restart: immediate (a crash), fast or smart")
	pgDown := flag.Duration("pg-down", 0, "how long PostgreSQL stays stopped during its restart")
	brokerKill := flag.Bool("broker-kill", false, "kill RabbitMQ (SIGKILL) instead of stopping it with rabbitmqctl")
	brokerDown := flag.Duration("broker-down", 0, "how long RabbitMQ stays stopped during its restart")
	bookingsCSV := flag.String("bookings", "", "write every booking's timeline to this CSV file")
	alarm := flag.Duration("alarm", 15*time.Second, "how long RabbitMQ's memory alarm blocks the publishers (0: no such fault)")
	brokerOutage := flag.Duration("broker-outage", 90*time.Second, "how long RabbitMQ stays stopped in the long broker outage (0: no such fault)")
	alarmBacklog := flag.Duration("alarm-backlog", 90*time.Second, "how long the memory alarm holds while the booking service settles a backlog (0: no such fault)")
	backlog := flag.Int("backlog", 0, "commands queued before that alarm (default: 15 s of the stream)")
	emailDBOutage := flag.Duration("email-db-outage", 90*time.Second, "how long the email service's database connections stay cut: longer than the 70 s claim lease and the 30 s a sent email's record was once given (0: no such fault)")
	burst := flag.Float64("burst", 3, "the stream's rate during the rolling restart, as a multiple of -rate (0: no rolling restart)")
	only := flag.String("only", "", "run only these faults, comma-separated: kill:<service>, broker, database, smtp, failpoint, broker-alarm, broker-outage, alarm-backlog, email-database, rolling-restart, broker-flaps")
	flaps := flag.Int("flaps", 10, "how many times the last fault cuts the broker connections (0: no such fault)")
	queueType := flag.String("queue-type", "classic", "AMQP_QUEUE_TYPE of the services: classic or quorum")
	keep := flag.Bool("keep", false, "keep the run's folder (RabbitMQ and PostgreSQL data, Mailpit's database)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := stack.FindRoot()
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "staybook-chaos-")
	if err != nil {
		return 0, err
	}
	// PostgreSQL runs as the postgres user, who must reach its folder inside.
	if err := os.Chmod(dir, 0o755); err != nil {
		return 0, err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	say := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "chaos        | "+format+"\n", args...) }

	if *logFile == "" {
		*logFile = filepath.Join(os.TempDir(), fmt.Sprintf("staybook-chaos-%s.log", time.Now().Format("20060102-150405")))
	}
	logs, err := os.Create(*logFile)
	if err != nil {
		return 0, err
	}
	defer logs.Close()
	say("process logs: %s", *logFile)

	binDir := filepath.Join(dir, "bin")
	say("building the services")
	mailpit, err := chaos.Build(ctx, root, binDir)
	if err != nil {
		return 0, err
	}

	infra := stack.New(stack.Config{Root: root, Services: []string{}, Logs: logs})
	defer infra.Close()
	rabbit, err := chaos.NewRabbitNode(filepath.Join(dir, "rabbitmq"), infra)
	if err != nil {
		return 0, err
	}
	rabbit.Crash, rabbit.Down = *brokerKill, *brokerDown
	say("starting RabbitMQ node %s (amqp 127.0.0.1:%d, management 127.0.0.1:%d)", rabbit.Node, rabbit.AMQPPort, rabbit.ManagementPort)
	if err := rabbit.Start(ctx); err != nil {
		return 0, err
	}
	defer rabbit.Stop(context.Background())

	// The services reach the node through a proxy, so that the last fault
	// can make their connections flap; the checks go to the node directly.
	proxy, err := testkit.StartProxy(fmt.Sprintf("127.0.0.1:%d", rabbit.AMQPPort))
	if err != nil {
		return 0, err
	}
	defer proxy.Close()
	proxied := strings.Replace(rabbit.URL(), fmt.Sprintf("127.0.0.1:%d", rabbit.AMQPPort), proxy.Addr(), 1)

	pg, err := chaos.NewPostgresCluster(ctx, filepath.Join(dir, "postgres"))
	if err != nil {
		return 0, err
	}
	pg.StopMode, pg.Down = *pgStop, *pgDown
	say("starting PostgreSQL on 127.0.0.1:%d", pg.Port)
	if err := pg.Start(ctx); err != nil {
		return 0, err
	}
	defer pg.Close()

	// The email service reaches its database through a proxy of its own, so
	// that one fault can cut it off for long while the others go on.
	emailDB, err := testkit.StartProxy(fmt.Sprintf("127.0.0.1:%d", pg.Port))
	if err != nil {
		return 0, err
	}
	defer emailDB.Close()

	var bookings *os.File
	if *bookingsCSV != "" {
		if bookings, err = os.Create(*bookingsCSV); err != nil {
			return 0, err
		}
		defer bookings.Close()
	}
	brokerName := "RabbitMQ restarted (rabbitmqctl stop, start)"
	if *brokerKill {
		brokerName = "RabbitMQ killed (SIGKILL) and started"
	}
	if *brokerDown > 0 {
		brokerName += fmt.Sprintf(", down %s", *brokerDown)
	}
	pgName := fmt.Sprintf("PostgreSQL restarted (pg_ctl stop -m %s, start)", *pgStop)
	if *pgDown > 0 {
		pgName += fmt.Sprintf(", down %s", *pgDown)
	}
	cfg := chaos.Config{
		Mode: "full", Root: root, BinDir: binDir, MailpitBin: mailpit, WorkDir: dir,
		AMQPURL:      proxied,
		CheckAMQPURL: rabbit.URL(),
		DatabaseURL: func(s string) string {
			u := pg.URL("staybook_" + s)
			if s == "email" {
				u = strings.Replace(u, fmt.Sprintf("127.0.0.1:%d", pg.Port), emailDB.Addr(), 1)
			}
			return u
		},
		CheckDatabaseURL: func(s string) string { return pg.URL("staybook_" + s) },
		Env:              map[string]string{"AMQP_QUEUE_TYPE": *queueType},
		Rate:             *rate,
		Faults:           chaos.FullFaults(),
		Broker:           &chaos.Disruption{Name: brokerName, Run: rabbit.Restart},
		BrokerAlarm: &chaos.Disruption{Name: fmt.Sprintf("RabbitMQ memory alarm for %s (publishers blocked)", *alarm),
			Run: func(ctx context.Context) error { return rabbit.Alarm(ctx, *alarm) }},
		BrokerFlaps: &chaos.Disruption{Name: fmt.Sprintf("RabbitMQ connections cut %d times for 200ms, 1s apart", *flaps),
			Run: func(ctx context.Context) error { return proxy.Flap(ctx, *flaps, 200*time.Millisecond, time.Second) }},
		BrokerOutage: &chaos.Disruption{Name: fmt.Sprintf("RabbitMQ stopped for %s", *brokerOutage),
			Run: func(ctx context.Context) error { return rabbit.Outage(ctx, *brokerOutage) }},
		EmailDatabase: &chaos.Disruption{Name: fmt.Sprintf("email database cut for %s", *emailDBOutage),
			Run: func(ctx context.Context) error { return emailDB.Flap(ctx, 1, *emailDBOutage, 0) }},
		Alarm:        rabbit.SetAlarm,
		AlarmBacklog: *alarmBacklog,
		Backlog:      *backlog,
		BurstFactor:  *burst,
		Database:     &chaos.Disruption{Name: pgName, Run: pg.Restart},
		Logs:         logs, Progress: os.Stderr,
	}
	if bookings != nil {
		cfg.Bookings = bookings
	}
	chosen := strings.Split(*only, ",")
	cfg.Faults = slices.DeleteFunc(cfg.Faults, func(f chaos.Fault) bool {
		return (f.Kind == chaos.KindBrokerFlaps && *flaps == 0) || (f.Kind == chaos.KindBrokerAlarm && *alarm == 0) ||
			(f.Kind == chaos.KindBrokerOutage && *brokerOutage == 0) || (f.Kind == chaos.KindAlarmBacklog && *alarmBacklog == 0) ||
			(f.Kind == chaos.KindRollingRestart && *burst == 0) || (f.Kind == chaos.KindEmailDatabase && *emailDBOutage == 0) ||
			(*only != "" && !slices.Contains(chosen, f.String()))
	})
	report, err := chaos.Run(ctx, cfg)
	if err != nil {
		return 0, err
	}
	report.Print(os.Stdout)
	if *markdown != "" {
		f, err := os.Create(*markdown)
		if err != nil {
			return 0, err
		}
		report.Markdown(f)
		if err := f.Close(); err != nil {
			return 0, err
		}
	}
	if v := report.Violations(); len(v) > 0 {
		fmt.Printf("\n%d checks failed; process logs in %s\n", len(v), *logFile)
		return 1, nil
	}
	return 0, nil
}
