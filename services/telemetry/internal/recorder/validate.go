package recorder

import (
	"fmt"
	"math"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/apierr"
)

// Limits on input fields. Each is documented in the proto or here, and tested.
const (
	// MaxNameBytes bounds tool, session_id, correlation_id, server, version and
	// protocol_version: they are keys of indexes and aggregates.
	MaxNameBytes = 256
	// MaxTextBytes bounds free text: a call's error and a stop's reason.
	MaxTextBytes = 16 << 10
	// MaxAttachmentBytes bounds the protobuf size of metadata or client_info as sent; what
	// is stored is at most about 8 KiB, since larger attachments are truncated.
	MaxAttachmentBytes = 256 << 10
	// MaxDepth bounds the nesting of maps and lists in an attachment.
	MaxDepth = 32
	// MaxDurationMs is the longest duration accepted: seven days.
	MaxDurationMs = 7 * 24 * 3600 * 1000
	// MaxCallBytes bounds bytes_in and bytes_out of one call (1 TiB), so that no realistic
	// number of calls can overflow a total.
	MaxCallBytes = 1 << 40
	// MaxFutureSkew is how far ahead of the service's clock a caller's time may be.
	MaxFutureSkew = 5 * time.Minute
	// MaxBatchCalls bounds the calls of one RecordToolCalls request. A batch is one writer
	// item, so this bounds the work one queue slot can hold; the request is also bounded to
	// 1 MiB by the server.
	MaxBatchCalls = 1000
)

// validateCall checks one call; name is its path in the request ("call", "calls[3]"), so a
// message names the field exactly.
func validateCall(name string, c *telemetryv1.ToolCall, now time.Time) error {
	if c == nil {
		return apierr.Invalid("%s is required", name)
	}
	if c.GetTool() == "" {
		return apierr.Invalid("%s.tool is required", name)
	}
	switch c.GetStatus() {
	case telemetryv1.CallStatus_CALL_STATUS_OK, telemetryv1.CallStatus_CALL_STATUS_ERROR:
	case telemetryv1.CallStatus_CALL_STATUS_UNSPECIFIED:
		return apierr.Invalid("%s.status is required (CALL_STATUS_OK or CALL_STATUS_ERROR)", name)
	default:
		return apierr.Invalid("%s.status %d is not a known status", name, c.GetStatus())
	}
	if c.GetSeq() != 0 {
		return apierr.Invalid("%s.seq is set by the service; leave it empty", name)
	}
	if err := checkTexts(name+".", []text{
		{"tool", c.GetTool(), MaxNameBytes},
		{"session_id", c.GetSessionId(), MaxNameBytes},
		{"correlation_id", c.GetCorrelationId(), MaxNameBytes},
		{"error", c.GetError(), MaxTextBytes},
	}); err != nil {
		return err
	}
	if err := checkDuration(name+".duration_ms", c.GetDurationMs()); err != nil {
		return err
	}
	for _, b := range []struct {
		field string
		v     uint64
	}{{"bytes_in", c.GetBytesIn()}, {"bytes_out", c.GetBytesOut()}} {
		if b.v > MaxCallBytes {
			return apierr.Invalid("%s.%s is %d, over the limit of %d", name, b.field, b.v, uint64(MaxCallBytes))
		}
	}
	if err := checkTime(name+".time", c.GetTime(), now); err != nil {
		return err
	}
	return checkAttachment(name+".metadata", c.GetMetadata())
}

// validateBatch checks the size of a batch; its calls are checked one by one by validateCall.
func validateBatch(calls []*telemetryv1.ToolCall) error {
	switch {
	case len(calls) == 0:
		return apierr.Invalid("calls is empty; send at least one call")
	case len(calls) > MaxBatchCalls:
		return apierr.Invalid("calls holds %d calls, over the limit of %d per request", len(calls), MaxBatchCalls)
	}
	return nil
}

// fieldsOf names the fields a server event may carry beyond kind, time, server, session_id
// and metadata, per kind.
func fieldsOf(k telemetryv1.ServerEventKind) (version, protocol, reason, handshake bool) {
	switch k {
	case telemetryv1.ServerEventKind_SERVER_EVENT_KIND_START:
		return true, true, false, false
	case telemetryv1.ServerEventKind_SERVER_EVENT_KIND_STOP:
		return false, false, true, false
	case telemetryv1.ServerEventKind_SERVER_EVENT_KIND_HANDSHAKE:
		return false, true, false, true
	}
	return false, false, false, false
}

func validateEvent(e *telemetryv1.ServerEvent, now time.Time) error {
	if e == nil {
		return apierr.Invalid("event is required")
	}
	kind := e.GetKind()
	if kind == telemetryv1.ServerEventKind_SERVER_EVENT_KIND_UNSPECIFIED {
		return apierr.Invalid("event.kind is required (SERVER_EVENT_KIND_START, _STOP or _HANDSHAKE)")
	}
	if _, known := telemetryv1.ServerEventKind_name[int32(kind)]; !known {
		return apierr.Invalid("event.kind %d is not a known server event kind", kind)
	}
	if e.GetSeq() != 0 || e.GetTotals() != nil {
		return apierr.Invalid("event.seq and event.totals are set by the service; leave them empty")
	}
	version, protocol, reason, handshake := fieldsOf(kind)
	for _, f := range []struct {
		name    string
		set, ok bool
	}{
		{"version", e.GetVersion() != "", version},
		{"protocol_version", e.GetProtocolVersion() != "", protocol},
		{"reason", e.GetReason() != "", reason},
		{"duration_ms", e.GetDurationMs() != 0, handshake},
		{"success", e.GetSuccess(), handshake},
		{"client_info", e.GetClientInfo() != nil, handshake},
	} {
		if f.set && !f.ok {
			return apierr.Invalid("event.%s does not belong to a %s event", f.name, kind)
		}
	}
	if err := checkTexts("event.", []text{
		{"server", e.GetServer(), MaxNameBytes},
		{"session_id", e.GetSessionId(), MaxNameBytes},
		{"version", e.GetVersion(), MaxNameBytes},
		{"protocol_version", e.GetProtocolVersion(), MaxNameBytes},
		{"reason", e.GetReason(), MaxTextBytes},
	}); err != nil {
		return err
	}
	if err := checkDuration("event.duration_ms", e.GetDurationMs()); err != nil {
		return err
	}
	if err := checkTime("event.time", e.GetTime(), now); err != nil {
		return err
	}
	if err := checkAttachment("event.client_info", e.GetClientInfo()); err != nil {
		return err
	}
	return checkAttachment("event.metadata", e.GetMetadata())
}

type text struct {
	name, value string
	max         int
}

func checkTexts(prefix string, texts []text) error {
	for _, t := range texts {
		if err := checkText(prefix+t.name, t.value, t.max); err != nil {
			return err
		}
	}
	return nil
}

func checkText(name, v string, max int) error {
	if len(v) > max {
		return apierr.Invalid("%s is %d bytes, over the limit of %d", name, len(v), max)
	}
	if !utf8.ValidString(v) {
		return apierr.Invalid("%s is not valid UTF-8", name)
	}
	return checkControls(name, v, max == MaxNameBytes)
}

// checkControls refuses NUL anywhere (C readers and terminals cut a string there) and, in
// names (the fields bounded by MaxNameBytes: tool, session_id, ...), every control character:
// a name is a key of aggregates and a metric label, and a newline or escape in one forges
// lines in a log or a terminal.
func checkControls(name, v string, isName bool) error {
	for i, r := range v {
		if r == 0 || isName && unicode.IsControl(r) {
			return apierr.Invalid("%s has control character %U at byte %d", name, r, i)
		}
	}
	return nil
}

func checkDuration(name string, d float64) error {
	if math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
		return apierr.Invalid("%s must be a finite number >= 0, got %v", name, d)
	}
	if d > MaxDurationMs {
		return apierr.Invalid("%s is %v, over the limit of %d (seven days)", name, d, MaxDurationMs)
	}
	return nil
}

// checkTime accepts no time (the service sets it) or a valid time from 1970 on that is not
// more than MaxFutureSkew ahead of now.
func checkTime(name string, ts *timestamppb.Timestamp, now time.Time) error {
	if ts == nil {
		return nil
	}
	if err := ts.CheckValid(); err != nil {
		return apierr.Invalid("%s: %v", name, err)
	}
	t := ts.AsTime()
	if t.Before(time.Unix(0, 0)) {
		return apierr.Invalid("%s %s is before 1970", name, t.Format(time.RFC3339Nano))
	}
	if limit := now.Add(MaxFutureSkew); t.After(limit) {
		return apierr.Invalid("%s %s is more than %s ahead of the service's clock (%s)", name, t.Format(time.RFC3339Nano), MaxFutureSkew, now.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// checkAttachment bounds the size and nesting of an attachment and refuses numbers JSON
// cannot carry, since attachments are measured and shown as JSON.
func checkAttachment(name string, v *structpb.Value) error {
	if v == nil {
		return nil
	}
	if n := proto.Size(v); n > MaxAttachmentBytes {
		return apierr.Invalid("%s is %d bytes, over the limit of %d", name, n, MaxAttachmentBytes)
	}
	return checkValue(name, v, 1)
}

func checkValue(path string, v *structpb.Value, depth int) error {
	if depth > MaxDepth {
		return apierr.Invalid("%s is nested deeper than %d levels", path, MaxDepth)
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
			return apierr.Invalid("%s is %v; only finite numbers are allowed", path, k.NumberValue)
		}
	case *structpb.Value_StructValue:
		for key, item := range k.StructValue.GetFields() {
			if err := checkValue(path+"."+key, item, depth+1); err != nil {
				return err
			}
		}
	case *structpb.Value_ListValue:
		for i, item := range k.ListValue.GetValues() {
			if err := checkValue(fmt.Sprintf("%s[%d]", path, i), item, depth+1); err != nil {
				return err
			}
		}
	case nil:
		return apierr.Invalid("%s has no value (use null)", path)
	}
	return nil
}
