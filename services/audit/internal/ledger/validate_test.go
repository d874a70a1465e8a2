package ledger

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// harnessEvent is the tool call of the etcd peer benchmark (../shared/bench/etcd-peer).
func harnessEvent(t testing.TB) *auditv1.Event {
	args, err := structpb.NewStruct(map[string]any{
		"query":      "quarterly revenue by region for the EMEA accounts with churn risk above threshold, excluding test tenants, FY2026 Q3",
		"limit":      10,
		"connection": "@mysql.main",
		"format":     "table",
		"options":    map[string]any{"columns": []any{"region", "revenue"}, "dry_run": false},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &auditv1.Event{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, SessionId: "s-12", Tool: "search", Arguments: args}
}

// TestValidEventAllocatesNothing: validation runs on every append; a valid event's field
// names are joined into paths only for an error, so checking one allocates nothing beyond
// what proto.Size allocates (protobuf walks a Struct's map by reflection).
func TestValidEventAllocatesNothing(t *testing.T) {
	e := harnessEvent(t)
	size := testing.AllocsPerRun(100, func() { proto.Size(e.GetArguments()) })
	allocs := testing.AllocsPerRun(100, func() {
		if err := validateEvent("event", e, DefaultMaxArgumentsBytes); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > size {
		t.Fatalf("validating a valid event allocated %v times, proto.Size of its arguments %v", allocs, size)
	}
}

// TestInvalidArgumentNamesItsPath: the path of a refused value is put together on the way up.
func TestInvalidArgumentNamesItsPath(t *testing.T) {
	e := harnessEvent(t)
	e.Arguments.Fields["options"].GetStructValue().Fields["columns"].GetListValue().Values[1] = &structpb.Value{}
	err := validateEvent("events[3]", e, DefaultMaxArgumentsBytes)
	if want := "events[3].arguments.options.columns[1] has no value (use null)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	e = harnessEvent(t)
	e.Tool = "search\n"
	err = validateEvent("event", e, DefaultMaxArgumentsBytes)
	if want := "event.tool has control character U+000A at byte 6"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// BenchmarkValidateEvent is the cost of validating the etcd peer benchmark's event.
func BenchmarkValidateEvent(b *testing.B) {
	e := harnessEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := validateEvent("event", e, DefaultMaxArgumentsBytes); err != nil {
			b.Fatal(err)
		}
	}
}
