package loadtest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunCountsEveryCall(t *testing.T) {
	var calls atomic.Int64
	fail := errors.New("odd")
	r := Run(context.Background(), 8, 100*time.Millisecond, func(_ context.Context, _, i int) error {
		calls.Add(1)
		time.Sleep(time.Millisecond)
		if i%2 == 1 {
			return fail
		}
		return nil
	})
	if int64(r.Ops+r.Errors) < calls.Load()-8 || r.Ops == 0 || r.Errors == 0 || !errors.Is(r.FirstErr, fail) {
		t.Fatalf("result %+v for %d calls", r, calls.Load())
	}
	if r.P50 < time.Millisecond || r.P99 < r.P50 {
		t.Fatalf("latencies p50 %v p99 %v", r.P50, r.P99)
	}
}

func TestMedian(t *testing.T) {
	rs := []Result{{Ops: 30, Elapsed: time.Second}, {Ops: 10, Elapsed: time.Second}, {Ops: 20, Elapsed: time.Second}}
	if m := Median(rs); m.Ops != 20 {
		t.Fatalf("median ops %d", m.Ops)
	}
}
