package adapters_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
// real mailer (go-mail, SMTP connections reused, up to one per sender, as
// the service sends) with 1 and 4 senders at once, like EMAIL_WORKERS. Each email is composed
// (text, HTML, and a real voucher attached: the voucher service's render,
// 19.8 KB) and sent. Metrics: emails/s; cpu-ms/email, the CPU time of the
// benchmark's process per email (composing and sending, plus the SMTP
// server when it runs in process); server-cpu-ms/email, Mailpit's CPU time
// per email (read from /proc, Linux only).
//
//	go test ./services/email/... -run '^$' -bench BenchmarkMailer_ConfirmationEmails -benchtime 3s
//
// The in-process go-smtp server of the tests is always there; Mailpit is
// used too when its binary is found (MAILPIT_BIN, or bin/mailpit of the
// repo): plain, as the system stack starts it, and with STARTTLS and AUTH
// required, as a mail provider would (port 587), with a certificate made
// for the run.
func BenchmarkMailer_ConfirmationEmails(b *testing.B) {
	pdf := vouchertest.RealVoucher
	servers := []struct {
		name  string
		start func(b *testing.B) smtpServer
	}{
		{"go-smtp", func(b *testing.B) smtpServer { return smtpServer{addr: smtptest.StartSMTP(b).Addr()} }},
		{"mailpit", func(b *testing.B) smtpServer { return startMailpit(b) }},
		{"mailpit-starttls-auth", startMailpitWithTLSAndAuth},
	}
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			server := srv.start(b)
			for _, workers := range []int{1, 4} {
				b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
					benchmarkSends(b, server, workers, pdf)
				})
			}
		})
	}
}

// smtpServer is a server the benchmark sends to: its address, the pid of
// its process when it runs in a process of its own, and what the mailer
// needs for TLS and AUTH when it requires them.
type smtpServer struct {
	addr     string
	pid      int
	tls      string
	username string
	roots    *x509.CertPool
}

func benchmarkSends(b *testing.B, server smtpServer, workers int, pdf []byte) {
	m, err := adapters.NewMailer(adapters.MailerConfig{
		Addr: server.addr, From: "Staybook <bookings@staybook.local>", Timeout: 10 * time.Second, MaxIdle: workers,
		TLS: server.tls, Username: server.username, Password: "secret",
	})
	testkit.Must(b, err)
	defer m.Close()
	if server.roots != nil {
		testkit.Must(b, adapters.TrustRoots(m, server.roots))
	}
	b.SetBytes(int64(len(pdf)))
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ResetTimer()
	cpuBefore := testkit.ProcessCPU(b)
	serverBefore, serverMeasured := testkit.PIDCPU(server.pid)
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
	cpu := testkit.ProcessCPU(b) - cpuBefore
	serverAfter, _ := testkit.PIDCPU(server.pid)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emails/s")
	b.ReportMetric(perEmailMillis(cpu, b.N), "cpu-ms/email")
	if serverMeasured {
		b.ReportMetric(perEmailMillis(serverAfter-serverBefore, b.N), "server-cpu-ms/email")
	}
}

func perEmailMillis(d time.Duration, n int) float64 {
	return float64(d) / float64(time.Millisecond) / float64(n)
}

// startMailpit runs Mailpit on free ports with the system stack's flags
// (system/stack) and extra ones (no message limit, so memory grows with
// b.N: keep -benchtime modest) and returns its SMTP address and pid.
func startMailpit(b *testing.B, extra ...string) smtpServer {
	bin := os.Getenv("MAILPIT_BIN")
	if bin == "" {
		bin = "../../../../bin/mailpit"
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("mailpit not found at %s (set MAILPIT_BIN)", bin)
	}
	smtpAddr, httpAddr := testkit.FreeAddr(b), testkit.FreeAddr(b)
	args := append([]string{"--smtp", smtpAddr, "--listen", httpAddr, "--max", "0",
		"--disable-version-check", "--smtp-disable-rdns", "--quiet"}, extra...)
	cmd := exec.Command(bin, args...)
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
	return smtpServer{addr: smtpAddr, pid: cmd.Process.Pid}
}

// startMailpitWithTLSAndAuth runs Mailpit requiring STARTTLS, with a
// self-signed certificate for 127.0.0.1 made for the run, and AUTH (any
// user name and password).
func startMailpitWithTLSAndAuth(b *testing.B) smtpServer {
	dir := b.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	testkit.Must(b, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	testkit.Must(b, err)
	cert, err := x509.ParseCertificate(der)
	testkit.Must(b, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	testkit.Must(b, err)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testkit.Must(b, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	testkit.Must(b, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))

	server := startMailpit(b, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile,
		"--smtp-require-starttls", "--smtp-auth-accept-any")
	server.tls, server.username = adapters.TLSStartTLS, "staybook"
	server.roots = x509.NewCertPool()
	server.roots.AddCert(cert)
	return server
}
