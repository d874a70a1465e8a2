// Package chain computes and checks the SHA-256 hash chain of the audit log's format 1 (releases
// before the Merkle tree). It is kept to verify such a log before it is migrated (see
// ledger.migrate and docs/audit.md, Upgrading); new events are not chained.
//
// Each event's hash is SHA-256 over a domain tag, the previous event's hash and the event's
// canonical encoding. The encoding is defined here, field by field, rather than borrowed from
// protobuf's deterministic marshalling, which is explicitly not stable across library versions:
// a chain written today must verify with tomorrow's binary.
//
// Canonical encoding (all integers big-endian; each string or byte field is its length as a
// uvarint followed by its bytes):
//
//	seq u64 | time unix-nanos i64 | event_type name | session_id | correlation_id | tool |
//	arguments as JSON with sorted keys ("" when absent) | bytes_in u64 | bytes_out u64 |
//	duration_ms IEEE-754 bits u64 | error_code | error_message | resource_uri | operation
//
// Changing this encoding means a new domain tag, so old chains stay verifiable.
package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// Size is the length of a hash.
const Size = sha256.Size

// tag separates our digests from any other use of SHA-256 over similar bytes.
const tag = "osiris.audit.v1\n"

// Genesis is the prev_hash of the first event: 32 zero bytes.
func Genesis() []byte { return make([]byte, Size) }

// Digest returns the hash of e chained to prev. It ignores e's own prev_hash and hash.
func Digest(prev []byte, e *auditv1.Event) ([]byte, error) {
	h := sha256.New()
	h.Write([]byte(tag))
	h.Write(prev)
	enc, err := Canonical(e)
	if err != nil {
		return nil, err
	}
	h.Write(enc)
	return h.Sum(nil), nil
}

// Canonical is the encoding described in the package comment.
func Canonical(e *auditv1.Event) ([]byte, error) {
	var b []byte
	b = binary.BigEndian.AppendUint64(b, e.GetSeq())
	b = binary.BigEndian.AppendUint64(b, uint64(e.GetTime().AsTime().UnixNano()))
	b = appendString(b, e.GetEventType().String())
	b = appendString(b, e.GetSessionId())
	b = appendString(b, e.GetCorrelationId())
	b = appendString(b, e.GetTool())
	var args []byte
	if e.GetArguments() != nil {
		var err error
		// encoding/json sorts map keys and formats float64 deterministically.
		if args, err = json.Marshal(e.GetArguments().AsMap()); err != nil {
			return nil, fmt.Errorf("encode arguments: %w", err)
		}
	}
	b = appendString(b, string(args))
	b = binary.BigEndian.AppendUint64(b, e.GetBytesIn())
	b = binary.BigEndian.AppendUint64(b, e.GetBytesOut())
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(e.GetDurationMs()))
	b = appendString(b, e.GetErrorCode())
	b = appendString(b, e.GetErrorMessage())
	b = appendString(b, e.GetResourceUri())
	b = appendString(b, e.GetOperation())
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Verifier checks events one at a time, in sequence order, from seq 1.
type Verifier struct {
	next uint64
	prev []byte
}

// NewVerifier starts at the genesis.
func NewVerifier() *Verifier { return &Verifier{next: 1, prev: Genesis()} }

// Checked is how many events verified so far.
func (v *Verifier) Checked() uint64 { return v.next - 1 }

// Head is the hash of the last verified event (the genesis before any).
func (v *Verifier) Head() []byte { return v.prev }

// Next checks e against the chain so far and returns why it breaks the chain, if it does.
func (v *Verifier) Next(e *auditv1.Event) error {
	if e.GetSeq() != v.next {
		return fmt.Errorf("expected seq %d, found %d (an event is missing or out of place)", v.next, e.GetSeq())
	}
	if !bytes.Equal(e.GetPrevHash(), v.prev) {
		return fmt.Errorf("prev_hash does not match the hash of seq %d", v.next-1)
	}
	want, err := Digest(v.prev, e)
	if err != nil {
		return err
	}
	if !bytes.Equal(e.GetHash(), want) {
		return fmt.Errorf("hash does not match the event's contents")
	}
	v.prev = e.GetHash()
	v.next++
	return nil
}
