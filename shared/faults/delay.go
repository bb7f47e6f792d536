package faults

import (
	"context"
	"time"
)

// Delay waits d, or until ctx ends (then it returns ctx's error): the demos'
// artificial latency (the story's slow PDF renderer, mail provider, push
// gateway), which services add as a decorator of a port in main.go when
// their <SERVICE>_EXTRA_LATENCY is set, never as a parameter of their use
// cases.
func Delay(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
