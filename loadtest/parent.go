package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// stopWithGoRun returns a context that also ends when the load test's
// parent is gone, if that parent is `go run`. go run passes SIGINT on (it
// ignores it, and the terminal sends it to the whole process group) but
// dies of SIGTERM without passing it on: the load test, orphaned, would
// run its whole course (minutes of load and drain) with no one to read
// it. A binary run directly keeps running when its parent ends (nohup).
func stopWithGoRun(ctx context.Context, every time.Duration) (context.Context, context.CancelFunc) {
	exe, err := os.Executable()
	if err != nil || !underGoRun(exe) {
		return context.WithCancel(ctx)
	}
	return stopWhenOrphaned(ctx, os.Getppid, every)
}

// underGoRun: go run builds the program into a go-build folder of the
// temporary directory.
func underGoRun(exe string) bool {
	return strings.Contains(exe, string(filepath.Separator)+"go-build")
}

// stopWhenOrphaned ends the context when the parent process changes (the
// orphan is adopted by init or a subreaper).
func stopWhenOrphaned(ctx context.Context, parent func() int, every time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	first := parent()
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if parent() != first {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}
