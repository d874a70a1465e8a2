package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// A batch with one bad event stores nothing and names the event; so do an empty batch and
// one over the limit. Exactly the limit is taken, with consecutive seqs.
func TestAppendBatchBadInputStoresNothing(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	good := func(n int) []*auditv1.Event {
		out := make([]*auditv1.Event, n)
		for i := range out {
			out[i] = event(started, "s", fmt.Sprintf("c%d", i), "tool", map[string]any{"i": i})
		}
		return out
	}
	badAt := func(n, at int, f func(*auditv1.Event)) []*auditv1.Event {
		events := good(n)
		f(events[at])
		return events
	}
	tests := []struct {
		name   string
		events []*auditv1.Event
		msg    string
	}{
		{"empty", nil, "events is empty"},
		{"over the limit", good(1001), "events holds 1001 events, over the limit of 1000"},
		{"first bad", badAt(5, 0, func(e *auditv1.Event) { e.EventType = 0 }), "events[0].event_type is required"},
		{"middle bad", badAt(5, 2, func(e *auditv1.Event) { e.Tool = strings.Repeat("t", 257) }), "events[2].tool is 257 bytes"},
		{"last bad", badAt(5, 4, func(e *auditv1.Event) { e.Seq = 9 }), "events[4].seq, time, prev_hash and hash are set by the service"},
		{"empty event", append(good(2), &auditv1.Event{}), "events[2].event_type is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.client.AppendBatch(context.Background(), &auditv1.AppendBatchRequest{Events: tt.events})
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.msg) {
				t.Fatalf("err = %v %q, want InvalidArgument containing %q", st.Code(), st.Message(), tt.msg)
			}
		})
	}
	mustVerify(t, r.client, 0) // nothing was stored

	resp, err := r.client.AppendBatch(context.Background(), &auditv1.AppendBatchRequest{Events: good(1000)})
	if err != nil {
		t.Fatal(err)
	}
	for i, rc := range resp.GetReceipts() {
		if rc.GetSeq() != uint64(i+1) || len(rc.GetHash()) != 32 {
			t.Fatalf("receipt %d: %v", i, rc)
		}
	}
	mustVerify(t, r.client, 1000)
}

// Batches and single appends from many goroutines: every event stored once, intact, each
// batch on consecutive seqs in its order, the whole log dense and chained.
func TestConcurrentBatchesAreContiguousAndChained(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	const workers, rounds = 16, 30
	var mu sync.Mutex
	want := map[string]uint64{} // correlation id -> seq from its receipt
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				n := 1 + (w*7+i*13)%40
				events := make([]*auditv1.Event, n)
				for k := range events {
					events[k] = event(started, fmt.Sprintf("s%d", w), fmt.Sprintf("%d/%d/%d", w, i, k), "tool", map[string]any{"k": k})
				}
				var seqs []uint64
				if i%3 == 0 { // some single appends in between
					for _, e := range events {
						resp, err := r.client.Append(context.Background(), &auditv1.AppendRequest{Event: e})
						if err != nil {
							t.Errorf("append: %v", err)
							return
						}
						seqs = append(seqs, resp.GetSeq())
					}
				} else {
					resp, err := r.client.AppendBatch(context.Background(), &auditv1.AppendBatchRequest{Events: events})
					if err != nil {
						t.Errorf("batch: %v", err)
						return
					}
					for k, rc := range resp.GetReceipts() {
						if k > 0 && rc.GetSeq() != seqs[k-1]+1 {
							t.Errorf("batch %d/%d: seq %d after %d, want consecutive", w, i, rc.GetSeq(), seqs[k-1])
						}
						seqs = append(seqs, rc.GetSeq())
					}
				}
				mu.Lock()
				for k, e := range events {
					want[e.GetCorrelationId()] = seqs[k]
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	all := listAll(t, r.client, &auditv1.ListEventsRequest{PageSize: 1000})
	if len(all) != len(want) {
		t.Fatalf("%d events stored, %d appended", len(all), len(want))
	}
	for i, e := range all {
		if e.GetSeq() != uint64(i+1) {
			t.Fatalf("event %d has seq %d: not dense", i, e.GetSeq())
		}
		if seq, ok := want[e.GetCorrelationId()]; !ok || seq != e.GetSeq() {
			t.Fatalf("event %d (%s) is not the one its receipt named (%d)", e.GetSeq(), e.GetCorrelationId(), seq)
		}
		var w, round, k int
		fmt.Sscanf(e.GetCorrelationId(), "%d/%d/%d", &w, &round, &k)
		if e.GetSessionId() != fmt.Sprintf("s%d", w) || e.GetArguments().GetFields()["k"].GetNumberValue() != float64(k) {
			t.Fatalf("event %d is not intact: %v", e.GetSeq(), e)
		}
	}
	mustVerify(t, r.client, uint64(len(want)))
}

func TestAppendBatchOverREST(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	url := "http://" + r.svc.HTTPAddr() + "/v1/audit/events:batchAppend"
	post := func(body string) (int, map[string]any) {
		resp, err := httpClient().Post(url, "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("reply %s: %v", b, err)
		}
		return resp.StatusCode, m
	}
	code, m := post(`{"events":[{"eventType":"EVENT_TYPE_TOOL_CALL_STARTED","tool":"a"},{"eventType":"EVENT_TYPE_TOOL_CALL_COMPLETED","tool":"a"}]}`)
	receipts, _ := m["receipts"].([]any)
	if code != 200 || len(receipts) != 2 || receipts[1].(map[string]any)["seq"] != "2" {
		t.Fatalf("batch append: %d %v", code, m)
	}
	if code, m := post(`{"events":[{"tool":"a"}]}`); code != 400 || !strings.Contains(fmt.Sprint(m["message"]), "events[0].event_type is required") {
		t.Fatalf("bad batch: %d %v", code, m)
	}
	mustVerify(t, r.client, 2)
}
