package leaf

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// oracleObject builds e's leaf object the slow, obvious way, independently of the encoder.
func oracleObject(e *auditv1.Event) map[string]any {
	t := e.GetTime().AsTime().UTC()
	m := map[string]any{
		"seq":          e.GetSeq(),
		"event":        EventName(e.GetEventType()),
		"timestamp":    t.Format(time.RFC3339Nano),
		"timestamp_ms": t.UnixMilli(),
	}
	for k, v := range map[string]string{"session_id": e.GetSessionId(), "correlation_id": e.GetCorrelationId(),
		"tool": e.GetTool(), "error_code": e.GetErrorCode(), "error": e.GetErrorMessage(),
		"resource_uri": e.GetResourceUri(), "operation": e.GetOperation()} {
		if v != "" {
			m[k] = v
		}
	}
	if e.GetArguments() != nil {
		m["arguments"] = e.GetArguments().AsMap()
	}
	if len(e.GetPrevHash()) > 0 {
		m["prev_hash"] = hex.EncodeToString(e.GetPrevHash())
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
	if e.GetDurationMs() != 0 {
		m["duration_ms"] = e.GetDurationMs()
	}
	return m
}

// oracle is JCS by github.com/gowebpki/jcs of encoding/json's output for the oracle object.
func oracle(t testing.TB, e *auditv1.Event) []byte {
	t.Helper()
	j, err := json.Marshal(oracleObject(e))
	if err != nil {
		t.Fatal(err)
	}
	c, err := jcs.Transform(j)
	if err != nil {
		t.Fatalf("jcs.Transform(%s): %v", j, err)
	}
	return c
}

// tricky holds characters that a JSON encoder gets wrong in one way or another.
var tricky = []string{"a", "Z", "0", " ", `"`, `\`, "/", "<", ">", "&", "\x00", "\x01", "\b", "\t", "\n",
	"\f", "\r", "\x1f", "\x7f", "é", "e\u0301", "\u2028", "\u2029", "\ufeff", "\ue000", "\uffff",
	"\U00010000", "😀", "\U0010ffff", "中"}

func randString(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(6) {
		b.WriteString(tricky[r.IntN(len(tricky))])
	}
	return b.String()
}

var specialNumbers = []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e21, 1e-7, 1e-6, 5e-324,
	math.MaxFloat64, 123456789012345680000, 9007199254740991, 9007199254740993, 1e20, 333333333.3333333}

func randNumber(r *rand.Rand) float64 {
	switch r.IntN(3) {
	case 0:
		return specialNumbers[r.IntN(len(specialNumbers))]
	case 1:
		return float64(r.Int64N(1<<53)) * float64(1-2*r.IntN(2))
	}
	for {
		if f := math.Float64frombits(r.Uint64()); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
}

func randValue(r *rand.Rand, depth int) *structpb.Value {
	n := 6
	if depth >= 4 {
		n = 4
	}
	switch r.IntN(n) {
	case 0:
		return structpb.NewNullValue()
	case 1:
		return structpb.NewBoolValue(r.IntN(2) == 0)
	case 2:
		return structpb.NewNumberValue(randNumber(r))
	case 3:
		return structpb.NewStringValue(randString(r))
	case 4:
		return structpb.NewStructValue(randStruct(r, depth+1))
	}
	l := &structpb.ListValue{}
	for range r.IntN(4) {
		l.Values = append(l.Values, randValue(r, depth+1))
	}
	return structpb.NewListValue(l)
}

func randStruct(r *rand.Rand, depth int) *structpb.Struct {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for range r.IntN(6) {
		s.Fields[randString(r)] = randValue(r, depth)
	}
	return s
}

func randEvent(r *rand.Rand) *auditv1.Event {
	str := func() string {
		if r.IntN(3) == 0 {
			return ""
		}
		return randString(r)
	}
	num := func() uint64 {
		if r.IntN(2) == 0 {
			return 0
		}
		return r.Uint64N(MaxInteger + 1)
	}
	e := &auditv1.Event{
		Seq:           1 + r.Uint64N(1<<40),
		Time:          timestamppb.New(time.Unix(r.Int64N(1<<34), r.Int64N(1e9))),
		EventType:     auditv1.EventType(r.IntN(6)),
		SessionId:     str(),
		CorrelationId: str(),
		Tool:          str(),
		BytesIn:       num(),
		BytesOut:      num(),
		ErrorCode:     str(),
		ErrorMessage:  str(),
		ResourceUri:   str(),
		Operation:     str(),
		Hash:          []byte{1, 2, 3},
	}
	if r.IntN(2) == 0 {
		e.DurationMs = math.Abs(randNumber(r))
	}
	if r.IntN(2) == 0 {
		e.Arguments = randStruct(r, 1)
	}
	if r.IntN(4) == 0 {
		e.PrevHash = make([]byte, 32)
		for i := range e.PrevHash {
			e.PrevHash[i] = byte(r.IntN(256))
		}
	}
	return e
}

func TestEncoderAgreesWithJCSOfEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 8785))
	for i := range 5000 {
		e := randEvent(r)
		got, err := Canonical(e)
		if err != nil {
			t.Fatalf("event %d: %v\n%v", i, err, e)
		}
		if want := oracle(t, e); string(got) != string(want) {
			t.Fatalf("event %d:\n got %s\nwant %s\n%v", i, got, want, e)
		}
		line, h, err := AppendExport([]byte("prefix"), e)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(line), "prefix") {
			t.Fatalf("AppendExport dropped dst: %q", line)
		}
		m := oracleObject(e)
		m["hash"] = hex.EncodeToString(HashCanonical(got))
		j, _ := json.Marshal(m)
		want, _ := jcs.Transform(j)
		if string(line[len("prefix"):]) != string(want) || hex.EncodeToString(h) != m["hash"] {
			t.Fatalf("event %d: export line\n got %s\nwant %s", i, line, want)
		}
	}
}

func TestKeysSortByUTF16CodeUnits(t *testing.T) {
	// U+E000 is above U+1F600 in UTF-8 (and code point) order, below it in UTF-16 order.
	s, _ := structpb.NewStruct(map[string]any{"\ue000": 1, "😀": 2, "a": 3, "ab": 4, "": 5})
	got, err := Canonical(&auditv1.Event{Seq: 1, Arguments: s})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"arguments":{"":5,"a":3,"ab":4,"😀":2,"` + "\ue000" + `":1},`; !strings.HasPrefix(string(got), want) {
		t.Fatalf("got %s\nwant prefix %s", got, want)
	}
}

func TestEncoderRefusesWhatJSONCannotCarry(t *testing.T) {
	bad := func(v any) *structpb.Struct {
		return &structpb.Struct{Fields: map[string]*structpb.Value{"k": {Kind: &structpb.Value_ListValue{
			ListValue: &structpb.ListValue{Values: []*structpb.Value{structpb.NewNullValue(), v.(*structpb.Value)}}}}}}
	}
	tests := []struct {
		name string
		e    *auditv1.Event
		want string
	}{
		{"invalid UTF-8 in a field", &auditv1.Event{Tool: "a\xffb"}, "leaf: tool: invalid UTF-8"},
		{"invalid UTF-8 in arguments", &auditv1.Event{Arguments: bad(structpb.NewStringValue("\xc3"))}, "leaf: arguments.k[1]: invalid UTF-8"},
		{"invalid UTF-8 in a key", &auditv1.Event{Arguments: &structpb.Struct{Fields: map[string]*structpb.Value{"\xed\xa0\x80": structpb.NewNullValue()}}}, `leaf: arguments key "\xed\xa0\x80": invalid UTF-8`},
		{"NaN in arguments", &auditv1.Event{Arguments: bad(structpb.NewNumberValue(math.NaN()))}, "leaf: arguments.k[1]: NaN is not a JSON number"},
		{"infinite duration", &auditv1.Event{DurationMs: math.Inf(1)}, "leaf: duration_ms: +Inf is not a JSON number"},
		{"bytes_in above 2^53-1", &auditv1.Event{BytesIn: MaxInteger + 1}, "leaf: bytes_in is 9007199254740992, above 2^53-1"},
		{"seq above 2^53-1", &auditv1.Event{Seq: math.MaxUint64}, "leaf: seq is 18446744073709551615, above 2^53-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Canonical(tt.e)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if _, _, err := AppendExport(nil, tt.e); err == nil {
				t.Fatal("AppendExport accepted it")
			}
		})
	}
	ok := &auditv1.Event{BytesIn: MaxInteger, Tool: "t"}
	if _, err := Canonical(proto.Clone(ok).(*auditv1.Event)); err != nil {
		t.Fatalf("2^53-1 refused: %v", err)
	}
}

func BenchmarkCanonical(b *testing.B) {
	args, _ := structpb.NewStruct(map[string]any{"connection": "@mysql.main", "query": "SELECT * FROM users WHERE id = 42",
		"password": "[REDACTED]", "samples": 10})
	e := &auditv1.Event{Seq: 123456, Time: timestamppb.Now(), EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED,
		SessionId: "sess_0123456789", CorrelationId: "corr_0123456789", Tool: "database_query", Arguments: args, BytesIn: 312}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendCanonical(buf[:0], e); err != nil {
			b.Fatal(err)
		}
		_ = HashCanonical(buf)
	}
}
