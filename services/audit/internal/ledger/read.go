package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/services/audit/internal/logtree"
)

// Page sizes and the scan budget of one List call.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	// MaxExamined bounds how many stored events one List call reads, so a filter that matches
	// little cannot make one request walk the whole log; the caller continues with the token.
	MaxExamined = 10000
)

// Filter selects events. Zero fields match everything.
type Filter struct {
	SessionID     string
	CorrelationID string
	Tool          string
	Type          auditv1.EventType
	Since, Until  time.Time // Since inclusive, Until exclusive
}

// Validate checks a filter built from client input.
func (f Filter) Validate() error {
	for _, c := range []struct{ name, v string }{{"session_id", f.SessionID}, {"correlation_id", f.CorrelationID}, {"tool", f.Tool}} {
		if err := checkText(c.name, c.v, MaxNameBytes); err != nil {
			return err
		}
	}
	if _, known := auditv1.EventType_name[int32(f.Type)]; !known {
		return apierr.Invalid("event_type %d is not a known event type", f.Type)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return apierr.Invalid("until (%s) must be after since (%s)", f.Until.Format(time.RFC3339Nano), f.Since.Format(time.RFC3339Nano))
	}
	return nil
}

func (f Filter) matches(e *auditv1.Event) bool {
	return (f.SessionID == "" || e.GetSessionId() == f.SessionID) &&
		(f.CorrelationID == "" || e.GetCorrelationId() == f.CorrelationID) &&
		(f.Tool == "" || e.GetTool() == f.Tool) &&
		(f.Type == auditv1.EventType_EVENT_TYPE_UNSPECIFIED || e.GetEventType() == f.Type) &&
		(f.Since.IsZero() || !e.GetTime().AsTime().Before(f.Since))
}

// pastUntil says the scan can stop: times never decrease along the log.
func (f Filter) pastUntil(e *auditv1.Event) bool {
	return !f.Until.IsZero() && !e.GetTime().AsTime().Before(f.Until)
}

// index picks the most selective stored index for f.
func (f Filter) index() Index {
	switch {
	case f.CorrelationID != "":
		return Index{IndexCorrelation, f.CorrelationID}
	case f.SessionID != "":
		return Index{IndexSession, f.SessionID}
	case f.Tool != "":
		return Index{IndexTool, f.Tool}
	}
	return Index{Kind: IndexAll}
}

// fingerprint binds a page token to the filter it was issued for.
func (f Filter) fingerprint() []byte {
	h := sha256.New()
	for _, s := range []string{f.SessionID, f.CorrelationID, f.Tool, f.Type.String(), f.Since.Format(time.RFC3339Nano), f.Until.Format(time.RFC3339Nano)} {
		h.Write(binary.AppendUvarint(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	return h.Sum(nil)[:8]
}

// A page token is base64url(version byte 1 | after-seq u64 | filter fingerprint 8 bytes).
func encodeToken(after uint64, f Filter) string {
	b := append([]byte{1}, binary.BigEndian.AppendUint64(nil, after)...)
	return base64.RawURLEncoding.EncodeToString(append(b, f.fingerprint()...))
}

func decodeToken(tok string, f Filter) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 17 || b[0] != 1 {
		return 0, apierr.Invalid("page_token is malformed")
	}
	if string(b[9:]) != string(f.fingerprint()) {
		return 0, apierr.Invalid("page_token was issued for different filters; repeat the same filters or start without a token")
	}
	return binary.BigEndian.Uint64(b[1:9]), nil
}

// List returns up to pageSize matching events after the token's position, in seq order, and
// the token for the next page ("" when the log has no more matches).
func (l *Ledger) List(ctx context.Context, f Filter, pageSize int, token string) ([]*auditv1.Event, string, error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	switch {
	case pageSize < 0:
		return nil, "", apierr.Invalid("page_size must not be negative")
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize > MaxPageSize:
		pageSize = MaxPageSize
	}
	after, err := l.start(f)
	if err != nil {
		return nil, "", err
	}
	if token != "" {
		if after, err = decodeToken(token, f); err != nil {
			return nil, "", err
		}
	}
	var (
		events   []*auditv1.Event
		examined int
		last     = after
		more     bool
		head     = l.Head()
	)
	err = l.store.Scan(ctx, f.index(), after, func(e *auditv1.Event) (bool, error) {
		if e.GetSeq() > head || f.pastUntil(e) {
			return false, nil
		}
		if f.matches(e) {
			if len(events) == pageSize {
				more = true // a match beyond this page exists
				return false, nil
			}
			events = append(events, e)
		}
		last = e.GetSeq()
		examined++
		if examined >= MaxExamined {
			more = true
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, "", err
	}
	if !more {
		return events, "", nil
	}
	return events, encodeToken(last, f), nil
}

// start is the seq to scan after for f.Since: a binary search over the log, whose times never
// decrease along the sequence.
func (l *Ledger) start(f Filter) (uint64, error) {
	if f.Since.IsZero() {
		return 0, nil
	}
	lo, hi := uint64(1), l.Head()+1 // find the first seq in [lo, hi) with time >= since
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := l.store.Get(mid)
		if err != nil {
			return 0, err
		}
		if e.GetTime().AsTime().Before(f.Since) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1, nil
}

// Tail sends the matching events after `after`, then follows the log until ctx ends.
func (l *Ledger) Tail(ctx context.Context, f Filter, after uint64, send func(*auditv1.Event) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	for {
		head, changed := l.watch.current()
		if head > after {
			err := l.store.Scan(ctx, f.index(), after, func(e *auditv1.Event) (bool, error) {
				if e.GetSeq() > head {
					return false, nil // committed, not yet durable: the next round sends it
				}
				if f.matches(e) && !f.pastUntil(e) {
					if err := send(e); err != nil {
						return false, err
					}
				}
				after = e.GetSeq()
				return true, nil
			})
			if err != nil {
				return err
			}
			// Every event up to head was seen; those of other filters are done too.
			after = max(after, head)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Export calls fn for every matching event in seq order, from one snapshot. It checks every
// event it reads against its own leaf hash, and, when it reads the log itself (no session,
// correlation or tool filter), that no event is missing: an export never hands out an
// altered event as if it were intact. A failure is DATA_LOSS naming the seq.
func (l *Ledger) Export(ctx context.Context, f Filter, fn func(*auditv1.Event) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	after, err := l.start(f)
	if err != nil {
		return err
	}
	head := l.Head()
	next := after + 1 // the seq the log must hold next, when the scan reads the log
	err = l.store.Scan(ctx, f.index(), after, func(e *auditv1.Event) (bool, error) {
		if e.GetSeq() > head || f.pastUntil(e) {
			return false, nil
		}
		if err := selfCheck(e); err != nil {
			return false, corruption(e.GetSeq(), err)
		}
		if f.index().Kind == IndexAll {
			if e.GetSeq() != next {
				return false, corruption(next, errors.New("the event is missing"))
			}
			next++
		}
		if f.matches(e) {
			return true, fn(e)
		}
		return true, nil
	})
	if ce := (*CorruptError)(nil); errors.As(err, &ce) {
		return corruption(ce.Seq, ce)
	}
	return err
}

// Verification is the outcome of Verify.
type Verification struct {
	OK          bool
	Checked     uint64
	FirstBadSeq uint64
	// HeadHash is the root of the tree of the Checked events, recomputed from their contents.
	HeadHash []byte
	Reason   string
}

// Verify recomputes every leaf from its event's contents and the tree from the leaves, over one
// snapshot, and reports the first event that breaks it: a changed event, a missing or an
// undecodable one, a log that ends before the head this process has acknowledged, or a tree
// whose recomputed root differs from the newest checkpoint's or from the stored nodes'.
func (l *Ledger) Verify(ctx context.Context) (Verification, error) {
	head := l.Head()
	var cp *Checkpoint
	if latest := l.checkpoints.latest.Load(); latest != nil && latest.Size <= head {
		cp = latest
	}
	v := logtree.NewVerifier()
	var out Verification
	rootAt := func(size uint64, want []byte, what string) bool {
		got, err := v.Root()
		if err != nil || !bytes.Equal(got, want) {
			out.FirstBadSeq, out.Reason = 1, fmt.Sprintf("the root recomputed from the first %d events differs from %s", size, what)
			return false
		}
		return true
	}
	err := l.store.Scan(ctx, Index{Kind: IndexAll}, 0, func(e *auditv1.Event) (bool, error) {
		if e.GetSeq() > head {
			return false, nil // not durable yet; verified next time
		}
		if want := v.Size() + 1; e.GetSeq() != want {
			out.FirstBadSeq, out.Reason = want, fmt.Sprintf("expected seq %d, found %d (an event is missing or out of place)", want, e.GetSeq())
			return false, nil
		}
		if err := selfCheck(e); err != nil {
			out.FirstBadSeq, out.Reason = e.GetSeq(), err.Error()
			return false, nil
		}
		if err := v.Append(e.GetHash()); err != nil {
			return false, err
		}
		if cp != nil && v.Size() == cp.Size && !rootAt(cp.Size, cp.Root, fmt.Sprintf("the signed checkpoint of size %d", cp.Size)) {
			return false, nil
		}
		return true, nil
	})
	var corrupt *CorruptError
	switch {
	case errors.As(err, &corrupt):
		out.FirstBadSeq, out.Reason = corrupt.Seq, corrupt.Error()
	case err != nil:
		return Verification{}, err
	}
	if out.FirstBadSeq == 0 && v.Size() < head {
		out.FirstBadSeq, out.Reason = v.Size()+1, "the log ends before the acknowledged head"
	}
	if out.FirstBadSeq == 0 {
		if stored, err := logtree.Root(head, l.store.Nodes); err != nil {
			out.FirstBadSeq, out.Reason = 1, fmt.Sprintf("the stored tree cannot be read: %v", err)
		} else {
			rootAt(head, stored, "the root of the stored tree nodes")
		}
	}
	out.OK = out.FirstBadSeq == 0
	out.Checked = v.Size()
	if out.OK {
		l.integrity.set(out.Checked, nil)
	} else {
		l.integrity.set(out.FirstBadSeq-1, &CorruptLogError{Seq: out.FirstBadSeq, Reason: out.Reason})
	}
	if v.Size() > 0 {
		out.HeadHash, _ = v.Root()
	}
	return out, nil
}
