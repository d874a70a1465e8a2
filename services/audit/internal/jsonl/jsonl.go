// Package jsonl writes audit events as the original Osiris audit files did: one JSON object
// per line, with the original field names (event, timestamp, timestamp_ms, tool,
// correlation_id, arguments, bytes_in, duration_ms, bytes_out, error_code, error,
// resource_uri, operation, status), plus what the original lacked (seq, session_id on every
// event, prev_hash and hash in hex).
package jsonl

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// EventName is the original's name for an event type ("tool_call_started").
func EventName(t auditv1.EventType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "EVENT_TYPE_"))
}

// Line encodes e as one JSON object, without the trailing newline. Keys come out sorted.
func Line(e *auditv1.Event) ([]byte, error) {
	t := e.GetTime().AsTime().UTC()
	m := map[string]any{
		"seq":          e.GetSeq(),
		"event":        EventName(e.GetEventType()),
		"timestamp":    t.Format(time.RFC3339Nano),
		"timestamp_ms": t.UnixMilli(),
		"prev_hash":    hex.EncodeToString(e.GetPrevHash()),
		"hash":         hex.EncodeToString(e.GetHash()),
	}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put("session_id", e.GetSessionId())
	put("correlation_id", e.GetCorrelationId())
	put("tool", e.GetTool())
	put("error_code", e.GetErrorCode())
	put("error", e.GetErrorMessage())
	put("resource_uri", e.GetResourceUri())
	put("operation", e.GetOperation())
	if e.GetArguments() != nil {
		m["arguments"] = e.GetArguments().AsMap()
	}
	switch e.GetEventType() {
	case auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED:
		m["bytes_in"] = e.GetBytesIn()
	case auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED:
		m["bytes_out"] = e.GetBytesOut()
		m["duration_ms"] = e.GetDurationMs()
	case auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED, auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED:
		m["duration_ms"] = e.GetDurationMs()
	case auditv1.EventType_EVENT_TYPE_RESOURCE_ACCESS:
		m["status"] = "ok"
		if e.GetErrorCode() != "" || e.GetErrorMessage() != "" {
			m["status"] = "error"
		}
	}
	if e.GetBytesIn() != 0 {
		m["bytes_in"] = e.GetBytesIn()
	}
	if e.GetBytesOut() != 0 {
		m["bytes_out"] = e.GetBytesOut()
	}
	return json.Marshal(m)
}
