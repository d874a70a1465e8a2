package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/services/audit/internal/leaf"
	"github.com/osirisplane/osiris/services/audit/internal/logtree"
)

// TailCheck is how many events at the end of the log Open verifies: enough to catch a torn or
// altered tail, cheap enough (one read and one SHA-256 each) to run at every start. The whole
// log is verified on request (Verify).
const TailCheck = 1000

// integrity is what the checks found: the error that makes the log corrupt (nil when it is
// not) and the last seq up to which the chain verified.
type integrity struct {
	corrupt  atomic.Pointer[error]
	verified atomic.Uint64
	onChange func(error) // Config.OnHealth; may be nil
}

func (in *integrity) set(verified uint64, err error) {
	in.verified.Store(verified)
	if err == nil {
		in.corrupt.Store(nil)
	} else {
		in.corrupt.Store(&err)
	}
	if in.onChange != nil {
		in.onChange(err)
	}
}

// Health is nil while the log's checks pass: the check of the tail at Open and the last
// full Verify. Otherwise it says where the chain breaks; the service then reports not ready
// (it still serves reads and appends, so what is there can be exported and inspected).
func (l *Ledger) Health() error {
	if p := l.integrity.corrupt.Load(); p != nil {
		return *p
	}
	return nil
}

// VerifiedSeq is the seq up to which the last check (of the tail at Open, or a full Verify)
// found the chain intact.
func (l *Ledger) VerifiedSeq() uint64 { return l.integrity.verified.Load() }

// checkTail verifies the last TailCheck events up to the head read at Open: that they are all
// there (the sequence is dense), decode, and hash to their stored leaf hashes, and that the
// tree's stored nodes over them are the tree those leaves make.
func (l *Ledger) checkTail(ctx context.Context) {
	head := l.head.seq
	if head == 0 || l.Health() != nil {
		return
	}
	base := uint64(0)
	if head > TailCheck {
		base = head - TailCheck
	}
	r, err := logtree.Range(base, l.store.Nodes)
	if err != nil {
		l.integrity.set(base, corruption(base, fmt.Errorf("tree nodes: %w", err)))
		return
	}
	next := base + 1
	var bad error
	err = l.store.Scan(ctx, Index{Kind: IndexAll}, base, func(e *auditv1.Event) (bool, error) {
		if e.GetSeq() > head {
			return false, nil
		}
		if e.GetSeq() != next {
			bad = corruption(next, errors.New("the event is missing"))
			return false, nil
		}
		if err := selfCheck(e); err != nil {
			bad = corruption(next, err)
			return false, nil
		}
		next++
		return true, r.Append(e.GetHash(), nil)
	})
	var ce *CorruptError
	switch {
	case errors.As(err, &ce):
		bad = corruption(ce.Seq, err)
	case err != nil:
		bad = fmt.Errorf("check the tail of the audit log: %w", err)
	case bad == nil && next <= head:
		bad = corruption(next, errors.New("the event is missing"))
	case bad == nil:
		got, gerr := r.GetRootHash(nil)
		want, werr := l.tree.GetRootHash(nil)
		if gerr != nil || werr != nil || !bytes.Equal(got, want) {
			bad = corruption(base+1, fmt.Errorf("the stored tree nodes after seq %d are not the tree of the stored events", base))
		}
	}
	l.integrity.set(min(next-1, head), bad)
}

// selfCheck verifies that e's stored leaf hash is the hash of its contents.
func selfCheck(e *auditv1.Event) error {
	want, err := leaf.Hash(e)
	if err != nil {
		return err
	}
	if !bytes.Equal(e.GetHash(), want) {
		return errors.New("the event's contents do not hash to its leaf hash")
	}
	return nil
}

// CorruptLogError says the audit log failed an integrity check at Seq.
type CorruptLogError struct {
	Seq    uint64
	Reason string
}

func (e *CorruptLogError) Error() string {
	return fmt.Sprintf("audit log is corrupt at seq %d: %s; run VerifyChain and restore from a backup (docs/audit.md)", e.Seq, e.Reason)
}

// Is makes the error DATA_LOSS for clients.
func (e *CorruptLogError) Is(target error) bool { return target == apierr.ErrDataLoss }

func corruption(seq uint64, err error) error { return &CorruptLogError{Seq: seq, Reason: err.Error()} }
