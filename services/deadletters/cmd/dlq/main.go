// Command dlq lists, shows, replays and purges Staybook's dead letters
// through the deadletters admin API:
//
//	go run ./services/deadletters/cmd/dlq list -status dead
//	go run ./services/deadletters/cmd/dlq replay <id>
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := runDLQ(ctx, os.Args[1:], dlqEnv{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
