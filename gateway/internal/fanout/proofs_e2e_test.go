package fanout

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// End to end against the real audit service: the receipts in each reply name the events the
// log holds, and osiris_audit_trail with proof answers proofs that verify, with the
// library's verifier, against the root of a checkpoint whose signature verifies with the
// verifier key; a changed leaf hash does not verify.
func TestReceiptsAndTrailProofsVerifyAgainstTheRealLog(t *testing.T) {
	client := startAudit(t, 1<<20)
	a := newTestAudit(t, client, false)
	around := wire.Chain(a.Around, NewBuiltins(client, nil, nil).Around)
	const session, calls = "S-proofs", 5
	var got []receipts
	for i := range calls {
		var n int
		reply, err := around(context.Background(), toolCall(session, fmt.Sprintf(`{"name":"t%d","arguments":{"i":%d}}`, i, i)), answer(`{"content":[]}`, &n))
		if err != nil {
			t.Fatal(err)
		}
		m := readMeta(t, reply).Meta
		if m.Receipts == nil || m.Receipts.Started == nil || m.Receipts.Ended == nil {
			t.Fatalf("call %d: reply %s has no receipts", i, reply.Result)
		}
		got = append(got, *m.Receipts)
	}
	byseq := map[uint64]*auditv1.Event{}
	for _, e := range events(t, client, session) {
		byseq[e.GetSeq()] = e
	}
	for i, rs := range got {
		for _, r := range []*receipt{rs.Started, rs.Ended} {
			e := byseq[r.Seq]
			if e == nil || r.LeafHash != hex.EncodeToString(e.GetHash()) || len(e.GetHash()) != 32 {
				t.Fatalf("call %d: receipt %+v; the log has %v", i, r, e)
			}
		}
	}

	// Checkpoints are made in the background; wait (bounded) for one that covers every call.
	last := got[calls-1].Ended.Seq
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp, err := client.GetCheckpoint(context.Background(), &auditv1.GetCheckpointRequest{})
		if err == nil && cp.GetTreeSize() >= last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint covers seq %d after 10 s: %v %v", last, cp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	var n int
	reply, err := around(context.Background(), toolCall(session, `{"name":"osiris_audit_trail","arguments":{"proof":true}}`), answer(`{}`, &n))
	if err != nil || reply.IsError() {
		t.Fatalf("trail: %v %s", err, reply.Result)
	}
	var res struct {
		Structured struct {
			Events []struct {
				Seq   string          `json:"seq"`
				Hash  []byte          `json:"hash"`
				Proof json.RawMessage `json:"inclusion_proof"`
			} `json:"events"`
			Checkpoint  *trailCheckpoint `json:"checkpoint"`
			VerifierKey string           `json:"verifier_key"`
		} `json:"structuredContent"`
	}
	if err := json.Unmarshal(reply.Result, &res); err != nil {
		t.Fatal(err)
	}
	trail := res.Structured
	if trail.Checkpoint == nil {
		t.Fatalf("trail has no checkpoint: %s", reply.Result)
	}
	size, root := openCheckpoint(t, trail.Checkpoint.Note, trail.VerifierKey)
	if size != trail.Checkpoint.TreeSize || hex.EncodeToString(root) != trail.Checkpoint.RootHash || size < last {
		t.Fatalf("note says size %d root %x; answer says %+v; last receipt %d", size, root, trail.Checkpoint, last)
	}
	proved := map[uint64]bool{}
	for _, e := range trail.Events {
		seq, _ := strconv.ParseUint(e.Seq, 10, 64)
		var p inclusionProof
		if err := json.Unmarshal(e.Proof, &p); err != nil || p.LeafHash == "" {
			if seq <= size || !bytes.Contains(e.Proof, []byte("pending")) {
				t.Fatalf("event %d: proof %s in a checkpoint of size %d", seq, e.Proof, size)
			}
			continue
		}
		leaf, _ := hex.DecodeString(p.LeafHash)
		hashes := make([][]byte, len(p.Hashes))
		for i, h := range p.Hashes {
			hashes[i], _ = hex.DecodeString(h)
		}
		if !bytes.Equal(leaf, e.Hash) || p.LeafIndex != seq-1 || p.TreeSize != size {
			t.Fatalf("event %d: proof %s for leaf %x", seq, e.Proof, e.Hash)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, p.TreeSize, leaf, hashes, root); err != nil {
			t.Fatalf("event %d: inclusion proof does not verify: %v", seq, err)
		}
		changed := bytes.Clone(leaf)
		changed[0] ^= 1
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, p.TreeSize, changed, hashes, root); err == nil {
			t.Fatalf("event %d: the proof verifies a changed leaf hash too", seq)
		}
		proved[seq] = true
	}
	for i, rs := range got {
		if !proved[rs.Started.Seq] || !proved[rs.Ended.Seq] {
			t.Fatalf("call %d: receipts %+v not proved by the trail (proved: %v)", i, rs, proved)
		}
	}
}

// openCheckpoint checks the note's signature with key and returns the tree size and root it
// signs (C2SP tlog-checkpoint: origin, size, base64 root).
func openCheckpoint(t *testing.T, text, key string) (uint64, []byte) {
	t.Helper()
	v, err := note.NewVerifier(key)
	if err != nil {
		t.Fatalf("verifier key %q: %v", key, err)
	}
	n, err := note.Open([]byte(text), note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint %q does not verify with %q: %v", text, key, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		t.Fatalf("checkpoint text %q", n.Text)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint size %q: %v", lines[1], err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		t.Fatalf("checkpoint root %q: %v", lines[2], err)
	}
	return size, root
}
