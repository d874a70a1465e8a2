package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// waitIdle waits (bounded) until a's senders have ended, so goleak sees none.
func waitIdle(t *testing.T, a *appender) {
	t.Helper()
	for range 1000 {
		a.mu.Lock()
		idle := a.inFlight == 0
		a.mu.Unlock()
		if idle {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the appender's senders did not end")
}

// An audit service whose queue stays full gets a few requests a second from the gateway, not
// one per half of every batch (1,999 for 1,000 events), and each caller gets the refusal or
// its own deadline.
func TestAppenderBacksOffFromAnOverloadedService(t *testing.T) {
	f := &batchingAudit{fail: status.Error(codes.ResourceExhausted, "write queue is full, retry later"), stored: map[string]int{}}
	a := &appender{client: f, tracer: noop.NewTracerProvider().Tracer("")}
	const events = 1000
	var wg sync.WaitGroup
	errs := make([]error, events)
	deadline := time.Now().Add(time.Second) // one for all, however late a caller starts
	for i := range events {
		wg.Go(func() {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			_, errs[i] = a.append(ctx, &auditv1.Event{CorrelationId: fmt.Sprint(i)})
		})
	}
	wg.Wait()
	waitIdle(t, a)
	for i, err := range errs {
		if status.Code(err) != codes.ResourceExhausted && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("event %d: %v, want the refusal or the deadline", i, err)
		}
	}
	// Two senders, each backing off 10 ms, 20 ms, ... (jittered down to half) until the callers'
	// deadline 1 s away: at most 9 requests each; after it, nothing is sent for them.
	if f.requests > 2*12 {
		t.Fatalf("%d events took %d requests against an overloaded service", events, f.requests)
	}
	t.Logf("%d events, %d requests while overloaded", events, f.requests)
}

// Once the overloaded service takes requests again, every event is stored once, and the one
// invalid event fails alone, named by the service: no other agent's call fails for it.
func TestAppenderRidesOutAFullQueueAndDropsOnlyTheBadEvent(t *testing.T) {
	f := &batchingAudit{refuse: 5, delay: time.Millisecond, stored: map[string]int{}}
	a := &appender{client: f, tracer: noop.NewTracerProvider().Tracer("")}
	const events, bad = 300, 137
	var wg sync.WaitGroup
	errs := make([]error, events)
	for i := range events {
		tool := "ok"
		if i == bad {
			tool = "bad"
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, errs[i] = a.append(ctx, &auditv1.Event{CorrelationId: fmt.Sprint(i), Tool: tool})
		})
	}
	wg.Wait()
	waitIdle(t, a)
	for i, err := range errs {
		if (i == bad) != (status.Code(err) == codes.InvalidArgument) || (i != bad && err != nil) {
			t.Errorf("event %d: %v", i, err)
		}
	}
	for id, n := range f.stored {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
	if len(f.stored) != events-1 {
		t.Fatalf("%d events stored, want the %d valid ones", len(f.stored), events-1)
	}
	t.Logf("%d events, %d requests", events, f.requests)
}

// The queue is bounded: past MaxQueuedEvents an event is refused at once, and the call fails
// closed (or, failing open, goes on as a counted gap).
func TestAuditQueueIsBounded(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		au, err := NewAudit(&batchingAudit{stored: map[string]int{}}, failOpen, metricnoop.NewMeterProvider().Meter(""),
			noop.NewTracerProvider().Tracer(""), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		a := &au.appender
		a.inFlight = maxInFlight // both senders busy: nothing leaves the queue
		for i := range MaxQueuedEvents {
			if _, err := a.append(cancelled(), &auditv1.Event{CorrelationId: fmt.Sprint(i)}); !errors.Is(err, context.Canceled) {
				t.Fatalf("event %d: %v, want it queued", i, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // an unbounded queue would make it wait
		_, err = a.append(ctx, &auditv1.Event{})
		cancel()
		if !errors.Is(err, errQueueFull) {
			t.Fatalf("event over the bound: %v, want %v", err, errQueueFull)
		}
		_, err = au.record(context.Background(), &auditv1.Event{})
		var rpc *jsonrpc.Error
		if failOpen != (err == nil) || (!failOpen && (!errors.As(err, &rpc) || rpc.Code != CodeAuditUnavailable)) {
			t.Fatalf("failOpen=%v: record with a full queue = %v", failOpen, err)
		}
	}
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
