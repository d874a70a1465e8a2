// Package logtree is the audit log's Merkle tree (RFC 6962 hashing), on
// github.com/transparency-dev/merkle: roots at any size and inclusion and consistency proofs
// from stored perfect-subtree hashes, O(log n) of them per answer.
//
// Leaf i is the event with seq i+1. The store keeps, for each leaf, its hash and the hashes of
// the perfect subtrees it completes (levels 1..k where k is the number of trailing one bits
// of i): node (level, index) lives with leaf (index+1)<<level - 1.
package logtree

import (
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Fetch returns the stored hashes of perfect subtrees, in the order asked.
type Fetch func(ids []compact.NodeID) ([][]byte, error)

// Factory makes compact ranges with RFC 6962 node hashing.
func Factory() *compact.RangeFactory {
	return &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
}

// EmptyRoot is the root of the tree with no leaves.
func EmptyRoot() []byte { return rfc6962.DefaultHasher.EmptyRoot() }

// NodeOwner is the leaf index whose stored entry holds node id, and the node's slot in it
// (its level).
func NodeOwner(id compact.NodeID) (leaf uint64, slot int) {
	return (id.Index+1)<<id.Level - 1, int(id.Level)
}

// Range is the compact range [0, size) built from stored nodes: what the writer needs to go on
// appending, and what a root is computed from.
func Range(size uint64, fetch Fetch) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := fetch(ids)
	if err != nil {
		return nil, err
	}
	return Factory().NewRange(0, size, hashes)
}

// Root is the root hash of the tree of size leaves.
func Root(size uint64, fetch Fetch) ([]byte, error) {
	if size == 0 {
		return EmptyRoot(), nil
	}
	r, err := Range(size, fetch)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// Inclusion is the proof that leaf index is in the tree of size leaves.
func Inclusion(index, size uint64, fetch Fetch) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return rehash(nodes, fetch)
}

// Consistency is the proof that the tree of from leaves is a prefix of the tree of to leaves.
func Consistency(from, to uint64, fetch Fetch) ([][]byte, error) {
	nodes, err := proof.Consistency(from, to)
	if err != nil {
		return nil, err
	}
	return rehash(nodes, fetch)
}

func rehash(nodes proof.Nodes, fetch Fetch) ([][]byte, error) {
	hashes, err := fetch(nodes.IDs)
	if err != nil {
		return nil, err
	}
	if len(hashes) != len(nodes.IDs) {
		return nil, fmt.Errorf("fetched %d node hashes for %d nodes", len(hashes), len(nodes.IDs))
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// Verifier folds leaves in order and checks each event's stored leaf hash against the one
// recomputed from its contents.
type Verifier struct {
	r *compact.Range
}

// NewVerifier starts at the empty tree.
func NewVerifier() *Verifier { return &Verifier{r: Factory().NewEmptyRange(0)} }

// Size is how many leaves were folded.
func (v *Verifier) Size() uint64 { return v.r.End() }

// Append folds the next leaf.
func (v *Verifier) Append(leafHash []byte) error { return v.r.Append(leafHash, nil) }

// Root is the root of the leaves folded so far.
func (v *Verifier) Root() ([]byte, error) {
	if v.r.End() == 0 {
		return EmptyRoot(), nil
	}
	return v.r.GetRootHash(nil)
}
