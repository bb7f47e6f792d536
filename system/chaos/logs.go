package chaos

import (
	"io"
	"strings"
	"sync"
)

// logWatch receives the processes' output (one line per Write, each prefixed
// with its process's name by the stack), copies it to a file, counts the
// lines the report cares about, and tells waiting faults when a line they
// watch for appears: that is how a kill lands while a service is in the
// middle of its work rather than at an arbitrary moment.
type logWatch struct {
	out io.Writer

	mu       sync.Mutex
	watchers []*lineWatcher
	counts   map[string]map[string]int // pattern -> process -> lines
}

type lineWatcher struct {
	process, substr string
	hit             chan struct{}
	once            sync.Once
}

// countedPatterns are the log lines the report counts per process.
var countedPatterns = []string{
	"message dead-lettered",
	"message discarded",
	"shutting down: message left for redelivery",
	"dead letter not published",
	"panic",
}

func newLogWatch(out io.Writer) *logWatch {
	if out == nil {
		out = io.Discard
	}
	return &logWatch{out: out, counts: map[string]map[string]int{}}
}

func (w *logWatch) Write(p []byte) (int, error) {
	line := string(p)
	process, _, _ := strings.Cut(line, "|")
	process = strings.TrimSpace(process)
	w.mu.Lock()
	for _, pat := range countedPatterns {
		if strings.Contains(line, pat) {
			if w.counts[pat] == nil {
				w.counts[pat] = map[string]int{}
			}
			w.counts[pat][process]++
		}
	}
	kept := w.watchers[:0]
	for _, lw := range w.watchers {
		if lw.process == process && strings.Contains(line, lw.substr) {
			lw.once.Do(func() { close(lw.hit) })
			continue
		}
		kept = append(kept, lw)
	}
	w.watchers = kept
	_, err := w.out.Write(p)
	w.mu.Unlock()
	return len(p), err
}

// next returns a channel closed when process next logs a line containing substr.
func (w *logWatch) next(process, substr string) <-chan struct{} {
	lw := &lineWatcher{process: process, substr: substr, hit: make(chan struct{})}
	w.mu.Lock()
	w.watchers = append(w.watchers, lw)
	w.mu.Unlock()
	return lw.hit
}

// count returns how many lines of each process contained pattern.
func (w *logWatch) count(pattern string) map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for p, n := range w.counts[pattern] {
		out[p] = n
	}
	return out
}
