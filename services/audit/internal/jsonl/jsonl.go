// Package jsonl writes audit events as the original Osiris audit files did: one JSON object
// per line, with the original field names (event, timestamp, timestamp_ms, tool,
// correlation_id, arguments, bytes_in, duration_ms, bytes_out, error_code, error,
// resource_uri, operation, status), plus what the original lacked (seq, session_id on every
// event, and hash, the event's leaf hash in hex).
//
// A line is the event's leaf object (package leaf) with its "hash" member, serialized as JCS
// (RFC 8785): an offline verifier recomputes each hash from the line alone and the Merkle
// root of a checkpoint from the hashes.
package jsonl

import (
	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/audit/internal/leaf"
)

// EventName is the original's name for an event type ("tool_call_started").
func EventName(t auditv1.EventType) string { return leaf.EventName(t) }

// Line encodes e as one JSON object, without the trailing newline.
func Line(e *auditv1.Event) ([]byte, error) {
	line, _, err := leaf.AppendExport(nil, e)
	return line, err
}
