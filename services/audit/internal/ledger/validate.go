package ledger

import (
	"fmt"
	"math"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/services/audit/internal/leaf"
)

// Limits on event fields. Each is documented in the README and tested.
const (
	MaxNameBytes    = 256      // tool, session_id, correlation_id, error_code, operation
	MaxMessageBytes = 64 << 10 // error_message
	MaxURIBytes     = 4 << 10  // resource_uri
	MaxDepth        = 32       // nesting of maps and lists in arguments
)

// validateEvent checks e; name is its path in the request ("event", "events[3]").
func validateEvent(name string, e *auditv1.Event, maxArgs int) error {
	if e == nil {
		return apierr.Invalid("%s is required", name)
	}
	if e.GetEventType() == auditv1.EventType_EVENT_TYPE_UNSPECIFIED {
		return apierr.Invalid("%s.event_type is required", name)
	}
	if _, known := auditv1.EventType_name[int32(e.GetEventType())]; !known {
		return apierr.Invalid("%s.event_type %d is not a known event type", name, e.GetEventType())
	}
	if e.GetSeq() != 0 || e.GetTime() != nil || len(e.GetHash()) != 0 || len(e.GetPrevHash()) != 0 {
		return apierr.Invalid("%s.seq, time, prev_hash and hash are set by the service; leave them empty", name)
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"tool", e.GetTool(), MaxNameBytes},
		{"session_id", e.GetSessionId(), MaxNameBytes},
		{"correlation_id", e.GetCorrelationId(), MaxNameBytes},
		{"error_code", e.GetErrorCode(), MaxNameBytes},
		{"operation", e.GetOperation(), MaxNameBytes},
		{"error_message", e.GetErrorMessage(), MaxMessageBytes},
		{"resource_uri", e.GetResourceUri(), MaxURIBytes},
	} {
		if err := checkField(name, f.name, f.value, f.max); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		v    uint64
	}{{"bytes_in", e.GetBytesIn()}, {"bytes_out", e.GetBytesOut()}} {
		if f.v > leaf.MaxInteger {
			return apierr.Invalid("%s.%s is %d, over 2^53-1: JSON readers (and the leaf encoding) cannot carry it exactly", name, f.name, f.v)
		}
	}
	if d := e.GetDurationMs(); math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
		return apierr.Invalid("%s.duration_ms must be a finite number >= 0, got %v", name, d)
	}
	if args := e.GetArguments(); args != nil {
		if n := proto.Size(args); n > maxArgs {
			return apierr.Exhausted("%s.arguments is %d bytes, over the limit of %d", name, n, maxArgs)
		}
		if bad := checkStruct(args, 1); bad != nil {
			return apierr.Invalid("%s.arguments%s %s", name, bad.path, bad.what)
		}
	}
	return nil
}

func checkText(name, v string, max int) error { return checkField("", name, v, max) }

// checkField checks the field of the event at name (joined only for an error: this runs for
// every field of every event). It bounds the length, requires UTF-8 and
// refuses NUL anywhere (readers of an export in C, and terminals, cut a string
// there, so an event could read differently to different tools) and, in names (the fields
// bounded by MaxNameBytes: tool, session_id, ...), every control character: a name is a
// filter and a label, and a newline or escape in one forges lines in a log or a terminal.
func checkField(name, field, v string, max int) error {
	if len(v) > max {
		return apierr.Invalid("%s is %d bytes, over the limit of %d", fieldPath(name, field), len(v), max)
	}
	if !utf8.ValidString(v) {
		return apierr.Invalid("%s is not valid UTF-8", fieldPath(name, field))
	}
	for i, r := range v {
		if r == 0 || max == MaxNameBytes && unicode.IsControl(r) {
			return apierr.Invalid("%s has control character %U at byte %d", fieldPath(name, field), r, i)
		}
	}
	return nil
}

func fieldPath(name, field string) string {
	if name == "" {
		return field
	}
	return name + "." + field
}

// badValue is a value of the arguments that is refused: what is wrong, and its path below
// the arguments (".a.b[2]"), which each level puts together on the way up, so that a valid
// event costs no string building.
type badValue struct {
	path, what string
}

// checkStruct bounds nesting (deep structures make every later reader recurse) and refuses
// numbers JSON cannot carry, since the log is exported as JSON.
func checkStruct(s *structpb.Struct, depth int) *badValue {
	if depth > MaxDepth {
		return &badValue{what: fmt.Sprintf("is nested deeper than %d levels", MaxDepth)}
	}
	for k, v := range s.GetFields() {
		if bad := checkValue(v, depth); bad != nil {
			bad.path = "." + k + bad.path
			return bad
		}
	}
	return nil
}

func checkValue(v *structpb.Value, depth int) *badValue {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
			return &badValue{what: fmt.Sprintf("is %v; only finite numbers are allowed", k.NumberValue)}
		}
	case *structpb.Value_StructValue:
		return checkStruct(k.StructValue, depth+1)
	case *structpb.Value_ListValue:
		if depth+1 > MaxDepth {
			return &badValue{what: fmt.Sprintf("is nested deeper than %d levels", MaxDepth)}
		}
		for i, item := range k.ListValue.GetValues() {
			if bad := checkValue(item, depth+1); bad != nil {
				bad.path = fmt.Sprintf("[%d]", i) + bad.path
				return bad
			}
		}
	case nil:
		return &badValue{what: "has no value (use null)"}
	}
	return nil
}
