package leaf

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the events below")

const vectorsFile = "testdata/vectors.json"

// vectorFile is the layout of testdata/vectors.json, documented in docs/audit.md.
type vectorFile struct {
	Comment string   `json:"comment"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name string `json:"name"`
	// Event is the input, an osiris.audit.v1.Event in protojson.
	Event json.RawMessage `json:"event"`
	// Leaf is the leaf object as encoding/json writes it: keys in byte order, HTML and
	// U+2028 escaped, Go's number format. Canonicalizing it must give Canonical.
	Leaf      json.RawMessage `json:"leaf"`
	Canonical string          `json:"canonical"`
	LeafHash  string          `json:"leaf_hash"`
}

var at = time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func args(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return s
}

// vectorEvents are the golden vectors' inputs: every event type, every field, the characters
// and numbers JSON encoders disagree on.
func vectorEvents() []struct {
	name string
	e    *auditv1.Event
} {
	controls := make([]byte, 0, 33)
	for c := range byte(0x20) {
		controls = append(controls, c)
	}
	controls = append(controls, 0x7f)
	return []struct {
		name string
		e    *auditv1.Event
	}{
		{"started, fewest fields (bytes_in 0 still written)", &auditv1.Event{Seq: 1, Time: ts(at),
			EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, Tool: "connections_list"}},
		{"started, every field it has", &auditv1.Event{Seq: 2, Time: ts(at), EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED,
			SessionId: "sess_01", CorrelationId: "corr_01", Tool: "discovery_request", BytesIn: 312,
			Arguments: args(map[string]any{"connection": "@mysql.main", "samples": 10, "password": "[REDACTED]"})}},
		{"completed (bytes_out, duration_ms; whole seconds drop the fraction)", &auditv1.Event{Seq: 3, Time: ts(at.Truncate(time.Second)),
			EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED, SessionId: "sess_01", CorrelationId: "corr_01",
			Tool: "discovery_request", BytesOut: 4096, DurationMs: 12.5}},
		{"failed, duration 0 still written, escapes in the message", &auditv1.Event{Seq: 4, Time: ts(at.Add(-123456000)),
			EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED, CorrelationId: "corr_02", Tool: "database_query",
			ErrorCode: "timeout", ErrorMessage: "query \"SELECT 1\" took > 30 s\\n\tat C:\\db\r\n</script>&"}},
		{"rejected", &auditv1.Event{Seq: 5, Time: ts(at), EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED,
			SessionId: "sess_02", Tool: "files_delete", DurationMs: 0.1, ErrorCode: "permission_denied", ErrorMessage: "not allowed"}},
		{"resource_access, ok", &auditv1.Event{Seq: 6, Time: ts(at), EventType: auditv1.EventType_EVENT_TYPE_RESOURCE_ACCESS,
			SessionId: "sess_01", ResourceUri: "osiris://mcp/discovery/disc_1/overview.json", Operation: "read"}},
		{"resource_access, error, with every non-zero field any type may carry", &auditv1.Event{Seq: 7, Time: ts(at),
			EventType: auditv1.EventType_EVENT_TYPE_RESOURCE_ACCESS, SessionId: "s", CorrelationId: "c", Tool: "t",
			ResourceUri: "osiris://mcp/x", Operation: "read", ErrorCode: "not_found", ErrorMessage: "gone",
			BytesIn: MaxInteger, BytesOut: 1, DurationMs: 1e-7, Arguments: args(map[string]any{})}},
		{"unicode: non-BMP, U+2028/U+2029, combining marks, BOM, keys sorted by UTF-16 code units", &auditv1.Event{Seq: 8, Time: ts(at),
			EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, Tool: "Ω-tool", SessionId: "😀\u2028\u2029",
			Arguments: args(map[string]any{"\ue000": "private use", "😀": "U+1F600", "é": "e\u0301", "e\u0301": "é",
				"\ufeff": "BOM", "中文": "\U0010ffff", "a<b>&c": "\u2028"})}},
		{"control characters and escapes", &auditv1.Event{Seq: 9, Time: ts(at), EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED,
			Tool: "t", ErrorMessage: string(controls), DurationMs: 2,
			Arguments: args(map[string]any{"\"quoted\"": "\\back\\slash/", "\n": "\u0000"})}},
		{"numbers", &auditv1.Event{Seq: 10, Time: ts(at), EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED,
			Tool: "t", DurationMs: 333333333.3333333, BytesOut: 9007199254740991,
			Arguments: args(map[string]any{"zero": 0, "negative_zero": math.Copysign(0, -1), "1e21": 1e21, "1e20": 1e20,
				"1e-7": 1e-7, "1e-6": 1e-6, "min": 5e-324, "max": math.MaxFloat64, "tenth": 0.1,
				"big": 123456789012345680000.0, "max_safe": 9007199254740991, "above_safe": 9007199254740993.0,
				"negative": -1.5, "int": 42})}},
		{"nested and empty objects and lists, null, booleans", &auditv1.Event{Seq: 11, Time: ts(at),
			EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, Tool: "t", BytesIn: 1,
			Arguments: args(map[string]any{"empty_object": map[string]any{}, "empty_list": []any{}, "null": nil,
				"t": true, "f": false, "deep": map[string]any{"b": []any{1, "two", []any{map[string]any{"z": nil, "a": []any{}}}}, "a": map[string]any{"": ""}}})}},
		{"migrated from the previous release: prev_hash kept as data", &auditv1.Event{Seq: 12, Time: ts(time.Date(2025, 1, 2, 3, 4, 5, 600000000, time.UTC)),
			EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED, SessionId: "s_old", Tool: "t", BytesOut: 0, DurationMs: 3,
			PrevHash: bytes.Repeat([]byte{0xab, 0x01}, 16)}},
	}
}

func TestGoldenVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) != len(vectorEvents()) {
		t.Fatalf("%s has %d vectors, the test defines %d: run go test -run TestGoldenVectors -update", vectorsFile, len(f.Vectors), len(vectorEvents()))
	}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			var e auditv1.Event
			if err := protojson.Unmarshal(v.Event, &e); err != nil {
				t.Fatal(err)
			}
			got, err := Canonical(&e)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != v.Canonical {
				t.Fatalf("canonical bytes\n got %s\nwant %s", got, v.Canonical)
			}
			if h := hex.EncodeToString(HashCanonical(got)); h != v.LeafHash {
				t.Fatalf("leaf hash %s, want %s", h, v.LeafHash)
			}
			if c, err := jcs.Transform(v.Leaf); err != nil || string(c) != v.Canonical {
				t.Fatalf("jcs.Transform(leaf) = %s, %v; want %s", c, err, v.Canonical)
			}
		})
	}
}

func writeVectors(t *testing.T) {
	f := vectorFile{Comment: "Golden vectors of the audit log's leaf encoding (docs/audit.md, \"Verifying the log offline\"). " +
		"event: the input event (protojson); leaf: its leaf object, not canonical; canonical: the leaf's RFC 8785 bytes (UTF-8); " +
		"leaf_hash: hex SHA-256(0x00 || canonical). Generated by go test ./services/audit/internal/leaf -run TestGoldenVectors -update."}
	for _, v := range vectorEvents() {
		ev, err := protojson.Marshal(v.e)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := json.Marshal(oracleObject(v.e))
		if err != nil {
			t.Fatal(err)
		}
		c, err := Canonical(v.e)
		if err != nil {
			t.Fatal(err)
		}
		f.Vectors = append(f.Vectors, vector{Name: v.name, Event: ev, Leaf: obj, Canonical: string(c), LeafHash: hex.EncodeToString(HashCanonical(c))})
	}
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsFile, append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestJavaScriptAgreesOnRandomEvents runs the JavaScript verifier's vector check on 3000
// random events: characters and doubles of every kind, beyond what the golden vectors list.
func TestJavaScriptAgreesOnRandomEvents(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 13))
	f := vectorFile{Comment: "random"}
	for i := range 3000 {
		e := randEvent(r)
		c, err := Canonical(e)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := json.Marshal(oracleObject(e))
		if err != nil {
			t.Fatal(err)
		}
		f.Vectors = append(f.Vectors, vector{Name: fmt.Sprint("random ", i), Event: json.RawMessage("null"), Leaf: obj,
			Canonical: string(c), LeafHash: hex.EncodeToString(HashCanonical(c))})
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "random.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	runVectors(t, path, "OK: 3000 vectors")
}

// TestJavaScriptVerifierReproducesGoldenVectors runs tools/audit-verify/verify.mjs on the same
// file: a second, independent implementation of JCS and the leaf hash.
func TestJavaScriptVerifierReproducesGoldenVectors(t *testing.T) {
	runVectors(t, vectorsFile, fmt.Sprintf("OK: %d vectors", len(vectorEvents())))
}

func runVectors(t *testing.T, path, want string) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the JavaScript verifier cannot run here (CI installs Node 20)")
	}
	script, err := filepath.Abs("../../../../tools/audit-verify/verify.mjs")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, script, "--vectors", path).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	if err != nil || !strings.HasPrefix(string(out), want) {
		t.Fatalf("verify.mjs --vectors: %v\n%.2000s", err, out)
	}
	t.Logf("%s", out)
}
