package adapters_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/email/internal/adapters"
	"github.com/staybook/staybook/services/email/internal/adapters/smtptest"
	"github.com/staybook/staybook/services/email/internal/adapters/vouchertest"
	"github.com/staybook/staybook/services/email/internal/domain"
)

// BenchmarkMailer_ConfirmationEmails measures emails per second through the
// real mailer (go-mail, one SMTP connection per email, as the service sends)
// with 1 and 4 senders at once, like EMAIL_WORKERS. Each email is composed
// (text, HTML, and a real voucher attached: the voucher service's render,
// 31.9 KB) and sent; the metric is emails/s.
//
//	go test ./services/email/... -run '^$' -bench BenchmarkMailer_ConfirmationEmails -benchtime 3s
//
// The in-process go-smtp server of the tests is always there; Mailpit is
// used too when its binary is found (MAILPIT_BIN, or bin/mailpit of the repo).
func BenchmarkMailer_ConfirmationEmails(b *testing.B) {
	pdf := vouchertest.RealVoucher
	servers := []struct {
		name  string
		start func(b *testing.B) string
	}{
		{"go-smtp", func(b *testing.B) string { return smtptest.StartSMTP(b).Addr() }},
		{"mailpit", startMailpit},
	}
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			addr := srv.start(b)
			for _, workers := range []int{1, 4} {
				b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
					benchmarkSends(b, addr, workers, pdf)
				})
			}
		})
	}
}

func benchmarkSends(b *testing.B, addr string, workers int, pdf []byte) {
	m, err := adapters.NewMailer(adapters.MailerConfig{
		Addr: addr, From: "Staybook <bookings@staybook.local>", Timeout: 10 * time.Second,
	})
	testkit.Must(b, err)
	b.SetBytes(int64(len(pdf)))
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				id := fmt.Sprintf("bench-%d-%d", w, i)
				c, err := domain.NewConfirmation(id, "Ann Lee", "ann@example.com", "Hotel Bench", "2026-05-01", "2026-05-03")
				if err == nil {
					var out domain.OutgoingEmail
					if out, err = domain.Compose(c, pdf); err == nil {
						err = m.Send(context.Background(), out)
					}
				}
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emails/s")
}

// startMailpit runs Mailpit on free ports (no message limit, so memory grows
// with b.N: keep -benchtime modest) and returns its SMTP address.
func startMailpit(b *testing.B) string {
	bin := os.Getenv("MAILPIT_BIN")
	if bin == "" {
		bin = "../../../../bin/mailpit"
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("mailpit not found at %s (set MAILPIT_BIN)", bin)
	}
	smtpAddr, httpAddr := testkit.FreeAddr(b), testkit.FreeAddr(b)
	cmd := exec.Command(bin, "--smtp", smtpAddr, "--listen", httpAddr, "--max", "0",
		"--disable-version-check", "--quiet")
	testkit.Must(b, cmd.Start())
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	testkit.Eventually(b, 10*time.Second, "mailpit accepts SMTP connections", func() bool {
		c, err := net.DialTimeout("tcp", smtpAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return smtpAddr
}
