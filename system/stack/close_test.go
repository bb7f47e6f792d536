package stack

import (
	"io"
	"testing"
)

// Close runs what onClose registered once every process has stopped: the
// dev stack removes Mailpit's in-memory database there, which must not go
// while Mailpit still writes it, and must go before the process running
// the stack exits.
func TestClose_RunsCleanupsOnceEveryProcessHasStopped(t *testing.T) {
	s := New(Config{Root: t.TempDir(), Services: []string{}, Logs: io.Discard})
	p, err := s.StartProgram("sleeper", "/bin/sleep", []string{"60"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ran, stoppedFirst := false, false
	s.onClose(func() {
		ran = true
		select {
		case <-p.Done():
			stoppedFirst = true
		default:
		}
	})
	if err := s.Close(); err != nil {
		t.Logf("close: %v (a process stopped by its signal)", err)
	}
	if !ran {
		t.Fatal("Close did not run the cleanup")
	}
	if !stoppedFirst {
		t.Fatal("Close ran the cleanup while the process was still running")
	}
}
