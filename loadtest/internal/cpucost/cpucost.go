// Package cpucost attributes the machine's CPU during a run to the parts of
// the system: each service, RabbitMQ, PostgreSQL, Jaeger, Mailpit and the
// load generator itself. It reads utime and stime (and the reaped children's
// cutime and cstime) of every process in /proc at the start and at the end
// of the run, and assigns each process to a part by its name.
//
// It sees what runs on this machine (or in this container): services under
// `make dev`, system tests or docker compose on the same host. On a machine
// shared with other work, a process of the same name (another stack's web
// tier, the same PostgreSQL serving other databases) is counted too: the
// process counts in the summary show it.
package cpucost

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ClockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go runs on.
const ClockTicks = 100

// Proc is one process as /proc/<pid>/stat describes it.
type Proc struct {
	PID, PPID int
	// Comm is the executable's name (at most 15 characters).
	Comm string
	// Ticks is utime + stime: the process's own CPU, in clock ticks;
	// ChildTicks is cutime + cstime: its children's, once it reaped them.
	Ticks, ChildTicks uint64
	// Start is when it started, in ticks after boot: with the PID, it
	// tells one process from a later one that reuses its PID.
	Start uint64
}

// ParseStat reads the contents of /proc/<pid>/stat. The name sits in
// parentheses and may hold spaces and parentheses itself, so the fields
// are counted from its last ')'.
func ParseStat(b []byte) (Proc, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Proc{}, errors.New("stat: no (comm)")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return Proc{}, fmt.Errorf("stat: pid: %w", err)
	}
	// After the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16)
	// cstime(17) ... starttime(22); fields[0] is field 3.
	fields := strings.Fields(string(b[end+1:]))
	if len(fields) < 20 {
		return Proc{}, fmt.Errorf("stat of %d: %d fields after the name, want at least 20", pid, len(fields))
	}
	num := func(field int) (uint64, error) {
		v, err := strconv.ParseInt(fields[field-3], 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("stat of %d: field %d %q is not a count", pid, field, fields[field-3])
		}
		return uint64(v), nil
	}
	var v [6]uint64
	for i, field := range []int{4, 14, 15, 16, 17, 22} {
		if v[i], err = num(field); err != nil {
			return Proc{}, err
		}
	}
	return Proc{PID: pid, PPID: int(v[0]), Comm: string(b[open+1 : end]), Ticks: v[1] + v[2], ChildTicks: v[3] + v[4], Start: v[5]}, nil
}

// Snapshot is every process at one moment, by PID.
type Snapshot map[int]Proc

// Read takes a snapshot of the processes under root ("/proc"). A process
// that ends while it is read is left out.
func Read(root string) (Snapshot, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	s := Snapshot{}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "stat"))
		if err != nil {
			continue // ended meanwhile
		}
		p, err := ParseStat(b)
		if err != nil {
			return nil, err
		}
		s[p.PID] = p
	}
	return s, nil
}

// The parts of the system, as the summary names them.
const (
	RabbitMQ   = "rabbitmq"
	PostgreSQL = "postgresql"
	Jaeger     = "jaeger"
	Mailpit    = "mailpit"
	LoadTest   = "loadtest"
)

// Services are Staybook's executables: `make dev`, the system tests and
// the container images run them under these names.
var Services = []string{"web", "booking", "voucher", "email", "notification", "deadletters"}

// Part names the part of the system p belongs to, "" for none. self is
// the load generator's own PID.
func Part(p Proc, self int) string {
	switch {
	case p.PID == self:
		return LoadTest
	case contains(Services, p.Comm):
		return p.Comm
	case contains([]string{"beam.smp", "erl_child_setup", "epmd", "inet_gethost"}, p.Comm):
		return RabbitMQ
	case p.Comm == "postgres" || p.Comm == "postmaster":
		return PostgreSQL
	case strings.HasPrefix(p.Comm, "jaeger"):
		return Jaeger
	case p.Comm == "mailpit":
		return Mailpit
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Usage is one part's CPU over the run.
type Usage struct {
	// Seconds of CPU (user + system, all threads).
	Seconds float64 `json:"cpu_seconds"`
	// Processes of the part seen at the end of the run (a PostgreSQL has
	// one per connection and its helpers; more than one web means another
	// stack of that name shares the machine).
	Processes int `json:"processes"`
	// Ended: processes seen at the start and gone at the end whose parent
	// was not seen to reap them: their CPU during the run is missing.
	Ended int `json:"ended,omitempty"`
}

// Attribute sums, for each part, the CPU its processes used between the
// two snapshots:
//   - a process in both: the growth of its own and its reaped children's
//     times (a PostgreSQL backend that ends is reaped by the postmaster, so
//     its CPU moves into the postmaster's cutime and is not lost);
//   - a process only at the end: all of it (it started during the run);
//   - a process only at the start, reaped by a parent in both snapshots:
//     what it had used before the start comes off, since the parent's
//     growth counts its whole life; with no such parent it is Ended.
//
// A PID in both with another start time is a new process.
func Attribute(before, after Snapshot, self int) map[string]Usage {
	out := map[string]Usage{}
	add := func(part string, ticks int64, proc, ended int) {
		u := out[part]
		u.Seconds += float64(ticks) / ClockTicks
		u.Processes += proc
		u.Ended += ended
		out[part] = u
	}
	same := func(a Proc, s Snapshot) (Proc, bool) {
		b, ok := s[a.PID]
		return b, ok && b.Start == a.Start
	}
	for _, p := range after {
		part := Part(p, self)
		if part == "" {
			continue
		}
		total := int64(p.Ticks + p.ChildTicks)
		if old, ok := same(p, before); ok {
			total -= int64(old.Ticks + old.ChildTicks)
		}
		add(part, total, 1, 0)
	}
	for _, p := range before {
		part := Part(p, self)
		if part == "" {
			continue
		}
		if _, ok := same(p, after); ok {
			continue
		}
		parent, inBefore := before[p.PPID]
		_, inAfter := same(parent, after)
		if inBefore && inAfter && Part(parent, self) != "" {
			add(Part(parent, self), -int64(p.Ticks+p.ChildTicks), 0, 0)
		} else {
			add(part, 0, 0, 1)
		}
	}
	for part, u := range out {
		u.Seconds = float64(int64(u.Seconds*1000+0.5)) / 1000
		out[part] = u
	}
	return out
}

// Parts lists the parts of m in the summary's order: the services, then
// the rest.
func Parts[V any](m map[string]V) []string {
	order := append(append([]string{}, Services...), RabbitMQ, PostgreSQL, Jaeger, Mailpit, LoadTest)
	rank := map[string]int{}
	for i, p := range order {
		rank[p] = i
	}
	var out []string
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return rank[out[i]] < rank[out[j]] })
	return out
}
