package main

// The dlq command lists, shows, replays and purges dead letters through the
// deadletters admin API (adapters/deadlettersclient), printing a table or JSON.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/staybook/staybook/services/deadletters/internal/adapters/deadlettersclient"
)

const usage = `dlq: inspect and replay Staybook's dead letters.

Usage:
  dlq [-url URL] [-token TOKEN] list [-status dead|replayed] [-handler NAME] [-reason TEXT] [-limit N] [-before CURSOR] [-json]
  dlq [-url URL] [-token TOKEN] show ID
  dlq [-url URL] [-token TOKEN] replay ID [-json]
  dlq [-url URL] [-token TOKEN] purge ID

-url defaults to $DEADLETTERS_URL or http://localhost:8085 (the web tier's URL works too),
-token to $ADMIN_TOKEN. Flags may also follow the command.
`

// dlqEnv is what the command reads from its surroundings.
type dlqEnv struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// runDLQ runs the command with args (without the program name) and returns
// the exit code: 0 done, 1 failed, 2 misused.
func runDLQ(ctx context.Context, args []string, env dlqEnv) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	opts := options{url: env.Getenv("DEADLETTERS_URL"), token: env.Getenv("ADMIN_TOKEN")}
	if opts.url == "" {
		opts.url = "http://localhost:8085"
	}
	global := flag.NewFlagSet("dlq", flag.ContinueOnError)
	global.SetOutput(env.Stderr)
	global.Usage = func() { fmt.Fprint(env.Stderr, usage) }
	opts.common(global)
	if err := global.Parse(args); err != nil {
		return 2
	}
	if global.NArg() == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	cmd, rest := global.Arg(0), global.Args()[1:]
	fs := opts.commandFlags(cmd, env.Stderr)
	if err := parseInterspersed(fs, rest); err != nil {
		return 2
	}
	c, err := deadlettersclient.New(deadlettersclient.Config{BaseURL: opts.url, Token: opts.token})
	if err != nil {
		fmt.Fprintln(env.Stderr, "dlq:", err)
		return 2
	}
	var id string
	switch cmd {
	case "list":
		if fs.NArg() != 0 {
			fmt.Fprintln(env.Stderr, "dlq list: unexpected arguments:", strings.Join(fs.Args(), " "))
			return 2
		}
	case "show", "replay", "purge":
		if fs.NArg() != 1 {
			fmt.Fprintf(env.Stderr, "dlq %s: needs exactly one letter ID\n", cmd)
			return 2
		}
		id = fs.Arg(0)
	default:
		fmt.Fprintf(env.Stderr, "dlq: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err := run(ctx, c, cmd, id, opts, env.Stdout); err != nil {
		fmt.Fprintln(env.Stderr, "dlq:", explain(err))
		return 1
	}
	return 0
}

type options struct {
	url, token string
	json       bool
	list       deadlettersclient.ListOptions
}

func (o *options) common(fs *flag.FlagSet) {
	fs.StringVar(&o.url, "url", o.url, "the deadletters service (or the web tier)")
	fs.StringVar(&o.token, "token", o.token, "the admin token")
}

// commandFlags are cmd's flags, the common ones included.
func (o *options) commandFlags(cmd string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("dlq "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	o.common(fs)
	fs.BoolVar(&o.json, "json", false, "print JSON")
	if cmd == "list" {
		fs.StringVar(&o.list.Status, "status", "", "dead or replayed (default both)")
		fs.StringVar(&o.list.Handler, "handler", "", "only letters of this handler")
		fs.StringVar(&o.list.Reason, "reason", "", "only letters whose reason contains this text")
		fs.IntVar(&o.list.Limit, "limit", 0, "at most this many letters (default 50)")
		fs.StringVar(&o.list.Before, "before", "", "the next page's cursor, printed after a full page")
	}
	return fs
}

// parseInterspersed parses flags wherever they stand among the arguments
// (`dlq show ID -url ...` as well as `dlq show -url ... ID`).
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

func run(ctx context.Context, c *deadlettersclient.Client, cmd, id string, o options, out io.Writer) error {
	switch cmd {
	case "list":
		page, err := c.List(ctx, o.list)
		if err != nil {
			return err
		}
		if o.json {
			return printJSON(out, page)
		}
		return printTable(out, page)
	case "show":
		d, err := c.Show(ctx, id)
		if err != nil {
			return err
		}
		return printJSON(out, d)
	case "replay":
		l, err := c.Replay(ctx, id)
		if err != nil {
			return err
		}
		if o.json {
			return printJSON(out, l)
		}
		_, err = fmt.Fprintf(out, "replayed %s to %s (replay %d, %d attempts so far)\n", l.ID, l.Queue, l.ReplayCount, l.Attempts)
		return err
	case "purge":
		if err := c.Purge(ctx, id); err != nil {
			return err
		}
		_, err := fmt.Fprintf(out, "purged %s\n", id)
		return err
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printTable prints one line per letter, and the next page's cursor.
func printTable(out io.Writer, p deadlettersclient.Page) error {
	if len(p.DeadLetters) == 0 {
		_, err := fmt.Fprintln(out, "no dead letters")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tHANDLER\tQUEUE\tATTEMPTS\tLAST FAILED\tBOOKING\tREASON")
	for _, l := range p.DeadLetters {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", l.ID, l.Status, dash(l.Handler), dash(l.Queue), l.Attempts,
			l.LastFailedAt.Local().Format(time.DateTime), dash(l.CorrelationID), oneLine(l.Reason, 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.NextBefore != "" {
		_, err := fmt.Fprintf(out, "more: dlq list -before %s\n", p.NextBefore)
		return err
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine shortens s to n characters on one line.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// explain adds what to do about the API's answers that have a usual cause.
func explain(err error) string {
	var e *deadlettersclient.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	switch e.Status {
	case 401:
		return e.Error() + " (pass -token or set ADMIN_TOKEN)"
	case 503:
		if e.Code == "admin_disabled" {
			return e.Error() + " (start the service with ADMIN_TOKEN set)"
		}
	}
	return e.Error()
}
