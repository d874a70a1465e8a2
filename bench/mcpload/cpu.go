package main

import (
	"context"
	"syscall"
	"time"

	"github.com/osirisplane/osiris/platform/loadtest"
)

// cpuTime is the CPU time (user and system) this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rounds is one target's rounds and the load client's own CPU time over them: on a machine
// whose cores every process shares, the client's cost per call is part of what a ratio of
// rates compares.
type rounds struct {
	results []loadtest.Result
	cpu     time.Duration
}

// run runs one more round.
func (r *rounds) run(ctx context.Context, workers int, d time.Duration, op loadtest.Op) {
	before := cpuTime()
	r.results = append(r.results, loadtest.Run(ctx, workers, d, op))
	r.cpu += cpuTime() - before
}

// median is the median round, with the client's CPU time per call over every round.
func (r *rounds) median(name string) measured {
	ops := 0
	for _, res := range r.results {
		ops += res.Ops + res.Errors
	}
	m := measured{name: name, Result: loadtest.Median(r.results)}
	if ops > 0 {
		m.clientCPU = r.cpu / time.Duration(ops)
	}
	return m
}
