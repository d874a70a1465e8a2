package jsonl

import (
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gowebpki/jcs"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/audit/internal/leaf"
)

func TestLineUsesOriginalFieldNames(t *testing.T) {
	args, _ := structpb.NewStruct(map[string]any{"connection": "@mysql.main", "samples": 10})
	at := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		e    *auditv1.Event
		want map[string]any
	}{
		{"started", &auditv1.Event{Seq: 1, Time: timestamppb.New(at), EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED,
			SessionId: "s1", CorrelationId: "c1", Tool: "discovery_request", Arguments: args, BytesIn: 42, PrevHash: make([]byte, 32), Hash: []byte{0xab}},
			map[string]any{"seq": 1.0, "event": "tool_call_started", "timestamp": "2026-11-27T10:00:00.123456789Z", "timestamp_ms": 1795773600123.0,
				"session_id": "s1", "correlation_id": "c1", "tool": "discovery_request", "bytes_in": 42.0,
				"arguments": map[string]any{"connection": "@mysql.main", "samples": 10.0},
				"prev_hash": "0000000000000000000000000000000000000000000000000000000000000000"}},
		{"failed", &auditv1.Event{Seq: 2, Time: timestamppb.New(at), EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED,
			CorrelationId: "c1", Tool: "t", DurationMs: 1.5, ErrorCode: "timeout", ErrorMessage: "took too long"},
			map[string]any{"seq": 2.0, "event": "tool_call_failed", "timestamp": "2026-11-27T10:00:00.123456789Z", "timestamp_ms": 1795773600123.0,
				"correlation_id": "c1", "tool": "t", "duration_ms": 1.5, "error_code": "timeout", "error": "took too long"}},
		{"resource", &auditv1.Event{Seq: 3, Time: timestamppb.New(at), EventType: auditv1.EventType_EVENT_TYPE_RESOURCE_ACCESS,
			SessionId: "s1", ResourceUri: "osiris://mcp/discovery/disc_1/overview.json", Operation: "read"},
			map[string]any{"seq": 3.0, "event": "resource_access", "timestamp": "2026-11-27T10:00:00.123456789Z", "timestamp_ms": 1795773600123.0,
				"session_id": "s1", "resource_uri": "osiris://mcp/discovery/disc_1/overview.json", "operation": "read", "status": "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Line(tt.e)
			if err != nil {
				t.Fatal(err)
			}
			if c, err := jcs.Transform(b); err != nil || string(c) != string(b) {
				t.Fatalf("line is not JCS:\n got %s\nwant %s (%v)", b, c, err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			// The hash is the leaf hash of the event, recomputed: never the stored hash.
			h, err := leaf.Hash(tt.e)
			if err != nil {
				t.Fatal(err)
			}
			tt.want["hash"] = hex.EncodeToString(h)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tt.want)
			if string(gb) != string(wb) {
				t.Fatalf("line\n got %s\nwant %s", gb, wb)
			}
		})
	}
}
