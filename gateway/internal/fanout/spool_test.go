package fanout

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

// fakeTelemetry stands for the telemetry service: it records batches, or answers with what
// refuse returns for a batch.
type fakeTelemetry struct {
	telemetryv1.TelemetryServiceClient // other methods are not used
	refuse                             func([]*telemetryv1.ToolCall) error

	mu       sync.Mutex
	batches  [][]*telemetryv1.ToolCall // accepted
	attempts int
}

func (f *fakeTelemetry) RecordToolCalls(_ context.Context, req *telemetryv1.RecordToolCallsRequest, _ ...grpc.CallOption) (*telemetryv1.RecordToolCallsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.refuse != nil {
		if err := f.refuse(req.GetCalls()); err != nil {
			return nil, err
		}
	}
	f.batches = append(f.batches, slices.Clone(req.GetCalls())) // gRPC would have encoded them by now
	return &telemetryv1.RecordToolCallsResponse{Recorded: uint32(len(req.GetCalls()))}, nil
}

// recorded returns the correlation ids of the accepted records, and how many RPCs were accepted.
func (f *fakeTelemetry) recorded() (map[string]int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := map[string]int{}
	for _, b := range f.batches {
		for _, c := range b {
			ids[c.GetCorrelationId()]++
		}
	}
	return ids, len(f.batches)
}

// droppedMeter counts what is added to osiris.gateway.telemetry_dropped.
type droppedMeter struct {
	noop.Meter
	dropped *counter
}

type counter struct {
	noop.Int64Counter
	n atomic.Int64
}

func (c *counter) Add(_ context.Context, v int64, _ ...metric.AddOption) { c.n.Add(v) }

func (m droppedMeter) Int64Counter(string, ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return m.dropped, nil
}

func newSpool(t *testing.T, client telemetryv1.TelemetryServiceClient, capacity int) (*Telemetry, *counter) {
	t.Helper()
	dropped := &counter{}
	spool, err := NewTelemetry(client, capacity, droppedMeter{dropped: dropped}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return spool, dropped
}

// running runs spool until the test stops it; stop waits for Run to return.
func running(spool *Telemetry, drain time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { spool.Run(ctx, drain); close(done) }()
	return func() { cancel(); <-done }
}

func waitSent(t *testing.T, spool *Telemetry) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); spool.Pending() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d records still pending after 30 s", spool.Pending())
		}
	}
}

func record(i int, errText string) *telemetryv1.ToolCall {
	c := &telemetryv1.ToolCall{SessionId: "s", CorrelationId: fmt.Sprintf("corr-%d", i), Tool: "echo", Status: telemetryv1.CallStatus_CALL_STATUS_OK}
	if errText != "" {
		c.Status, c.Error = telemetryv1.CallStatus_CALL_STATUS_ERROR, errText
	}
	return c
}

// Records queued in the spool are sent in batches: far fewer RPCs than records, none over
// maxBatch records or over maxBatchBytes plus one record, and every record exactly once.
func TestSpoolSendsRecordsInBatches(t *testing.T) {
	for _, tt := range []struct {
		name    string
		n       int
		errText string
		maxRPCs int
	}{
		{"small records", 2000, "", 2000 / 4},
		{"records with long errors", 300, strings.Repeat("e", 15<<10), 300 / 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeTelemetry{}
			spool, dropped := newSpool(t, fake, tt.n)
			for i := range tt.n {
				spool.enqueue(record(i, tt.errText))
			}
			stop := running(spool, time.Second)
			waitSent(t, spool)
			stop()
			ids, rpcs := fake.recorded()
			if len(ids) != tt.n || dropped.n.Load() != 0 {
				t.Fatalf("%d distinct records sent, %d dropped; want %d and 0", len(ids), dropped.n.Load(), tt.n)
			}
			for id, k := range ids {
				if k != 1 {
					t.Fatalf("%s sent %d times", id, k)
				}
			}
			if rpcs > tt.maxRPCs {
				t.Fatalf("%d records took %d RPCs; want at most %d (batches)", tt.n, rpcs, tt.maxRPCs)
			}
			for _, b := range fake.batches {
				size := 0
				for _, c := range b {
					size += proto.Size(c)
				}
				if len(b) > maxBatch || size > maxBatchBytes+maxRecordBytes {
					t.Fatalf("a batch of %d records, %d bytes: over the bounds (%d, %d)", len(b), size, maxBatch, maxBatchBytes+maxRecordBytes)
				}
			}
			t.Logf("%d records in %d RPCs", tt.n, rpcs)
		})
	}
}

// A batch refused as invalid recorded nothing: the spool splits it until the invalid records
// are alone, drops and counts those, and delivers all the others.
func TestSpoolDropsOnlyTheInvalidRecordsOfARefusedBatch(t *testing.T) {
	const n = 1000
	bad := map[string]bool{"corr-3": true, "corr-500": true, "corr-998": true}
	fake := &fakeTelemetry{refuse: func(calls []*telemetryv1.ToolCall) error {
		for i, c := range calls {
			if bad[c.GetCorrelationId()] {
				return status.Errorf(codes.InvalidArgument, "calls[%d].tool is invalid", i)
			}
		}
		return nil
	}}
	spool, dropped := newSpool(t, fake, n)
	for i := range n {
		spool.enqueue(record(i, ""))
	}
	stop := running(spool, time.Second)
	waitSent(t, spool)
	stop()
	ids, _ := fake.recorded()
	if len(ids) != n-len(bad) || dropped.n.Load() != int64(len(bad)) {
		t.Fatalf("%d records delivered, %d dropped; want %d and %d", len(ids), dropped.n.Load(), n-len(bad), len(bad))
	}
	for id := range bad {
		if ids[id] != 0 {
			t.Fatalf("invalid record %s was delivered", id)
		}
	}
}

// While the service is down, records that cannot be delivered by the end of the drain go
// back to the spool, or are dropped and counted when it is full: none is lost in a sender's
// hands, and Pending stays exact.
func TestSpoolKeepsUndeliveredRecordsAtShutdown(t *testing.T) {
	const capacity = 10
	fake := &fakeTelemetry{refuse: func([]*telemetryv1.ToolCall) error { return status.Error(codes.Unavailable, "down") }}
	spool, dropped := newSpool(t, fake, capacity)
	for i := range capacity {
		spool.enqueue(record(i, ""))
	}
	stop := running(spool, 50*time.Millisecond)
	for i := capacity; i < 2*capacity; i++ {
		spool.enqueue(record(i, "")) // some senders hold records, the spool fills again
	}
	stop()
	if p, d, l := spool.Pending(), dropped.n.Load(), len(spool.spool); p != capacity || d != capacity || l != capacity {
		t.Fatalf("after shutdown: %d pending, %d dropped, %d in the spool; want %d each", p, d, l, capacity)
	}
}

// clipText keeps error text within the service's limit, valid UTF-8, cut between characters.
func TestClipText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"abc", "abc"},
		{"abcdef", "abcd"},
		{"abcé", "abc"},      // é is two bytes: cutting at 4 would split it
		{"\xffb", "\uFFFDb"}, // the replacement character is three bytes
	} {
		if got := clipText(tt.in, 4); got != tt.want {
			t.Errorf("clipText(%q, 4) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
