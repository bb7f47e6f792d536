// Package lifecycle runs a service's long-lived parts (HTTP server, message
// router, outbox forwarder) together: until a signal or the first failure,
// then stops them all and waits for each to drain.
package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sync/errgroup"
)

// Component is one long-lived part of a service. Run blocks until ctx ends,
// then returns once the component has drained (or failed).
type Component struct {
	Name string
	Run  func(ctx context.Context) error
}

// SignalContext is cancelled by SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Run runs every component until ctx ends or one of them fails, then cancels
// the others and waits for all. Close publishers and connections after Run
// returns, so nothing in flight loses its way out.
func Run(ctx context.Context, log *slog.Logger, components ...Component) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range components {
		g.Go(func() error {
			err := c.Run(gctx)
			if err != nil {
				log.Error("component stopped with an error", "component", c.Name, "err", err)
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			log.Info("component stopped", "component", c.Name)
			return nil
		})
	}
	return g.Wait()
}
