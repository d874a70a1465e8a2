package fanout

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// provenTrail is osiris_audit_trail's answer with proof: the events, each with its inclusion
// proof in the checkpoint, and what an agent needs to check them offline. Hashes are hex, as
// in the receipts.
type provenTrail struct {
	Events []json.RawMessage `json:"events"`
	// Checkpoint is the newest checkpoint, nil when the log has none yet.
	Checkpoint *trailCheckpoint `json:"checkpoint"`
	// VerifierKey checks the checkpoint's signature. An agent that trusts it only because
	// this answer carries it proves nothing: compare it with a key obtained out of band.
	VerifierKey string `json:"verifier_key"`
}

type trailCheckpoint struct {
	TreeSize uint64 `json:"tree_size"`
	RootHash string `json:"root_hash"`
	Note     string `json:"note"` // the C2SP signed note, as served at /v1/audit/checkpoint:note
}

// inclusionProof proves that leaf_hash is leaf leaf_index of the checkpoint's tree.
type inclusionProof struct {
	LeafHash  string   `json:"leaf_hash"`
	LeafIndex uint64   `json:"leaf_index"`
	TreeSize  uint64   `json:"tree_size"`
	Hashes    []string `json:"hashes"`
}

// notInCheckpoint marks an event appended after the newest checkpoint (made at most every
// checkpoint interval): there is nothing to prove it against yet.
type notInCheckpoint struct {
	Pending string `json:"pending"`
}

// proofMember is the member each event of a proven trail gains.
const proofMember = "inclusion_proof"

// prove gets the newest checkpoint once and an inclusion proof in it for each event it
// covers: one request per event, and events are at most maxTrail.
func (b *Builtins) prove(ctx context.Context, events []*auditv1.Event) (*provenTrail, error) {
	key, err := b.audit.GetPublicKey(ctx, &auditv1.GetPublicKeyRequest{})
	if err != nil {
		return nil, fmt.Errorf("the audit log's verifier key: %w", err)
	}
	out := &provenTrail{Events: make([]json.RawMessage, len(events)), VerifierKey: key.GetVerifierKey()}
	cp, err := b.audit.GetCheckpoint(ctx, &auditv1.GetCheckpointRequest{})
	switch {
	case status.Code(err) == codes.NotFound: // no checkpoint yet: every event is pending
	case err != nil:
		return nil, fmt.Errorf("the audit log's newest checkpoint: %w", err)
	default:
		out.Checkpoint = &trailCheckpoint{TreeSize: cp.GetTreeSize(), RootHash: hex.EncodeToString(cp.GetRootHash()), Note: string(cp.GetNote())}
	}
	for i, e := range events {
		var proof any = notInCheckpoint{Pending: "not yet in a checkpoint"}
		if out.Checkpoint != nil && e.GetSeq() <= out.Checkpoint.TreeSize {
			p, err := b.audit.GetInclusionProof(ctx, &auditv1.GetInclusionProofRequest{Seq: e.GetSeq(), TreeSize: out.Checkpoint.TreeSize})
			if err != nil {
				return nil, fmt.Errorf("inclusion proof of event %d: %w", e.GetSeq(), err)
			}
			proof = inclusionProof{LeafHash: hex.EncodeToString(e.GetHash()), LeafIndex: p.GetLeafIndex(), TreeSize: p.GetTreeSize(), Hashes: hexes(p.GetHashes())}
		}
		if out.Events[i], err = withMember(e, proofMember, proof); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// withMember is e as protojson (the proto field names, as the trail without proof), with one
// member more.
func withMember(e *auditv1.Event, name string, value any) (json.RawMessage, error) {
	obj, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(e)
	if err != nil {
		return nil, err
	}
	v, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	return wire.SetMember(obj, name, v)
}

func hexes(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h)
	}
	return out
}
