package recorder

import (
	"context"
	"fmt"
	"testing"
)

func batchItem(tool string, ids ...string) item {
	it := item{}
	for _, id := range ids {
		c := testCall(tool)
		c.CorrelationId = id
		it.calls = append(it.calls, c)
	}
	return it
}

// A batch too big for one transaction is committed in parts, each with its aggregates. If a
// part fails, the batch fails but the parts before it stay; a resend of the batch records
// only the rest, because the committed calls' correlation ids are remembered.
func TestApplyBatchFailingPartIsCompletedByResend(t *testing.T) {
	store := &unitStore{aggs: map[AggKey][]byte{}, ids: map[string]Recorded{}, maxCalls: 3, failTool: "bad"}
	r, err := Open(store, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())

	ids := make([]string, 8)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%d", i)
	}
	// The writer goroutine is idle (nothing is submitted), so the test may call apply itself.
	first := batchItem("good", ids...)
	first.calls[6].Tool = "bad" // in the last part of 8 = 2+2+2+2
	results, err := r.apply([]item{first})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Err == nil {
		t.Fatal("a batch with a failing part succeeded")
	}
	if len(store.calls) != 6 || store.global(t).Calls != 6 {
		t.Fatalf("after the failed part: %d calls stored, global counts %d; want the 6 of the parts before it", len(store.calls), store.global(t).Calls)
	}

	resend := batchItem("good", ids...)
	results, err = r.apply([]item{resend})
	if err != nil || results[0].Err != nil {
		t.Fatalf("resend: %v %v", err, results[0].Err)
	}
	dups := 0
	for i, rec := range results[0].Value.calls {
		if rec.Duplicate {
			dups++
		}
		if rec.Seq == 0 {
			t.Fatalf("call %d has no seq: %+v", i, rec)
		}
	}
	if dups != 6 || len(store.calls) != 8 || store.global(t).Calls != 8 {
		t.Fatalf("resend: %d duplicates, %d stored, global %d; want 6, 8, 8", dups, len(store.calls), store.global(t).Calls)
	}
}

// Within one writer batch, a call whose correlation id appears earlier (in the same item or
// another) is a duplicate of that call; if that call fails, so does the duplicate, since
// nothing was recorded under the id.
func TestApplyDuplicatesWithinAWriterBatch(t *testing.T) {
	store := &unitStore{aggs: map[AggKey][]byte{}, ids: map[string]Recorded{}, maxCalls: 100, failTool: "bad"}
	r, err := Open(store, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())

	results, err := r.apply([]item{batchItem("good", "a", "b", "a", "", ""), batchItem("good", "b")})
	if err != nil {
		t.Fatal(err)
	}
	got := results[0].Value.calls
	if results[0].Err != nil || results[1].Err != nil {
		t.Fatalf("errors: %v %v", results[0].Err, results[1].Err)
	}
	want := []Recorded{{Seq: 1}, {Seq: 2}, {Seq: 1, Duplicate: true}, {Seq: 3}, {Seq: 4}}
	for i, w := range want {
		if got[i].Seq != w.Seq || got[i].Duplicate != w.Duplicate {
			t.Fatalf("call %d: %+v, want seq %d duplicate %v", i, got[i], w.Seq, w.Duplicate)
		}
	}
	if b := results[1].Value.calls[0]; b.Seq != 2 || !b.Duplicate {
		t.Fatalf("second item's call b: %+v, want a duplicate of seq 2", b)
	}
	if store.global(t).Calls != 4 {
		t.Fatalf("global counts %d calls, want 4", store.global(t).Calls)
	}

	bad := batchItem("bad", "x")
	results, err = r.apply([]item{bad, batchItem("good", "x")})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Err == nil || results[1].Err == nil {
		t.Fatalf("a duplicate of a failed call succeeded: %+v", results)
	}
	results, err = r.apply([]item{batchItem("good", "x")})
	if err != nil || results[0].Err != nil || results[0].Value.calls[0].Duplicate {
		t.Fatalf("x after its first call failed: %+v %v", results, err)
	}
}
