// Command email is Staybook's email service: it sends each confirmed
// booking's confirmation email, with the voucher PDF attached, once, and
// publishes ConfirmationEmailSent.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/staybook/staybook/shared/faults"
	"github.com/staybook/staybook/shared/servicekit"

	"github.com/staybook/staybook/services/email/internal/adapters"
	"github.com/staybook/staybook/services/email/internal/adapters/voucherclient"
	"github.com/staybook/staybook/services/email/internal/app"
	"github.com/staybook/staybook/services/email/internal/domain"
	"github.com/staybook/staybook/services/email/internal/ports"
)

// The public server has no write timeout: a direct-mode request lasts as
// long as a send.
var program = servicekit.Program[Config]{Name: Name, Load: LoadConfig, Build: build}

func main() { program.Main() }

// build opens the email database and registers the VoucherCreated handler
// and the HTTP API. Readiness is the kit's: the broker and the database
// only. With the SMTP server down, messages wait in the queue and in
// retries, and the replica stays in rotation for the HTTP API.
func build(ctx context.Context, svc *servicekit.Service, cfg Config) error {
	db, err := svc.OpenDatabase(ctx, servicekit.Database{
		Migrations: adapters.Migrations(),
		// One per worker (held only while claiming or recording) and some for HTTP.
		MaxConns: int32(cfg.Workers) + 4,
	})
	if err != nil {
		return err
	}
	metrics := adapters.NewMetrics(svc.Metrics)
	mailer, err := newMailer(cfg, svc.Log, metrics)
	if err != nil {
		return err
	}
	svc.OnClose(mailer.Close) // after the router: no send is in flight
	vouchers, err := voucherclient.New(voucherclient.Config{
		BaseURL: cfg.VoucherURL, Timeout: cfg.VoucherTimeout,
		Transport: otelhttp.NewTransport(http.DefaultTransport), // the voucher service continues the trace
	})
	if err != nil {
		return fmt.Errorf("voucher client: %w", err)
	}
	store, err := adapters.NewEmailStore(adapters.EmailStoreConfig{Pool: db, Lease: claimLease(cfg)})
	if err != nil {
		return err
	}
	uc, err := app.NewSendConfirmationEmail(app.Config{
		Store: store, Vouchers: vouchers, Mailer: mailer, Events: svc.Events, Observer: metrics, Logger: svc.Log,
	})
	if err != nil {
		return err
	}
	how := servicekit.Handling{Policy: cfg.Retry, Instances: cfg.Workers}
	if err := svc.HandleEvent(ports.NewVoucherCreatedHandler(uc), how); err != nil {
		return err
	}
	ports.NewHTTP(ports.HTTPConfig{UseCase: uc, Emails: store, Logger: svc.Log}).Register(svc.Mux())
	svc.Log.InfoContext(ctx, "email service built", "workers", cfg.Workers, "extra_latency", cfg.ExtraLatency.String())
	return nil
}

// newMailer is the SMTP mailer, slowed down by EMAIL_EXTRA_LATENCY if set.
// It keeps up to one SMTP connection per worker open between sends.
func newMailer(cfg Config, log *slog.Logger, metrics *adapters.Metrics) (closingMailer, error) {
	mailer, err := adapters.NewMailer(adapters.MailerConfig{
		Addr: cfg.SMTPAddr, From: cfg.EmailFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
		TLS: cfg.SMTPTLS, Timeout: cfg.SMTPTimeout, MaxIdle: cfg.Workers, Observe: metrics.SMTPSend, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}
	if cfg.ExtraLatency > 0 { // the story's "the mail provider takes about 0.5 s"
		return slowMailer{closingMailer: mailer, delay: cfg.ExtraLatency}, nil
	}
	return mailer, nil
}

// closingMailer is a mailer that holds connections until Close.
type closingMailer interface {
	app.Mailer
	Close() error
}

// claimLease is how long a claim on a booking's email lasts: it must
// outlive the longest send (an attempt, or a direct-mode request's SMTP
// session, the extra latency included) plus recording it, or a live sender
// could be taken over; longer only delays the resend after a crash.
func claimLease(cfg Config) time.Duration {
	return max(cfg.Retry.Timeout, cfg.ExtraLatency+3*cfg.SMTPTimeout) + adapters.DefaultRecordTimeout + 10*time.Second
}

// slowMailer is the demo's slow mail provider (EMAIL_EXTRA_LATENCY): every
// send waits first, under the booking's claim, and gives up when its
// context ends.
type slowMailer struct {
	closingMailer
	delay time.Duration
}

func (s slowMailer) Send(ctx context.Context, email domain.OutgoingEmail) error {
	if err := faults.Delay(ctx, s.delay); err != nil {
		return fmt.Errorf("extra latency: %w", err)
	}
	return s.closingMailer.Send(ctx, email)
}
