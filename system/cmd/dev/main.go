// Command dev runs the whole of Staybook as local processes (`make dev`):
// it builds every service and, from the tools module, Jaeger and Mailpit;
// starts them with the contract's ports and the machine's RabbitMQ and
// PostgreSQL; prints every process's log with its name; and stops them all
// on Ctrl-C or SIGTERM. Each service creates its database and migrates it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/staybook/staybook/system/stack"
)

func main() {
	if err := run(); err != nil {
		slog.Error("dev", "err", err)
		os.Exit(1)
	}
}

func run() error {
	noTools := flag.Bool("no-tools", false, "do not build and start Jaeger and Mailpit")
	services := flag.String("services", "", "comma-separated services to run (default: all)")
	flag.Parse()

	root, err := stack.FindRoot()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env := map[string]string{
		"ADMIN_TOKEN":                 getenv("ADMIN_TOKEN", "dev-admin-token"),
		"LOG_FORMAT":                  getenv("LOG_FORMAT", "text"),
		"OTEL_EXPORTER_OTLP_ENDPOINT": getenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
		"SMTP_ADDR":                   getenv("SMTP_ADDR", "127.0.0.1:1025"),
	}
	if *noTools {
		env["OTEL_EXPORTER_OTLP_ENDPOINT"] = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	cfg := stack.Config{
		Root:       root,
		AMQPURL:    getenv("AMQP_URL", "amqp://guest:guest@localhost:5672/"),
		Env:        env,
		ServiceEnv: internalListeners(),
	}
	if *services != "" {
		cfg.Services = strings.Split(*services, ",")
	}
	st := stack.New(cfg)
	cfg = st.Config()
	say := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "dev          | "+format+"\n", args...) }

	say("building %s", strings.Join(cfg.Services, ", "))
	if err := stack.Build(ctx, root, cfg.BinDir, cfg.Services); err != nil {
		return err
	}
	defer func() {
		say("stopping")
		if err := st.Close(); err != nil {
			say("stop: %v", err)
		}
		say("stopped")
	}()
	if !*noTools {
		say("building Jaeger and Mailpit (the first build takes a few minutes)")
		if err := stack.BuildTools(ctx, root, cfg.BinDir); err != nil {
			return err
		}
		if err := st.StartMailpit(ctx, stack.MailpitConfig{}); err != nil {
			return err
		}
		if err := st.StartJaeger(ctx, stack.JaegerConfig{}); err != nil {
			return err
		}
	}
	if err := st.StartAll(ctx); err != nil {
		return err
	}
	say("Staybook is running: web http://localhost:8080  mailpit http://localhost:8025  jaeger http://localhost:16686  (Ctrl-C stops)")
	say("internal listeners (pprof, web's fault switches): port + 1000, e.g. http://127.0.0.1:9080/debug/pprof/ for web")
	<-ctx.Done()
	return nil
}

func getenv(k, def string) string {
	if v, ok := os.LookupEnv(k); ok {
		return v
	}
	return def
}

// internalListeners gives every service its internal listener on loopback
// at its port + 1000 (web 9080, booking 9081, ...): net/http/pprof, and
// the web tier's fault switches.
func internalListeners() map[string]map[string]string {
	env := map[string]map[string]string{}
	for svc, port := range stack.DefaultPorts {
		env[svc] = map[string]string{"INTERNAL_ADDR": fmt.Sprintf("127.0.0.1:%d", port+1000)}
	}
	return env
}
