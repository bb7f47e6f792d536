package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/staybook/staybook/loadtest/internal/report"
	"github.com/staybook/staybook/shared/testkit"
)

// buildLoadTest builds this command into dir/name and returns its path.
func buildLoadTest(t *testing.T, dir, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name, "loadtest")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// fakeRunArgs: a run against the fake web tier that would last minutes,
// load and drain, if nothing stopped it (every fourth booking stays
// pending), with clients that wait 2 minutes for an answer.
func fakeRunArgs(target, out, duration string) []string {
	return []string{"run", "-target", target, "-scenario", "book", "-rate", "20", "-duration", duration, "-timeout", "2m",
		"-drain-timeout", "5m", "-repeat-share", "-1", "-amqp-url", "", "-booking-url", "", "-voucher-url", "", "-email-url", "",
		"-notification-url", "", "-mailpit-url", "", "-jaeger-url", "", "-seed", "5", "-out", out}
}

// readSummary reads a stopped run's summary.json: it must say so.
func readSummary(t *testing.T, dir string) report.Summary {
	t.Helper()
	var s report.Summary
	raw, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatalf("summary.json not written: %v", err)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if !s.Interrupted || s.Requests == 0 || s.Late == 0 || s.Lost != 0 {
		t.Fatalf("summary: interrupted %v, requests %d, late %d, lost %d: want a stopped run's figures, the pending bookings late",
			s.Interrupted, s.Requests, s.Late, s.Lost)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Fatalf("report.html not written: %v", err)
	}
	return s
}

// TestLoadTest_StopsPromptlyOnSIGTERMWithItsSummary runs the built load
// test against a fake web tier and sends SIGTERM during the load (a run of
// 5 minutes, one booking request in three unanswered) and during the drain
// (a 5-minute drain timeout): it must stop within the stopped drain
// (run.StoppedDrain, 5 s) and a margin, well before the requests in flight
// would give up (2 minutes), print its summary and write its report.
func TestLoadTest_StopsPromptlyOnSIGTERMWithItsSummary(t *testing.T) {
	bin := buildLoadTest(t, t.TempDir(), "bin")
	for name, c := range map[string]struct {
		duration, when string
		slowEvery      int64
	}{
		"during the load":  {duration: "5m", when: "accepted ", slowEvery: 3},
		"during the drain": {duration: "1s", when: "drain: ", slowEvery: 1 << 62},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			web := slowWeb(t, c.slowEvery, 10*time.Minute) // of its own: bookings ...4 stay pending
			dir := t.TempDir()
			out := &testkit.Buffer{}
			cmd := exec.Command(bin, fakeRunArgs(web.URL, dir, c.duration)...)
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			testkit.Eventually(t, 30*time.Second, "the run reached "+name, func() bool { return strings.Contains(out.String(), c.when) })

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			select {
			case err := <-done:
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != exitLate {
					t.Fatalf("exit: %v, want %d (late: the fake leaves bookings pending)\n%s", err, exitLate, out.String())
				}
				t.Logf("stopped %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
			case <-time.After(45 * time.Second):
				t.Fatalf("still running 45 s after SIGTERM\n%s", tail(out.String(), 20))
			}
			for _, want := range []string{"stopped: ", "lost 0, duplicated 0, late ", "report: "} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, tail(out.String(), 30))
				}
			}
			readSummary(t, dir)
		})
	}
}

// TestLoadTest_StopsWhenItsGoRunParentDies: `go run` dies of SIGTERM
// without passing it on. A shell stands in for it, starting the load test
// from a go-build folder (where go run puts it) in the background; killing
// the shell must stop the orphaned load test with its report written.
func TestLoadTest_StopsWhenItsGoRunParentDies(t *testing.T) {
	t.Parallel()
	bin := buildLoadTest(t, t.TempDir(), "go-build1234")
	web := fakeWeb(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "out.txt")
	args := append([]string{"-c", `"$0" "$@" >` + log + ` 2>&1 & echo $!; wait`, bin}, fakeRunArgs(web.URL, dir, "5m")...)
	parent := exec.Command("sh", args...)
	stdout, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	var line [32]byte
	n, err := stdout.Read(line[:])
	pid, perr := strconv.Atoi(strings.TrimSpace(string(line[:n])))
	if err != nil || perr != nil {
		t.Fatalf("the load test's pid: %q %v %v", line[:n], err, perr)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	read := func() string { b, _ := os.ReadFile(log); return string(b) }
	testkit.Eventually(t, 30*time.Second, "the load running", func() bool { return strings.Contains(read(), "accepted ") })

	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	// The orphan is not this process's child: wait for its last line.
	testkit.Eventually(t, 45*time.Second, "the orphaned load test's report", func() bool { return strings.Contains(read(), "report: ") })
	if !strings.Contains(read(), "stopped: ") {
		t.Fatalf("the load test did not say it was stopped:\n%s", tail(read(), 30))
	}
	readSummary(t, dir)
}
