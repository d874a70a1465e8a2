// Package loadtest drives an operation from many goroutines for a fixed time and reports its
// throughput and latency. Benchmarks use it to compare an operation against a baseline
// measured on the same server in the same run, because on a shared machine only ratios hold.
package loadtest

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Op is one call; worker is the goroutine's index, i counts its calls.
type Op func(ctx context.Context, worker, i int) error

// Result is what one Run measured.
type Result struct {
	Ops      int
	Errors   int
	FirstErr error
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// PerSecond is the rate of successful calls.
func (r Result) PerSecond() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// Run calls op from workers goroutines until d has passed or ctx ends, and returns what it
// measured. Calls are not cut off at the end (a call cut off by a deadline would count as an
// error); the elapsed time includes the last calls.
func Run(ctx context.Context, workers int, d time.Duration, op Op) Result {
	type tally struct {
		lat    []time.Duration
		errors int
		first  error
	}
	tallies := make([]tally, workers)
	var wg sync.WaitGroup
	begin := time.Now()
	end := begin.Add(d)
	for w := range workers {
		wg.Go(func() {
			t := &tallies[w]
			for i := 0; ctx.Err() == nil && time.Now().Before(end); i++ {
				s := time.Now()
				if err := op(ctx, w, i); err != nil {
					t.errors++
					if t.first == nil {
						t.first = err
					}
					continue
				}
				t.lat = append(t.lat, time.Since(s))
			}
		})
	}
	wg.Wait()
	r := Result{Elapsed: time.Since(begin)}
	var all []time.Duration
	for _, t := range tallies {
		all = append(all, t.lat...)
		r.Errors += t.errors
		if r.FirstErr == nil {
			r.FirstErr = t.first
		}
	}
	r.Ops = len(all)
	if len(all) > 0 {
		slices.Sort(all)
		r.P50 = all[len(all)*50/100]
		r.P99 = all[len(all)*99/100]
	}
	return r
}

// Median returns the result with the median rate, to damp noise over rounds.
func Median(rs []Result) Result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b Result) int {
		switch {
		case a.PerSecond() < b.PerSecond():
			return -1
		case a.PerSecond() > b.PerSecond():
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}
