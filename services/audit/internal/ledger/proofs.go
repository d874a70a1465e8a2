package ledger

import (
	"context"

	"github.com/osirisplane/osiris/platform/apierr"
)

// Checkpoint is a signed statement of the tree: its size, its root hash, and the note (C2SP
// signed-note text: origin, size, base64 root, signature lines) that signs them.
type Checkpoint struct {
	Size uint64
	Root []byte
	Note []byte
}

// Proof is an inclusion proof: the hashes that lead from leaf LeafIndex to the root of the
// tree of size TreeSize (RFC 6962 / RFC 9162 order).
type Proof struct {
	LeafIndex uint64
	TreeSize  uint64
	Hashes    [][]byte
}

// Checkpoint returns the newest checkpoint when size is 0, else the checkpoint made at exactly
// that tree size (NotFound when none was: checkpoints are made at most every interval).
func (l *Ledger) Checkpoint(ctx context.Context, size uint64) (Checkpoint, error) {
	return Checkpoint{}, apierr.Unavailable("checkpoints are not built yet")
}

// InclusionProof proves that the event seq is leaf seq-1 of the tree of treeSize leaves; a
// treeSize of 0 means the newest checkpoint's size. treeSize must not pass the durable head.
func (l *Ledger) InclusionProof(ctx context.Context, seq, treeSize uint64) (Proof, error) {
	return Proof{}, apierr.Unavailable("proofs are not built yet")
}

// ConsistencyProof proves that the tree of from leaves is a prefix of the tree of to leaves
// (0 < from <= to <= the durable head).
func (l *Ledger) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	return nil, apierr.Unavailable("proofs are not built yet")
}

// VerifierKey is the signed-note verifier key of the checkpoints ("name+hash+base64key").
func (l *Ledger) VerifierKey() string { return "" }
