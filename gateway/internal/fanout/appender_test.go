package fanout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/apierr"
)

// batchingAudit is an audit service that takes a moment per request, refuses a batch that
// holds an event for tool "bad" (as the real one refuses an invalid event), and records what
// it stored, with the seq and leaf hash it gave each event.
type batchingAudit struct {
	auditv1.AuditServiceClient // other methods are not used
	delay                      time.Duration
	fail                       error
	refuse                     int // the first requests refused as overloaded

	mu       sync.Mutex
	requests int
	inFlight int
	maxIn    int
	stored   map[string]int // by correlation id
	seqs     map[string][]uint64
	last     uint64
}

// fakeLeafHash is the leaf hash batchingAudit gives the event seq of correlation id corr.
func fakeLeafHash(seq uint64, corr string) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "%d %s", seq, corr))
	return h[:]
}

func (f *batchingAudit) AppendBatch(ctx context.Context, req *auditv1.AppendBatchRequest, _ ...grpc.CallOption) (*auditv1.AppendBatchResponse, error) {
	f.mu.Lock()
	f.requests++
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inFlight--; f.mu.Unlock() }()
	time.Sleep(f.delay)
	if f.fail != nil {
		return nil, f.fail
	}
	out := &auditv1.AppendBatchResponse{}
	f.mu.Lock()
	overloaded := f.refuse > 0
	f.refuse--
	f.mu.Unlock()
	if overloaded {
		return nil, status.Error(codes.ResourceExhausted, "write queue is full, retry later")
	}
	for i, e := range req.GetEvents() {
		if e.GetTool() == "bad" { // refused as the real service refuses it, naming the event
			err, _ := apierr.ToStatus(apierr.AtField(fmt.Sprintf("events[%d]", i), apierr.Invalid("events[%d].tool is bad", i)))
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seqs == nil {
		f.seqs = map[string][]uint64{}
	}
	for _, e := range req.GetEvents() {
		corr := e.GetCorrelationId()
		f.stored[corr]++
		f.last++
		f.seqs[corr] = append(f.seqs[corr], f.last)
		h := fakeLeafHash(f.last, corr)
		out.Receipts = append(out.Receipts, &auditv1.AppendResponse{Seq: f.last, Hash: h, LeafHash: h})
	}
	return out, nil
}

// seqsOf returns the seqs the events of correlation id corr were stored at.
func (f *batchingAudit) seqsOf(corr string) []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seqs[corr])
}

// Many concurrent events go in few requests, never more than maxInFlight at once; each is
// stored once and its caller hears only after that.
func TestAppenderBatchesConcurrentEvents(t *testing.T) {
	f := &batchingAudit{delay: 5 * time.Millisecond, stored: map[string]int{}}
	a := &appender{client: f, tracer: noop.NewTracerProvider().Tracer("")}
	const events = 400
	var wg sync.WaitGroup
	var acked atomic.Int64
	for i := range events {
		wg.Go(func() {
			id := fmt.Sprint(i)
			if _, err := a.append(context.Background(), &auditv1.Event{CorrelationId: id}); err != nil {
				t.Errorf("event %s: %v", id, err)
				return
			}
			f.mu.Lock()
			n := f.stored[id]
			f.mu.Unlock()
			if n != 1 {
				t.Errorf("event %s acknowledged but stored %d times", id, n)
			}
			acked.Add(1)
		})
	}
	wg.Wait()
	if acked.Load() != events || len(f.stored) != events {
		t.Fatalf("%d acknowledged, %d stored, want %d", acked.Load(), len(f.stored), events)
	}
	if f.requests >= events/4 || f.maxIn > maxInFlight {
		t.Fatalf("%d events took %d requests (at most %d at once): not batched", events, f.requests, f.maxIn)
	}
	t.Logf("%d events in %d requests", events, f.requests)
}

// One agent's invalid event must not fail the other agents' calls that share its batch.
func TestAppenderIsolatesARefusedEvent(t *testing.T) {
	f := &batchingAudit{delay: 5 * time.Millisecond, stored: map[string]int{}}
	a := &appender{client: f, tracer: noop.NewTracerProvider().Tracer("")}
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		tool := "ok"
		if i == 37 {
			tool = "bad"
		}
		wg.Go(func() {
			_, errs[i] = a.append(context.Background(), &auditv1.Event{CorrelationId: fmt.Sprint(i), Tool: tool})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (i == 37) != (status.Code(err) == codes.InvalidArgument) || (i != 37 && err != nil) {
			t.Errorf("event %d: %v", i, err)
		}
	}
	if len(f.stored) != 63 {
		t.Fatalf("%d events stored, want the 63 valid ones", len(f.stored))
	}
}

func TestAppenderReportsFailureAndCallerDeadline(t *testing.T) {
	down := status.Error(codes.Unavailable, "audit service down")
	a := &appender{client: &batchingAudit{fail: down, stored: map[string]int{}}, tracer: noop.NewTracerProvider().Tracer("")}
	if _, err := a.append(context.Background(), &auditv1.Event{}); !errors.Is(err, down) && status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want the service's", err)
	}
	slow := &appender{client: &batchingAudit{delay: 200 * time.Millisecond, stored: map[string]int{}}, tracer: noop.NewTracerProvider().Tracer("")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := slow.append(ctx, &auditv1.Event{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's deadline", err)
	}
	time.Sleep(250 * time.Millisecond) // the request in flight ends (goleak)
}

// A request carries events of many calls, so its span is linked to each call's span.
func TestAppenderLinksEachCallsSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	tracer := tp.Tracer("test")
	a := &appender{client: &batchingAudit{delay: 5 * time.Millisecond, stored: map[string]int{}}, tracer: tracer}
	const calls = 20
	want := map[trace.SpanID]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			ctx, span := tracer.Start(context.Background(), "call")
			defer span.End()
			mu.Lock()
			want[span.SpanContext().SpanID()] = true
			mu.Unlock()
			if _, err := a.append(ctx, &auditv1.Event{CorrelationId: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	linked := map[trace.SpanID]bool{}
	for _, s := range rec.Ended() {
		if s.Name() != "audit.AppendBatch" {
			continue
		}
		for _, l := range s.Links() {
			linked[l.SpanContext.SpanID()] = true
		}
	}
	for id := range want {
		if !linked[id] {
			t.Fatalf("call span %s is linked from no audit request (%d of %d linked)", id, len(linked), calls)
		}
	}
}

// Many concurrent events share requests, and one of them is refused, so the rest are sent
// again: still each caller gets the receipt of its own event (the seq the service stored it
// at, and its leaf hash), never a neighbour's.
func TestAppenderHandsEachCallerItsOwnReceipt(t *testing.T) {
	f := &batchingAudit{delay: 5 * time.Millisecond, stored: map[string]int{}}
	a := &appender{client: f, tracer: noop.NewTracerProvider().Tracer("")}
	const events, bad = 400, 123
	receipts := make([]*auditv1.AppendResponse, events)
	errs := make([]error, events)
	var wg sync.WaitGroup
	for i := range events {
		tool := "ok"
		if i == bad {
			tool = "bad"
		}
		wg.Go(func() {
			receipts[i], errs[i] = a.append(context.Background(), &auditv1.Event{CorrelationId: fmt.Sprint(i), Tool: tool})
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for i, r := range receipts {
		if i == bad {
			if errs[i] == nil || r != nil {
				t.Fatalf("refused event: receipt %v, err %v", r, errs[i])
			}
			continue
		}
		corr := fmt.Sprint(i)
		stored := f.seqsOf(corr)
		if errs[i] != nil || len(stored) != 1 || r.GetSeq() != stored[0] || !bytes.Equal(r.GetLeafHash(), fakeLeafHash(stored[0], corr)) || seen[r.GetSeq()] {
			t.Fatalf("event %s: receipt %v (err %v); stored at %v", corr, r, errs[i], stored)
		}
		seen[r.GetSeq()] = true
	}
	if f.requests >= events/4 {
		t.Fatalf("%d events took %d requests: not batched, so the test proved little", events, f.requests)
	}
}
