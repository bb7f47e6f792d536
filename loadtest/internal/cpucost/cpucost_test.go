package cpucost

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// A line as the kernel writes it (cat's own, with the times changed).
const catStat = "6188 (cat) R 6186 6186 11729 0 -1 4194304 101 0 0 0 7 3 2 1 20 0 1 0 54414 3133440 407 18446744073709551615 94688434421760 94688434441641 140721529816672 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 94688434457648 94688434459264 94688637231104 140721529817795 140721529817815 140721529817815 140721529819115 0\n"

func TestParseStat(t *testing.T) {
	p, err := ParseStat([]byte(catStat))
	if err != nil {
		t.Fatal(err)
	}
	want := Proc{PID: 6188, PPID: 6186, Comm: "cat", Ticks: 10, ChildTicks: 3, Start: 54414}
	if p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	// A name with spaces and parentheses: the fields count from the last ')'.
	p, err = ParseStat([]byte("42 (a) b (c)) S 1 1 1 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 999 0 0\n"))
	if err != nil || p.Comm != "a) b (c)" || p.Ticks != 150 || p.Start != 999 || p.PPID != 1 {
		t.Fatalf("got %+v, %v", p, err)
	}
	for _, bad := range []string{"", "42 cat R 1", "42 (cat) R 1 2 3", "x (cat) R 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 9 0 0", "42 (cat) R 1 1 1 0 -1 0 0 0 0 0 -1 1 0 0 20 0 1 0 9 0 0"} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// stat writes a process's stat file under root, as /proc has it.
func stat(t *testing.T, root string, pid, ppid int, comm string, utime, stime, cutime, cstime, start uint64) {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprint(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("%d (%s) S %d 1 1 0 -1 4194304 0 0 0 0 %d %d %d %d 20 0 4 0 %d 1000 100 0 0\n", pid, comm, ppid, utime, stime, cutime, cstime, start)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
}

func snapshot(t *testing.T, root string) Snapshot {
	t.Helper()
	s, err := Read(root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAttribute(t *testing.T) {
	const self = 500
	before, after := t.TempDir(), t.TempDir()
	for _, root := range []string{before, after} { // not a process: left out
		if err := os.MkdirAll(filepath.Join(root, "self"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// At the start.
	stat(t, before, 10, 1, "web", 100, 50, 0, 0, 1000)
	stat(t, before, 11, 1, "booking", 300, 100, 0, 0, 1000)
	stat(t, before, 20, 1, "beam.smp", 5000, 1000, 0, 0, 500)
	stat(t, before, 21, 20, "erl_child_setup", 1, 1, 0, 0, 510)
	stat(t, before, 30, 1, "postgres", 200, 100, 900, 100, 400) // the postmaster
	stat(t, before, 31, 30, "postgres", 50, 50, 0, 0, 2000)     // a backend that ends during the run
	stat(t, before, 32, 30, "postgres", 10, 10, 0, 0, 2100)     // one that stays
	stat(t, before, 40, 1, "jaeger-all-in-o", 700, 300, 0, 0, 300)
	stat(t, before, 50, 1, "email", 40, 10, 0, 0, 1000) // restarted during the run: PID reused
	stat(t, before, 60, 1, "notification", 40, 10, 0, 0, 1000)
	stat(t, before, self, 1, "loadtest", 5, 5, 0, 0, 3000)
	stat(t, before, 70, 1, "bash", 9999, 9999, 0, 0, 10)
	// At the end.
	stat(t, after, 10, 1, "web", 400, 150, 0, 0, 1000)                // +400 ticks
	stat(t, after, 11, 1, "booking", 800, 300, 0, 0, 1000)            // +700
	stat(t, after, 20, 1, "beam.smp", 5600, 1200, 0, 0, 500)          // +800
	stat(t, after, 21, 20, "erl_child_setup", 1, 1, 0, 0, 510)        // +0
	stat(t, after, 30, 1, "postgres", 210, 110, 900+150, 100+60, 400) // +20 own, +210 of the reaped backend 31
	stat(t, after, 32, 30, "postgres", 110, 60, 0, 0, 2100)           // +150
	stat(t, after, 33, 30, "postgres", 30, 20, 0, 0, 5000)            // new: +50
	stat(t, after, 40, 1, "jaeger-all-in-o", 750, 350, 0, 0, 300)     // +100
	stat(t, after, 45, 1, "mailpit", 3, 2, 0, 0, 4000)                // new: +5
	stat(t, after, 50, 1, "email", 20, 10, 0, 0, 6000)                // a new process: +30
	stat(t, after, self, 1, "loadtest", 205, 105, 0, 0, 3000)         // +300
	stat(t, after, 70, 1, "bash", 99999, 99999, 0, 0, 10)             // not a part
	stat(t, after, 80, 1, "service.test", 99999, 99999, 0, 0, 10)     // not a part
	// notification (60) ended, with no parent seen to reap it.

	got := Attribute(snapshot(t, before), snapshot(t, after), self)
	want := map[string]Usage{
		"web":          {Seconds: 4, Processes: 1},
		"booking":      {Seconds: 7, Processes: 1},
		"email":        {Seconds: 0.3, Processes: 1, Ended: 1}, // the old process ended: its last CPU is missing
		"notification": {Seconds: 0, Processes: 0, Ended: 1},
		RabbitMQ:       {Seconds: 8, Processes: 2},
		// 20 own + 210 reaped - 100 the ended backend had used before the start + 150 + 50
		PostgreSQL: {Seconds: 3.3, Processes: 3},
		Jaeger:     {Seconds: 1, Processes: 1},
		Mailpit:    {Seconds: 0.05, Processes: 1},
		LoadTest:   {Seconds: 3, Processes: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%v\nwant\n%v", got, want)
	}
	if order := Parts(got); !reflect.DeepEqual(order, []string{"web", "booking", "email", "notification", RabbitMQ, PostgreSQL, Jaeger, Mailpit, LoadTest}) {
		t.Fatalf("order %v", order)
	}
}

var sink int

// The real /proc: this test process is found as the load generator, with
// the CPU it burns between the snapshots.
func TestAttribute_ThisProcess(t *testing.T) {
	before := snapshot(t, "/proc")
	self := os.Getpid()
	if _, ok := before[self]; !ok {
		t.Fatalf("pid %d not in /proc", self)
	}
	var got map[string]Usage
	for start := time.Now(); time.Since(start) < 20*time.Second; {
		for i := 0; i < 10_000_000; i++ { // burn some CPU
			sink += i % 7
		}
		if got = Attribute(before, snapshot(t, "/proc"), self); got[LoadTest].Seconds > 0 {
			break
		}
	}
	if u := got[LoadTest]; u.Processes != 1 || u.Seconds <= 0 {
		t.Fatalf("loadtest %+v: want this process, with the CPU it used", u)
	}
}
