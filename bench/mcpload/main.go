// Command mcpload measures MCP servers from outside, as an agent sees them: N concurrent
// sessions (the Go SDK's client over streamable HTTP, each with its own connections) call one
// tool for a fixed time, against each target in alternating rounds, and the median round of
// each target is reported with its ratio to the first target. On a shared machine only the
// ratios hold; the rates are context.
//
//	mcpload --targets direct=http://127.0.0.1:3001/mcp,gateway=http://127.0.0.1:8100/mcp \
//	        --sessions 32 --duration 5s --rounds 3 --tool test_simple_text --args '{}'
//
// With --audit-floor ADDR it measures instead the floor the gateway's design sets on a tool
// call's latency: two synced audit Appends in sequence, from --sessions clients (one, for the
// floor at one session).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args and measures; it returns the exit code: 2 for bad flags, 1 when the
// measurement failed or any call failed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcpload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f flags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := f.config(fs.NArg())
	if err != nil {
		fmt.Fprintf(stderr, "mcpload: %v\n", err)
		return 2
	}
	var results []measured
	if cfg.auditAddr != "" {
		results, err = measureFloor(ctx, cfg)
	} else {
		results, err = measureTargets(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mcpload: %v\n", err)
		return 1
	}
	report(stdout, cfg, results)
	failed := false
	for _, m := range results {
		if m.Errors > 0 {
			fmt.Fprintf(stderr, "mcpload: %s: %d calls failed, the first: %v\n", m.name, m.Errors, m.FirstErr)
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}
