package chain

import (
	"encoding/hex"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

func sample() *auditv1.Event {
	args, _ := structpb.NewStruct(map[string]any{"b": []any{1, "x"}, "a": map[string]any{"z": true, "y": nil}})
	return &auditv1.Event{
		Seq: 1, Time: timestamppb.New(time.Date(2026, 11, 27, 10, 0, 0, 5, time.UTC)),
		EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED, SessionId: "s", CorrelationId: "c", Tool: "t",
		Arguments: args, BytesIn: 10, BytesOut: 20, DurationMs: 1.25, ErrorCode: "e", ErrorMessage: "m",
		ResourceUri: "u", Operation: "read",
	}
}

// The encoding is a promise to every log already written: this vector must never change.
// If it does, old chains stop verifying; introduce a new domain tag instead.
func TestDigestIsStable(t *testing.T) {
	got, err := Digest(Genesis(), sample())
	if err != nil {
		t.Fatal(err)
	}
	const want = "2ad3709d08eda9a1a52ec9ce24c8a9708e70862b01a73b78138e45aed88360b1"
	if hex.EncodeToString(got) != want {
		t.Fatalf("digest = %x, want %s", got, want)
	}
}

func TestDigestCoversEveryField(t *testing.T) {
	base, _ := Digest(Genesis(), sample())
	changes := map[string]func(e *auditv1.Event){
		"seq":      func(e *auditv1.Event) { e.Seq = 2 },
		"time":     func(e *auditv1.Event) { e.Time = timestamppb.New(e.Time.AsTime().Add(1)) },
		"type":     func(e *auditv1.Event) { e.EventType = auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED },
		"session":  func(e *auditv1.Event) { e.SessionId = "s2" },
		"corr":     func(e *auditv1.Event) { e.CorrelationId = "c2" },
		"tool":     func(e *auditv1.Event) { e.Tool = "t2" },
		"args":     func(e *auditv1.Event) { e.Arguments.Fields["a"] = structpb.NewBoolValue(false) },
		"no args":  func(e *auditv1.Event) { e.Arguments = nil },
		"in":       func(e *auditv1.Event) { e.BytesIn++ },
		"out":      func(e *auditv1.Event) { e.BytesOut++ },
		"duration": func(e *auditv1.Event) { e.DurationMs = 1.5 },
		"code":     func(e *auditv1.Event) { e.ErrorCode = "f" },
		"message":  func(e *auditv1.Event) { e.ErrorMessage = "n" },
		"uri":      func(e *auditv1.Event) { e.ResourceUri = "v" },
		"op":       func(e *auditv1.Event) { e.Operation = "write" },
		// Length prefixes keep field boundaries: moving a byte between fields changes the hash.
		"boundary": func(e *auditv1.Event) { e.SessionId, e.CorrelationId = "sc", "" },
	}
	for name, change := range changes {
		e := sample()
		change(e)
		got, _ := Digest(Genesis(), e)
		if string(got) == string(base) {
			t.Errorf("changing %s does not change the digest", name)
		}
	}
	other, _ := Digest(base, sample())
	if string(other) == string(base) {
		t.Error("the previous hash does not change the digest")
	}
}

func TestVerifier(t *testing.T) {
	v := NewVerifier()
	prev := Genesis()
	for i := uint64(1); i <= 3; i++ {
		e := sample()
		e.Seq, e.PrevHash = i, prev
		e.Hash, _ = Digest(prev, e)
		if err := v.Next(e); err != nil {
			t.Fatalf("seq %d: %v", i, err)
		}
		prev = e.Hash
	}
	bad := sample()
	bad.Seq, bad.PrevHash = 4, prev
	bad.Hash, _ = Digest(prev, bad)
	bad.Tool = "changed"
	if err := v.Next(bad); err == nil || v.Checked() != 3 {
		t.Fatalf("tampered event accepted (checked %d)", v.Checked())
	}
}
