package recorder

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/services/telemetry/internal/aggregate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// unitStore keeps committed aggregates (encoded, as a real store does) and refuses units with
// more than maxCalls calls as too big, or any unit holding a call of the tool named failTool.
type unitStore struct {
	Store    // unused methods panic
	aggs     map[AggKey][]byte
	ids      map[string]Recorded // remembered correlation ids
	calls    []uint64
	commits  []int // calls per committed unit
	maxCalls int
	failTool string
}

func (s *unitStore) LastSeqs() (uint64, uint64, error) { return 0, 0, nil }
func (s *unitStore) Sync() error                       { return nil }
func (s *unitStore) Close() error                      { return nil }

func (s *unitStore) Correlations(ids []string) (map[string]Recorded, error) {
	out := map[string]Recorded{}
	for _, id := range ids {
		if rec, ok := s.ids[id]; ok {
			out[id] = rec
		}
	}
	return out, nil
}

func (s *unitStore) Aggregates(keys []AggKey) (map[AggKey]*aggregate.Aggregate, error) {
	out := map[AggKey]*aggregate.Aggregate{}
	for _, k := range keys {
		if b, ok := s.aggs[k]; ok {
			a, err := aggregate.Decode(b)
			if err != nil {
				return nil, err
			}
			out[k] = a
		}
	}
	return out, nil
}

func (s *unitStore) Commit(u *Unit) error {
	if len(u.Calls) > s.maxCalls {
		return fmt.Errorf("%d calls: %w", len(u.Calls), ErrTooBig)
	}
	for _, c := range u.Calls {
		if c.GetTool() == s.failTool {
			return errors.New("disk on fire")
		}
	}
	for k, a := range u.Aggregates {
		s.aggs[k] = a.Marshal()
	}
	for _, c := range u.Calls {
		s.calls = append(s.calls, c.GetSeq())
		if id := c.GetCorrelationId(); id != "" {
			s.ids[id] = Recorded{Seq: c.GetSeq(), Time: c.GetTime().AsTime()}
		}
	}
	s.commits = append(s.commits, len(u.Calls))
	return nil
}

func (s *unitStore) global(t *testing.T) aggregate.Totals {
	t.Helper()
	a, err := aggregate.Decode(s.aggs[AggKey{Kind: AggGlobal}])
	if err != nil {
		t.Fatal(err)
	}
	return a.Totals
}

func testCall(tool string) *telemetryv1.ToolCall {
	return &telemetryv1.ToolCall{Tool: tool, SessionId: "s", Status: telemetryv1.CallStatus_CALL_STATUS_OK,
		DurationMs: 2, Time: timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
}

func callItem(tool string) item { return item{calls: []*telemetryv1.ToolCall{testCall(tool)}} }

// A batch too big for one transaction is split in halves until each part fits; every part
// is committed with its own aggregates, in order, and numbered densely. A unit whose commit
// fails leaves nothing behind, not even in the writer's cache of aggregates.
func TestApplySplitsTooBigUnitsAndForgetsFailedOnes(t *testing.T) {
	store := &unitStore{aggs: map[AggKey][]byte{}, ids: map[string]Recorded{}, maxCalls: 3, failTool: "bad"}
	r, err := Open(store, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())

	// The writer goroutine is idle (nothing is submitted), so the test may call apply itself.
	batch := make([]item, 10)
	for i := range batch {
		batch[i] = callItem("good")
	}
	results, err := r.apply(batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, res := range results {
		if res.Err != nil || res.Value.calls[0].Seq != uint64(i+1) || batch[i].calls[0].GetSeq() != uint64(i+1) {
			t.Fatalf("item %d: %+v, err %v", i, res.Value.calls, res.Err)
		}
	}
	if fmt.Sprint(store.commits) != "[2 3 2 3]" {
		t.Fatalf("units committed: %v, want [2 3 2 3] (10 split to 5+5, each to 2+3)", store.commits)
	}
	if g := store.global(t); g.Calls != 10 || g.DurationMs != 20 {
		t.Fatalf("global after the split batch: %+v", g)
	}

	// A failing unit: its items fail, the others of the batch still commit.
	mixed := []item{callItem("good"), callItem("bad"), callItem("good"), callItem("good")}
	results, err = r.apply(mixed)
	if err != nil {
		t.Fatal(err)
	}
	// Four calls split to 2+2: the half with "bad" fails whole, the other commits.
	if results[0].Err == nil || results[1].Err == nil || results[2].Err != nil || results[3].Err != nil {
		t.Fatalf("results %+v", results)
	}
	if results[2].Value.calls[0].Seq != 11 || results[3].Value.calls[0].Seq != 12 {
		t.Fatalf("seqs after a failed unit: %+v %+v, want 11 12", results[2].Value.calls, results[3].Value.calls)
	}
	if g := store.global(t); g.Calls != 12 {
		t.Fatalf("global counts %d calls, want 12: the failed unit leaked into the aggregates", g.Calls)
	}
	// The next unit builds on the committed aggregates, not on what the failed unit changed.
	if _, err := r.apply([]item{callItem("good")}); err != nil {
		t.Fatal(err)
	}
	if g := store.global(t); g.Calls != 13 {
		t.Fatalf("global counts %d calls, want 13", g.Calls)
	}
	if len(store.calls) != 13 || store.calls[12] != 13 {
		t.Fatalf("stored seqs %v", store.calls)
	}
}
