package audit_test

import (
	"context"
	"sync"
	"testing"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// STATE-001: the original created a new lock per write, so concurrent audit writes
// interleaved and corrupted the log. Here 64 goroutines append 1,000 events each over gRPC;
// the log must hold exactly 64,000 intact events with dense sequence numbers and a valid chain.
func TestSTATE001ConcurrentAppendsAreDenseIntactAndChained(t *testing.T) {
	const workers, each = 64, 1000
	r := start(t, testConfig(t.TempDir()))

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e := event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, "s", key(w, i), "tool", map[string]any{"w": w, "i": i})
				if _, err := r.client.Append(context.Background(), &auditv1.AppendRequest{Event: e}); err != nil {
					t.Errorf("worker %d append %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	events := listAll(t, r.client, &auditv1.ListEventsRequest{PageSize: 1000})
	if len(events) != workers*each {
		t.Fatalf("log holds %d events, want %d", len(events), workers*each)
	}
	seen := make(map[string]bool, workers*each)
	for i, e := range events {
		if e.GetSeq() != uint64(i+1) {
			t.Fatalf("event %d has seq %d: sequence is not dense", i, e.GetSeq())
		}
		args := e.GetArguments().AsMap()
		k := key(int(args["w"].(float64)), int(args["i"].(float64)))
		if k != e.GetCorrelationId() {
			t.Fatalf("seq %d: arguments %v do not belong to correlation id %s", e.GetSeq(), args, e.GetCorrelationId())
		}
		if seen[k] {
			t.Fatalf("event %s stored twice", k)
		}
		seen[k] = true
	}
	mustVerify(t, r.client, workers*each)
}
