package testkit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
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

// PIDCPU is the CPU time, user and system, another process (pid) on this
// host has used, from /proc/<pid>/stat; false if it cannot be read (no
// such process, or no /proc).
func PIDCPU(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: utime and stime,
	// the 14th and 15th fields, come after its ")".
	stat := string(raw)
	fields := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:])
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const clockTicksPerSecond = 100 // USER_HZ, 100 on every Linux platform Go supports
	return time.Duration(utime+stime) * time.Second / clockTicksPerSecond, true
}
