package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/osirisplane/osiris/platform/loadtest"
)

// measured is the median round of one target.
type measured struct {
	name string
	loadtest.Result
	clientCPU time.Duration // the load client's CPU time per call, over every round
}

// measureTargets opens every target's sessions first (initialize is not measured), then runs
// the rounds: each round drives every target in turn, so a change in the machine's load
// falls on all of them alike.
func measureTargets(ctx context.Context, c config) ([]measured, error) {
	sessions := make([][]*mcp.ClientSession, len(c.targets))
	defer func() {
		for _, ss := range sessions {
			for _, s := range ss {
				s.Close()
			}
		}
	}()
	for i, t := range c.targets {
		var err error
		if sessions[i], err = connect(ctx, t, c.sessions); err != nil {
			return nil, err
		}
	}
	rs := make([]rounds, len(c.targets))
	for range c.rounds {
		for i := range c.targets {
			rs[i].run(ctx, c.sessions, c.duration, call(sessions[i], c))
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]measured, len(c.targets))
	for i, t := range c.targets {
		out[i] = rs[i].median(t.name)
	}
	return out, nil
}

// connect opens n sessions to t. Each has its own HTTP client, as each agent would: on one
// shared client (two idle connections per host) most calls would open a new TCP connection,
// and the run would measure that churn.
func connect(ctx context.Context, t target, n int) ([]*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpload", Version: "1"}, nil)
	out := make([]*mcp.ClientSession, 0, n)
	for range n {
		hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: t.url, HTTPClient: hc}, nil)
		if err != nil {
			for _, s := range out {
				s.Close()
			}
			return nil, fmt.Errorf("%s: initialize: %w", t.name, err)
		}
		out = append(out, cs)
	}
	return out, nil
}

// call is one tools/call on the worker's session; a result with isError counts as a failure,
// so a run that measures an error path says so.
func call(sessions []*mcp.ClientSession, c config) loadtest.Op {
	return func(ctx context.Context, w, _ int) error {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		res, err := sessions[w].CallTool(ctx, &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
		if err == nil && res.IsError {
			err = errors.New("the tool answered isError")
		}
		return err
	}
}

// report prints one row per target: rate, latencies, failed calls, the ratio of its rate to
// the first row's, and the load client's own CPU time per call. The layout is fixed (scripts/bench-external.sh reads it with awk).
func report(w io.Writer, c config, rs []measured) {
	what := "tools/call " + c.tool
	if c.auditAddr != "" {
		what = "two audit Appends in sequence"
	}
	fmt.Fprintf(w, "# %s; %d sessions; median of %d rounds of %s per target\n", what, c.sessions, c.rounds, c.duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tcalls/s\tp50-ms\tp99-ms\terrors\tratio\tclient-cpu-us")
	for _, m := range rs {
		ratio := 0.0
		if first := rs[0].PerSecond(); first > 0 {
			ratio = m.PerSecond() / first
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t%.3f\t%d\t%.3f\t%d\n", m.name, m.PerSecond(), ms(m.P50), ms(m.P99), m.Errors, ratio, m.clientCPU.Microseconds())
	}
	tw.Flush()
}
