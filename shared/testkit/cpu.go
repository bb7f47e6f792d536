package testkit

import (
	"syscall"
	"testing"
	"time"
)

// ProcessCPU is the CPU time, user and system, this process has used.
func ProcessCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	Must(tb, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportCPUPerOp reports this process's CPU time since start (a ProcessCPU
// reading) per operation, as the metric cpu-µs/op: wall time per operation
// says little on a machine whose other processes compete for the cores.
func ReportCPUPerOp(b *testing.B, start time.Duration) {
	b.Helper()
	b.ReportMetric(float64((ProcessCPU(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
}
