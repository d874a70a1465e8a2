package fanout

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// replyMeta is what a test reads of a reply's _meta.
type replyMeta struct {
	Meta struct {
		Correlation string    `json:"correlation_id"`
		Receipts    *receipts `json:"osiris/audit"`
	} `json:"_meta"`
}

func readMeta(t *testing.T, r *wire.Reply) replyMeta {
	t.Helper()
	var m replyMeta
	if err := json.Unmarshal(r.Result, &m); err != nil {
		t.Fatalf("result %s: %v", r.Result, err)
	}
	return m
}

// The receipts are spliced into the reply's _meta next to the correlation id, in the
// documented shape, and every other byte of the result is kept.
func TestReplyCarriesItsReceiptsInMeta(t *testing.T) {
	f := &batchingAudit{stored: map[string]int{}}
	a := newTestAudit(t, f, false)
	const result = `{"content":[], "_meta":{"k":1}}`
	var calls int
	reply, err := a.Around(context.Background(), toolCall("S", `{"name":"t"}`), answer(result, &calls))
	if err != nil {
		t.Fatal(err)
	}
	corr := readMeta(t, reply).Meta.Correlation
	want := fmt.Sprintf(`{"content":[], "_meta":{"k":1,"correlation_id":%q,"osiris/audit":{"started":{"seq":1,"leaf_hash":"%x"},"ended":{"seq":2,"leaf_hash":"%x"}}}}`,
		corr, fakeLeafHash(1, corr), fakeLeafHash(2, corr))
	if string(reply.Result) != want {
		t.Fatalf("reply\n%s\nwant\n%s", reply.Result, want)
	}
}

// Many calls at once share AppendBatch requests; each reply carries the seqs and leaf hashes
// of its own call's two events, never another call's.
func TestConcurrentCallsEachGetTheirOwnReceipts(t *testing.T) {
	f := &batchingAudit{delay: 3 * time.Millisecond, stored: map[string]int{}}
	a := newTestAudit(t, f, false)
	const calls = 300
	replies := make([]*wire.Reply, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			var n int
			reply, err := a.Around(context.Background(), toolCall(fmt.Sprint("S", i%7), fmt.Sprintf(`{"name":"t%d"}`, i)), answer(`{"content":[]}`, &n))
			if err != nil {
				t.Error(err)
			}
			replies[i] = reply
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for i, reply := range replies {
		if reply == nil {
			t.Fatalf("call %d: no reply", i)
		}
		m := readMeta(t, reply).Meta
		seqs := f.seqsOf(m.Correlation)
		rs := m.Receipts
		if len(seqs) != 2 || rs == nil || rs.Started == nil || rs.Ended == nil {
			t.Fatalf("call %d (%s): receipts %+v, events stored at %v", i, m.Correlation, rs, seqs)
		}
		for j, r := range []*receipt{rs.Started, rs.Ended} {
			if r.Seq != seqs[j] || r.LeafHash != hex.EncodeToString(fakeLeafHash(seqs[j], m.Correlation)) || seen[r.Seq] {
				t.Fatalf("call %d (%s): receipt %d is %+v; its event is at seq %d", i, m.Correlation, j, r, seqs[j])
			}
			seen[r.Seq] = true
		}
	}
	if f.requests >= calls {
		t.Fatalf("%d calls' events took %d requests: not batched, so the test proved little", calls, f.requests)
	}
}

// failingTypes is an audit service that cannot record events of some types (UNAVAILABLE)
// and records the others as batchingAudit does.
type failingTypes struct {
	*batchingAudit
	fail map[auditv1.EventType]bool
}

func (f *failingTypes) AppendBatch(ctx context.Context, req *auditv1.AppendBatchRequest, opts ...grpc.CallOption) (*auditv1.AppendBatchResponse, error) {
	for _, e := range req.GetEvents() {
		if f.fail[e.GetEventType()] {
			return nil, status.Error(codes.Unavailable, "audit service down")
		}
	}
	return f.batchingAudit.AppendBatch(ctx, req, opts...)
}

// Failing open, an event that was not recorded has no receipt: its member is left out, and
// with neither recorded the key is; the correlation id is there in every case.
func TestFailOpenOmitsTheReceiptOfWhatWasNotRecorded(t *testing.T) {
	const started, completed = auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED
	for _, tc := range []struct {
		name             string
		fail             []auditv1.EventType
		hasStart, hasEnd bool
	}{
		{"both recorded", nil, true, true},
		{"start not recorded", []auditv1.EventType{started}, false, true},
		{"end not recorded", []auditv1.EventType{completed}, true, false},
		{"neither recorded", []auditv1.EventType{started, completed}, false, false},
	} {
		f := &failingTypes{batchingAudit: &batchingAudit{stored: map[string]int{}}, fail: map[auditv1.EventType]bool{}}
		for _, typ := range tc.fail {
			f.fail[typ] = true
		}
		a := newTestAudit(t, f, true)
		var calls int
		reply, err := a.Around(context.Background(), toolCall("S", `{"name":"t"}`), answer(`{"content":[]}`, &calls))
		if err != nil || calls != 1 {
			t.Fatalf("%s: %v after %d forwards", tc.name, err, calls)
		}
		m := readMeta(t, reply).Meta
		seqs := f.seqsOf(m.Correlation)
		rs := m.Receipts
		if m.Correlation == "" || (rs == nil) != (!tc.hasStart && !tc.hasEnd) {
			t.Fatalf("%s: reply %s", tc.name, reply.Result)
		}
		if rs == nil {
			if hasKey(t, reply, ReceiptKey) {
				t.Fatalf("%s: %s present in %s", tc.name, ReceiptKey, reply.Result)
			}
			continue
		}
		recorded := 0
		for _, has := range []bool{tc.hasStart, tc.hasEnd} {
			if has {
				recorded++
			}
		}
		if (rs.Started != nil) != tc.hasStart || (rs.Ended != nil) != tc.hasEnd || len(seqs) != recorded {
			t.Fatalf("%s: receipts %+v; stored at %v", tc.name, rs, seqs)
		}
		if r := rs.Started; r != nil && r.Seq != seqs[0] {
			t.Fatalf("%s: started %+v, stored at %v", tc.name, r, seqs)
		}
		if r := rs.Ended; r != nil && r.Seq != seqs[len(seqs)-1] {
			t.Fatalf("%s: ended %+v, stored at %v", tc.name, r, seqs)
		}
	}
}

func hasKey(t *testing.T, r *wire.Reply, key string) bool {
	t.Helper()
	var m struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal(r.Result, &m); err != nil {
		t.Fatal(err)
	}
	_, ok := m.Meta[key]
	return ok
}

// A service that answers no seq (a receipt of 0) or no leaf hash gets no made-up receipt:
// the member is left out, or the hash is.
func TestReceiptIsOnlyWhatTheServiceAnswered(t *testing.T) {
	if r := receiptOf(&auditv1.AppendResponse{}); r != nil {
		t.Fatalf("receipt of seq 0: %+v", r)
	}
	if r := receiptOf(nil); r != nil {
		t.Fatalf("receipt of nothing: %+v", r)
	}
	b, _ := json.Marshal(receiptOf(&auditv1.AppendResponse{Seq: 9, Hash: []byte{1}}))
	if string(b) != `{"seq":9}` {
		t.Fatalf("receipt without a leaf hash: %s", b)
	}
}
