package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/staybook/staybook/services/email/internal/adapters"
	"github.com/staybook/staybook/services/email/internal/adapters/smtptest"
	"github.com/staybook/staybook/services/email/internal/adapters/vouchertest"
	"github.com/staybook/staybook/services/email/internal/domain"
)

// EMAIL_EXTRA_LATENCY is waited for before the mail server is reached, and
// ends with the send's context.
func TestNewMailer_TheExtraLatencyComesFirstAndEndsWithTheContext(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartSMTP(t)
	cfg := DefaultConfig()
	cfg.SMTPAddr, cfg.SMTPTimeout, cfg.ExtraLatency = srv.Addr(), 2*time.Second, time.Hour
	mailer, err := newMailer(cfg, slog.New(slog.DiscardHandler), adapters.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mailer.Close() })
	c, err := domain.NewConfirmation("3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e01", "Ann Guest", "ann@example.com", "Hotel Aurora", "2025-06-02", "2025-06-05")
	if err != nil {
		t.Fatal(err)
	}
	out, err := domain.Compose(c, vouchertest.VoucherPDF(t, c.BookingID))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := mailer.Send(ctx, out); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("send took %s after its context ended", d)
	}
	if n := srv.Connections(); n != 0 || len(srv.Mails()) != 0 {
		t.Fatalf("%d connections, %d mails: the mail server was reached during the extra latency", n, len(srv.Mails()))
	}
}

// A claim outlives the slowest send: the extra latency and three SMTP timeouts.
func TestClaimLease_CoversTheExtraLatency(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Retry.Timeout, cfg.SMTPTimeout = time.Second, 10*time.Second
	base := claimLease(cfg)
	cfg.ExtraLatency = 2 * time.Minute
	if got := claimLease(cfg); got-base != 2*time.Minute || got <= cfg.ExtraLatency+3*cfg.SMTPTimeout {
		t.Fatalf("lease %s with a 2m extra latency, %s without", got, base)
	}
}
