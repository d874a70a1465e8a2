package ledger

import (
	"context"
	"errors"

	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/services/audit/internal/logtree"
	"github.com/osirisplane/osiris/services/audit/internal/verify"
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
func (l *Ledger) Checkpoint(_ context.Context, size uint64) (Checkpoint, error) {
	latest := l.checkpoints.latest.Load()
	if latest == nil {
		return Checkpoint{}, apierr.NotFound("no checkpoint yet: the first is made within the checkpoint interval after the first event")
	}
	if size == 0 || size == latest.Size {
		return *latest, nil
	}
	if size > latest.Size {
		return Checkpoint{}, apierr.NotFound("no checkpoint of size %d: the newest is of size %d", size, latest.Size)
	}
	msg, err := l.store.Checkpoint(size)
	if errors.Is(err, ErrNoCheckpoint) {
		return Checkpoint{}, apierr.NotFound("no checkpoint of size %d: checkpoints are made at most every interval; the newest is of size %d", size, latest.Size)
	}
	if err != nil {
		return Checkpoint{}, err
	}
	cp, err := verify.ParseCheckpoint(msg)
	if err != nil {
		return Checkpoint{}, corruption(size, err)
	}
	return Checkpoint{Size: cp.Size, Root: cp.Root, Note: msg}, nil
}

// InclusionProof proves that the event seq is leaf seq-1 of the tree of treeSize leaves; a
// treeSize of 0 means the newest checkpoint's size. treeSize must not pass the durable head.
func (l *Ledger) InclusionProof(ctx context.Context, seq, treeSize uint64) (Proof, error) {
	if seq == 0 {
		return Proof{}, apierr.Invalid("seq must be at least 1")
	}
	if treeSize == 0 {
		cp, err := l.Checkpoint(ctx, 0)
		if err != nil {
			return Proof{}, err
		}
		treeSize = cp.Size
		if seq > treeSize {
			return Proof{}, apierr.FailedPrecondition("event %d is not in a checkpoint yet (the newest is of size %d); ask again after the checkpoint interval, or name a tree_size", seq, treeSize)
		}
	}
	if err := l.checkSize("tree_size", treeSize); err != nil {
		return Proof{}, err
	}
	if seq > treeSize {
		return Proof{}, apierr.Invalid("seq %d is not in a tree of size %d", seq, treeSize)
	}
	hashes, err := logtree.Inclusion(seq-1, treeSize, l.store.Nodes)
	if err != nil {
		return Proof{}, err
	}
	return Proof{LeafIndex: seq - 1, TreeSize: treeSize, Hashes: hashes}, nil
}

// ConsistencyProof proves that the tree of from leaves is a prefix of the tree of to leaves
// (0 < from <= to <= the durable head).
func (l *Ledger) ConsistencyProof(_ context.Context, from, to uint64) ([][]byte, error) {
	if from == 0 {
		return nil, apierr.Invalid("from_size must be at least 1")
	}
	if from > to {
		return nil, apierr.Invalid("from_size %d is larger than to_size %d", from, to)
	}
	if err := l.checkSize("to_size", to); err != nil {
		return nil, err
	}
	return logtree.Consistency(from, to, l.store.Nodes)
}

func (l *Ledger) checkSize(name string, size uint64) error {
	if head := l.Head(); size > head {
		return apierr.Invalid("%s %d is larger than the log (%d durable events)", name, size, head)
	}
	return nil
}

// VerifierKey is the signed-note verifier key of the checkpoints ("name+hash+base64key").
func (l *Ledger) VerifierKey() string { return l.checkpoints.verifierKey }
