package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// trailEvents are events of session S at seqs 3, 5 and 9 (other sessions' in between), each
// with a hash naming its seq.
func trailEvents() []*auditv1.Event {
	var out []*auditv1.Event
	for _, seq := range []uint64{1, 3, 4, 5, 9} {
		session := "S"
		if seq == 1 || seq == 4 {
			session = "other"
		}
		out = append(out, &auditv1.Event{Seq: seq, SessionId: session, Tool: fmt.Sprint("t", seq), Hash: []byte{byte(seq), 0x01},
			EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED})
	}
	return out
}

type provenEvent struct {
	Seq     string          `json:"seq"`
	Session string          `json:"session_id"`
	Tool    string          `json:"tool"`
	Proof   json.RawMessage `json:"inclusion_proof"`
}

type provenAnswer struct {
	Events      []provenEvent    `json:"events"`
	Checkpoint  *trailCheckpoint `json:"checkpoint"`
	VerifierKey string           `json:"verifier_key"`
}

// callTrail calls osiris_audit_trail for session S with args and returns the structured
// result, or the tool error's text.
func callTrail(t *testing.T, b *Builtins, args string) (provenAnswer, string) {
	t.Helper()
	var calls int
	reply, err := b.Around(context.Background(), toolCall("S", `{"name":"osiris_audit_trail","arguments":`+args+`}`), answer(`{}`, &calls))
	if err != nil || calls != 0 {
		t.Fatalf("%v after %d forwards", err, calls)
	}
	if reply.IsError() {
		return provenAnswer{}, reply.ErrorText()
	}
	var res struct {
		Structured provenAnswer `json:"structuredContent"`
	}
	if err := json.Unmarshal(reply.Result, &res); err != nil {
		t.Fatalf("%s: %v", reply.Result, err)
	}
	return res.Structured, ""
}

// With proof, the events the newest checkpoint covers carry their proof in it (one request
// each, at the checkpoint's size), a later event is marked pending, and the answer holds the
// checkpoint and the verifier key.
func TestAuditTrailWithProof(t *testing.T) {
	f := &proofAudit{events: trailEvents(), treeSize: 8}
	got, toolErr := callTrail(t, NewBuiltins(f, nil, nil), `{"proof":true}`)
	if toolErr != "" {
		t.Fatal(toolErr)
	}
	if len(got.Events) != 3 || got.VerifierKey != fakeVerifierKey || got.Checkpoint == nil ||
		*got.Checkpoint != (trailCheckpoint{TreeSize: 8, RootHash: "abcd", Note: fakeNote(8)}) {
		t.Fatalf("answer %+v", got)
	}
	want := []string{
		`{"leaf_hash":"0301","leaf_index":2,"tree_size":8,"hashes":["03","ff"]}`,
		`{"leaf_hash":"0501","leaf_index":4,"tree_size":8,"hashes":["05","ff"]}`,
		`{"pending":"not yet in a checkpoint"}`,
	}
	for i, e := range got.Events {
		if e.Session != "S" || e.Tool != "t"+e.Seq || string(e.Proof) != want[i] {
			t.Fatalf("event %d: %+v %s, want proof %s", i, e, e.Proof, want[i])
		}
	}
	if f.checkpoints != 1 || len(f.proofs) != 2 || f.proofs[0].GetSeq() != 3 || f.proofs[1].GetSeq() != 5 ||
		f.proofs[0].GetTreeSize() != 8 || f.proofs[1].GetTreeSize() != 8 {
		t.Fatalf("%d checkpoint requests, proofs asked: %v", f.checkpoints, f.proofs)
	}
}

// Without proof (absent or false) the answer is as before: the events alone, and the audit
// service is asked for no checkpoint or proof.
func TestAuditTrailWithoutProofIsUnchanged(t *testing.T) {
	for _, args := range []string{`{}`, `{"proof":false}`, `{"limit":2}`} {
		f := &proofAudit{events: trailEvents(), treeSize: 8}
		var calls int
		reply, err := NewBuiltins(f, nil, nil).Around(context.Background(), toolCall("S", `{"name":"osiris_audit_trail","arguments":`+args+`}`), answer(`{}`, &calls))
		if err != nil || reply.IsError() {
			t.Fatalf("%s: %v %s", args, err, reply.Result)
		}
		structured, _ := wire.Member(reply.Result, "structuredContent")
		var m map[string]json.RawMessage
		if err := json.Unmarshal(structured, &m); err != nil || len(m) != 1 || m["events"] == nil ||
			strings.Contains(string(reply.Result), proofMember) || f.checkpoints != 0 || len(f.proofs) != 0 {
			t.Fatalf("%s: %s; %d checkpoint requests, %d proofs", args, structured, f.checkpoints, len(f.proofs))
		}
	}
}

// Before the first checkpoint every event is pending and the checkpoint is null; a failure
// of the audit service is a tool error naming what failed; proof must be a boolean.
func TestAuditTrailProofEdges(t *testing.T) {
	got, toolErr := callTrail(t, NewBuiltins(&proofAudit{events: trailEvents()}, nil, nil), `{"proof":true}`)
	if toolErr != "" || got.Checkpoint != nil || len(got.Events) != 3 {
		t.Fatalf("no checkpoint yet: %+v %s", got, toolErr)
	}
	for _, e := range got.Events {
		if string(e.Proof) != `{"pending":"not yet in a checkpoint"}` {
			t.Fatalf("no checkpoint yet: event %s has %s", e.Seq, e.Proof)
		}
	}
	f := &proofAudit{events: trailEvents(), treeSize: 8, proofErr: status.Error(codes.Unavailable, "proofs are not built yet")}
	if _, toolErr := callTrail(t, NewBuiltins(f, nil, nil), `{"proof":true}`); !strings.Contains(toolErr, "inclusion proof of event 3") || !strings.Contains(toolErr, "proofs are not built yet") {
		t.Fatalf("proof failure: %q", toolErr)
	}
	for _, args := range []string{`{"proof":"yes"}`, `{"proof":1}`, `{"proof":null}`} {
		if _, toolErr := callTrail(t, NewBuiltins(&proofAudit{events: trailEvents()}, nil, nil), args); toolErr != "proof must be true or false" {
			t.Fatalf("%s: %q", args, toolErr)
		}
	}
}
