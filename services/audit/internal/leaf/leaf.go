package leaf

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// MaxInteger is the largest integer a leaf may carry (2^53-1): JSON numbers are IEEE-754
// doubles to JCS and to JavaScript, so a larger integer would not read back as itself.
const MaxInteger = 1<<53 - 1

// EventName is the export's name for an event type ("tool_call_started").
func EventName(t auditv1.EventType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "EVENT_TYPE_"))
}

// Canonical returns the canonical bytes of e's leaf object.
func Canonical(e *auditv1.Event) ([]byte, error) { return AppendCanonical(nil, e) }

// AppendCanonical appends the canonical bytes of e's leaf object to dst.
func AppendCanonical(dst []byte, e *auditv1.Event) ([]byte, error) {
	b, _, err := appendObject(dst, e)
	return b, err
}

// HashCanonical is the RFC 6962 leaf hash of canonical bytes: SHA-256(0x00 || canonical).
func HashCanonical(canonical []byte) []byte { return rfc6962.DefaultHasher.HashLeaf(canonical) }

// Hash returns the leaf hash of e.
func Hash(e *auditv1.Event) ([]byte, error) {
	b, err := Canonical(e)
	if err != nil {
		return nil, err
	}
	return HashCanonical(b), nil
}

// AppendExport appends e's export object to dst: the leaf object with a "hash" member, the
// hex leaf hash, in its sorted place, so the line is itself JCS. It returns the leaf hash too.
// The hash is computed here from the event, never taken from the stored event: the export of
// an event migrated from the previous release carries its leaf hash, not its old chain hash.
func AppendExport(dst []byte, e *auditv1.Event) (line, hash []byte, err error) {
	start := len(dst)
	b, at, err := appendObject(dst, e)
	if err != nil {
		return nil, nil, err
	}
	hash = HashCanonical(b[start:])
	member := make([]byte, 0, len(`,"hash":""`)+2*len(hash))
	member = append(member, `,"hash":"`...)
	member = hex.AppendEncode(member, hash)
	member = append(member, '"')
	return slices.Insert(b, at, member...), hash, nil
}

// appendObject appends e's leaf object and returns where a "hash" member belongs in it (just
// after "event", which is always present). Members are written in JCS order; every key is
// ASCII, so that order is the byte order. A "principal" member, when one is added, goes
// between "prev_hash" and "resource_uri".
func appendObject(b []byte, e *auditv1.Event) (_ []byte, hashAt int, err error) {
	w := writer{b: append(b, '{')}
	typ := e.GetEventType()
	started := typ == auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED
	completed := typ == auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED
	ended := completed || typ == auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED ||
		typ == auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED
	resource := typ == auditv1.EventType_EVENT_TYPE_RESOURCE_ACCESS

	if e.GetArguments() != nil {
		w.key("arguments")
		var err error
		if w.b, err = appendStruct(w.b, e.GetArguments()); err != nil {
			w.err = fmt.Errorf("leaf: arguments%w", err)
		}
	}
	if started || e.GetBytesIn() != 0 {
		w.integer("bytes_in", e.GetBytesIn())
	}
	if completed || e.GetBytesOut() != 0 {
		w.integer("bytes_out", e.GetBytesOut())
	}
	w.string("correlation_id", e.GetCorrelationId())
	if d := e.GetDurationMs(); ended || d != 0 {
		w.key("duration_ms")
		if w.err == nil {
			var err error
			if w.b, err = appendNumber(w.b, d); err != nil {
				w.err = fmt.Errorf("leaf: duration_ms: %w", err)
			}
		}
	}
	w.string("error", e.GetErrorMessage())
	w.string("error_code", e.GetErrorCode())
	w.key("event")
	w.b, _ = appendString(w.b, EventName(typ))
	hashAt = len(w.b)
	w.string("operation", e.GetOperation())
	if p := e.GetPrevHash(); len(p) > 0 {
		w.key("prev_hash")
		w.b = append(w.b, '"')
		w.b = hex.AppendEncode(w.b, p)
		w.b = append(w.b, '"')
	}
	w.string("resource_uri", e.GetResourceUri())
	w.integer("seq", e.GetSeq())
	w.string("session_id", e.GetSessionId())
	if resource {
		status := "ok"
		if e.GetErrorCode() != "" || e.GetErrorMessage() != "" {
			status = "error"
		}
		w.key("status")
		w.b, _ = appendString(w.b, status)
	}
	t := e.GetTime().AsTime().UTC()
	w.key("timestamp")
	w.b = append(w.b, '"')
	w.b = t.AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, '"')
	w.key("timestamp_ms") // |ms| < 2^53 for every valid timestamp (years 1 to 9999)
	w.b = strconv.AppendInt(w.b, t.UnixMilli(), 10)
	w.string("tool", e.GetTool())
	w.b = append(w.b, '}')
	if w.err != nil {
		return nil, 0, w.err
	}
	return w.b, hashAt, nil
}

// writer appends the members of one object and keeps the first error.
type writer struct {
	b       []byte
	members int
	err     error
}

func (w *writer) key(k string) {
	if w.members > 0 {
		w.b = append(w.b, ',')
	}
	w.members++
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

// string writes a member whose empty value means absent.
func (w *writer) string(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	var err error
	if w.b, err = appendString(w.b, v); err != nil && w.err == nil {
		w.err = fmt.Errorf("leaf: %s: %w", k, err)
	}
}

func (w *writer) integer(k string, v uint64) {
	if v > MaxInteger && w.err == nil {
		w.err = fmt.Errorf("leaf: %s is %d, above 2^53-1, the largest integer a JSON number carries exactly", k, v)
	}
	w.key(k)
	w.b = strconv.AppendUint(w.b, v, 10)
}
