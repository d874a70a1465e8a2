package redact

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// m is the mask used by the table tests.
const m = AuditMask

// Credential fixtures are split so that secret scanners do not flag this
// file; none of them is a real credential.
const (
	slackToken  = "xoxb-" + "1234567890-0987654321-" + "AbCdEfGhIjKl"
	awsKeyID    = "AKIA" + "IOSFODNN7EXAMPLE"
	ghToken     = "ghp_" + "aB3aB3aB3aB3aB3aB3aB3aB3aB3aB3aB3aB3"
	ghPAT       = "github_pat_" + "11ABCDEFG0" + "_" + "xY9xY9xY9xY9xY9xY9xY9xY9xY9xY9"
	jwtToken    = "eyJhbGciOiJIUzI1NiJ9" + "." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0" + "." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
	mixedKey    = "sk" + "Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1"
	sha256Hex   = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	sha256Upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
)

// treeCase is one input tree and its redaction.
type treeCase struct {
	name string
	in   map[string]any
	want map[string]any
}

// treeCases run through both Struct and Map, so the two entry points are
// held to the same rules. Numbers are float64 because that is what
// encoding/json and structpb produce. They are built by a function, not
// held in a package variable, so that no test can change another's input.
func treeCases() []treeCase {
	return []treeCase{
		{
			name: "exact secret key",
			in:   map[string]any{"password": "hunter2", "user": "alice"},
			want: map[string]any{"password": m, "user": "alice"},
		},
		{
			name: "secret key by substring and case",
			in: map[string]any{
				"DB_PASSWORD":   "hunter2",
				"apiKey":        "k-123",
				"Authorization": "Basic dXNlcjpwYXNz",
			},
			want: map[string]any{"DB_PASSWORD": m, "apiKey": m, "Authorization": m},
		},
		{
			name: "secret key variants",
			in: map[string]any{
				"passwd":            "a",
				"user_pwd":          "a",
				"pass":              "a",
				"client_secret":     "a",
				"refresh_token":     "a",
				"session_token":     "a",
				"ssh_key":           "a",
				"idempotency_key":   "a",
				"X-Api-Key":         "a",
				"aws_access_key_id": "a",
				"private_key":       "a",
				"db_credentials":    "a",
				"Set-Cookie":        "a",
				"bearer":            "a",
				"id_jwt":            "a",
				"name":              "a",
			},
			want: map[string]any{
				"passwd":            m,
				"user_pwd":          m,
				"pass":              m,
				"client_secret":     m,
				"refresh_token":     m,
				"session_token":     m,
				"ssh_key":           m,
				"idempotency_key":   m,
				"X-Api-Key":         m,
				"aws_access_key_id": m,
				"private_key":       m,
				"db_credentials":    m,
				"Set-Cookie":        m,
				"bearer":            m,
				"id_jwt":            m,
				"name":              "a",
			},
		},
		{
			name: "any non-null value under a secret key is masked whole",
			in: map[string]any{
				"password":    1234.0,
				"token":       true,
				"credentials": map[string]any{"user": "a", "note": "b"},
				"api_keys":    []any{"a", "b"},
				"secret":      "",
			},
			want: map[string]any{"password": m, "token": m, "credentials": m, "api_keys": m, "secret": m},
		},
		{
			name: "null under a secret key stays null",
			in:   map[string]any{"password": nil},
			want: map[string]any{"password": nil},
		},
		{
			name: "never-masked keys",
			in: map[string]any{
				"key":         "user-42",
				"Key":         "user-43",
				"primary_key": "id",
				"PRIMARY_KEY": "id2",
				"session":     "s-1",
				"session_id":  "abc",
				"event":       "login",
				"event_type":  "auth.login",
				"Command":     "ls -l",
			},
			want: map[string]any{
				"key":         "user-42",
				"Key":         "user-43",
				"primary_key": "id",
				"PRIMARY_KEY": "id2",
				"session":     "s-1",
				"session_id":  "abc",
				"event":       "login",
				"event_type":  "auth.login",
				"Command":     "ls -l",
			},
		},
		{
			name: "never-masked keys still get string patterns",
			in: map[string]any{
				"key":     slackToken,
				"command": "curl -H 'Authorization: Bearer abc123' https://x",
			},
			want: map[string]any{
				"key":     m,
				"command": "curl -H 'Authorization: Bearer " + m + "' https://x",
			},
		},
		{
			name: "never-masked keys are still walked",
			in: map[string]any{
				"event":   map[string]any{"type": "login", "password": "p"},
				"session": []any{map[string]any{"token": "t", "user": "u"}},
			},
			want: map[string]any{
				"event":   map[string]any{"type": "login", "password": m},
				"session": []any{map[string]any{"token": m, "user": "u"}},
			},
		},
		{
			name: "variable references under secret keys are kept",
			in: map[string]any{
				"password": "${DB_PASSWORD}",
				"api_key":  "${API_KEY}",
				"token":    "${token_1}",
			},
			want: map[string]any{
				"password": "${DB_PASSWORD}",
				"api_key":  "${API_KEY}",
				"token":    "${token_1}",
			},
		},
		{
			name: "only a whole variable reference is kept",
			in: map[string]any{
				"password": "prefix-${X}",
				"secret":   "${X}suffix",
				"token":    "$TOKEN",
				"auth":     "${A} ${B}",
				"api_key":  "${}",
			},
			want: map[string]any{"password": m, "secret": m, "token": m, "auth": m, "api_key": m},
		},
		{
			name: "variable reference is never pattern-masked",
			in:   map[string]any{"ref": "${" + mixedKey + "}"},
			want: map[string]any{"ref": "${" + mixedKey + "}"},
		},
		{
			name: "numbers under measurement keys are kept",
			in: map[string]any{
				"max_tokens":              100.0,
				"MAX_TOKENS":              5.0,
				"token_count":             3.0,
				"auth_latency_ms":         12.0,
				"secret_rotation_seconds": 60.0,
				"key_bytes":               32.0,
			},
			want: map[string]any{
				"max_tokens":              100.0,
				"MAX_TOKENS":              5.0,
				"token_count":             3.0,
				"auth_latency_ms":         12.0,
				"secret_rotation_seconds": 60.0,
				"key_bytes":               32.0,
			},
		},
		{
			name: "non-numbers under measurement keys are masked",
			in: map[string]any{
				"max_tokens":  "100",
				"token_count": true,
				"key_bytes":   []any{1.0},
				"auth_ms":     map[string]any{"v": 1.0},
				"pass_count":  nil,
			},
			want: map[string]any{
				"max_tokens":  m,
				"token_count": m,
				"key_bytes":   m,
				"auth_ms":     m,
				"pass_count":  nil,
			},
		},
		{
			name: "measurement suffix must end the key",
			in:   map[string]any{"tokens": 5.0, "token_count_total": 3.0, "maxtokens": 7.0},
			want: map[string]any{"tokens": m, "token_count_total": m, "maxtokens": m},
		},
		{
			name: "plain values under other keys are kept",
			in:   map[string]any{"retries": 3.0, "ok": true, "name": "x", "none": nil, "empty": map[string]any{}, "list": []any{}},
			want: map[string]any{"retries": 3.0, "ok": true, "name": "x", "none": nil, "empty": map[string]any{}, "list": []any{}},
		},
		{
			name: "nested maps",
			in: map[string]any{"db": map[string]any{
				"host":     "h",
				"password": "p",
				"opts":     map[string]any{"api_key": "k", "timeout_ms": 5.0},
			}},
			want: map[string]any{"db": map[string]any{
				"host":     "h",
				"password": m,
				"opts":     map[string]any{"api_key": m, "timeout_ms": 5.0},
			}},
		},
		{
			name: "lists of maps",
			in: map[string]any{"users": []any{
				map[string]any{"name": "a", "password": "p"},
				map[string]any{"name": "b", "auth": map[string]any{"x": "y"}},
			}},
			want: map[string]any{"users": []any{
				map[string]any{"name": "a", "password": m},
				map[string]any{"name": "b", "auth": m},
			}},
		},
		{
			name: "lists of strings with secrets",
			in:   map[string]any{"args": []any{"--verbose", "--token=" + ghToken, awsKeyID, []any{"nested", slackToken}}},
			want: map[string]any{"args": []any{"--verbose", "--token=" + m, m, []any{"nested", m}}},
		},
		{
			name: "deep nesting through lists and maps",
			in: map[string]any{"a": []any{map[string]any{"b": []any{map[string]any{"c": []any{
				map[string]any{"secret": "s", "note": "Bearer " + jwtToken},
			}}}}}},
			want: map[string]any{"a": []any{map[string]any{"b": []any{map[string]any{"c": []any{
				map[string]any{"secret": m, "note": "Bearer " + m},
			}}}}}},
		},
		{
			name: "credentials inside longer text",
			in: map[string]any{
				"error":   "dial postgres://app:s3cr3t@db:5432/app: refused",
				"message": "uploaded with " + awsKeyID + ", then " + ghPAT + " failed",
			},
			want: map[string]any{
				"error":   "dial postgres://app:" + m + "@db:5432/app: refused",
				"message": "uploaded with " + m + ", then " + m + " failed",
			},
		},
		{
			name: "hex digests are not masked",
			in:   map[string]any{"sha256": sha256Hex, "SHA256": sha256Upper, "commit": "0123456789abcdef0123456789abcdef01234567"},
			want: map[string]any{"sha256": sha256Hex, "SHA256": sha256Upper, "commit": "0123456789abcdef0123456789abcdef01234567"},
		},
		{
			name: "map keys are kept",
			in:   map[string]any{slackToken: "v", mixedKey: 1.0},
			want: map[string]any{slackToken: "v", mixedKey: 1.0},
		},
	}
}

func TestStruct(t *testing.T) {
	r := New(AuditMask)
	for _, tc := range treeCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := mustStruct(t, tc.in)
			want := mustStruct(t, tc.want)
			before := proto.Clone(in)

			got := r.Struct(in)
			if !proto.Equal(got, want) {
				t.Errorf("Struct() =\n%s\nwant\n%s", protojson.Format(got), protojson.Format(want))
			}
			if !proto.Equal(in, before) {
				t.Errorf("Struct() modified its input:\n%s\nwas\n%s", protojson.Format(in), protojson.Format(before))
			}
			if again := r.Struct(got); !proto.Equal(again, got) {
				t.Errorf("Struct() is not idempotent: second pass gave\n%s", protojson.Format(again))
			}
		})
	}
}

func TestMap(t *testing.T) {
	r := New(AuditMask)
	for _, tc := range treeCases() {
		t.Run(tc.name, func(t *testing.T) {
			before := jsonCopy(t, tc.in)

			got := r.Map(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Map() =\n%#v\nwant\n%#v", got, tc.want)
			}
			if !reflect.DeepEqual(tc.in, before) {
				t.Errorf("Map() modified its input:\n%#v\nwas\n%#v", tc.in, before)
			}
		})
	}
}

func TestString(t *testing.T) {
	r := New(AuditMask)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain text", "connection refused after 3 retries", "connection refused after 3 retries"},
		{"slack token", "posting with " + slackToken + " failed", "posting with " + m + " failed"},
		{"slack token kinds", "xoxp-1234567890 xoxa-1234567890 xoxr-1234567890", m + " " + m + " " + m},
		{"slack prefix alone", "use an xoxb-style token", "use an xoxb-style token"},
		{"aws access key id", "key=" + awsKeyID + ",", "key=" + m + ","},
		{"aws temporary key id", "ASIA" + "IOSFODNN7EXAMPLE", m},
		{"github token", "git clone https://" + ghToken + "@github.com/o/r", "git clone https://" + m + "@github.com/o/r"},
		{"github token kinds", "gho_" + strings.Repeat("a", 20) + " ghs_" + strings.Repeat("b", 20), m + " " + m},
		{"github prefix too short", "ghp_abc", "ghp_abc"},
		{"github fine-grained token", "token: " + ghPAT, "token: " + m},
		{"jwt", "cookie jwt=" + jwtToken + "; Path=/", "cookie jwt=" + m + "; Path=/"},
		{"bearer", "Authorization: Bearer abc.def-ghi", "Authorization: Bearer " + m},
		{"bearer any case", "authorization: bearer tok/en+==", "authorization: bearer " + m},
		{"bearer without token", "the bearer", "the bearer"},
		{"url password", "redis://default:pa55@cache:6379/0", "redis://default:" + m + "@cache:6379/0"},
		{"url password containing @", "amqp://u:p@ss@mq/", "amqp://u:" + m + "@mq/"},
		{"url without password", "https://user@example.com/path", "https://user@example.com/path"},
		{"mixed-case run", "api key " + mixedKey + " rejected", "api key " + m + " rejected"},
		{"mixed-case run at 32", strings.Repeat("aB", 16), m},
		{"mixed-case run at 31", strings.Repeat("aB", 15) + "a", strings.Repeat("aB", 15) + "a"},
		{"lowercase run", strings.Repeat("ab1", 20), strings.Repeat("ab1", 20)},
		{"uppercase run", strings.Repeat("AB1", 20), strings.Repeat("AB1", 20)},
		{"hex sha256", "sha256:" + sha256Hex, "sha256:" + sha256Hex},
		{"several credentials", awsKeyID + " and " + slackToken + " and " + ghToken, m + " and " + m + " and " + m},
		{"whole variable reference", "${" + mixedKey + "}", "${" + mixedKey + "}"},
		{"embedded variable reference", "use ${" + mixedKey + "} now", "use ${" + m + "} now"},
		// Masking the AWS key id opens a word boundary before "Bearer".
		{"masking exposes another credential", awsKeyID + "Bearer tok", m + "Bearer " + m},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r.String(tc.in)
			if got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := r.String(got); again != got {
				t.Errorf("String() is not idempotent: String(%q) = %q", got, again)
			}
		})
	}
}

func TestMasks(t *testing.T) {
	in := map[string]any{"password": "p", "note": "with " + awsKeyID}
	tests := []struct {
		name, mask, want string
	}{
		{"audit", AuditMask, "***MASKED***"},
		{"session", SessionMask, "***"},
		{"custom", "[redacted]", "[redacted]"},
		{"empty falls back to audit", "", AuditMask},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := New(tc.mask).Map(in)
			want := map[string]any{"password": tc.want, "note": "with " + tc.want}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("New(%q).Map() = %#v, want %#v", tc.mask, got, want)
			}
		})
	}
}

func TestValue(t *testing.T) {
	r := New(AuditMask)
	tests := []struct {
		name    string
		in, out *structpb.Value
	}{
		{"nil", nil, nil},
		{"no kind", &structpb.Value{}, &structpb.Value{}},
		{"null", structpb.NewNullValue(), structpb.NewNullValue()},
		{"number", structpb.NewNumberValue(1.5), structpb.NewNumberValue(1.5)},
		{"bool", structpb.NewBoolValue(true), structpb.NewBoolValue(true)},
		{"string without key", structpb.NewStringValue("hunter2"), structpb.NewStringValue("hunter2")},
		{"credential string", structpb.NewStringValue("x " + slackToken), structpb.NewStringValue("x " + m)},
		{
			"list",
			mustValue(t, []any{"a", ghToken, map[string]any{"token": "t"}}),
			mustValue(t, []any{"a", m, map[string]any{"token": m}}),
		},
		{"struct", mustValue(t, map[string]any{"pwd": 1.0}), mustValue(t, map[string]any{"pwd": m})},
		{"nil struct", structpb.NewStructValue(nil), structpb.NewStructValue(nil)},
		{"nil list", structpb.NewListValue(nil), structpb.NewListValue(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before *structpb.Value
			if tc.in != nil {
				before = proto.CloneOf(tc.in)
			}
			got := r.Value(tc.in)
			if (got == nil) != (tc.out == nil) || !proto.Equal(got, tc.out) {
				t.Errorf("Value() = %v, want %v", got, tc.out)
			}
			if !proto.Equal(tc.in, before) {
				t.Errorf("Value() modified its input: %v, was %v", tc.in, before)
			}
		})
	}
}

func TestNil(t *testing.T) {
	r := New(AuditMask)
	if got := r.Struct(nil); got != nil {
		t.Errorf("Struct(nil) = %v, want nil", got)
	}
	if got := r.Value(nil); got != nil {
		t.Errorf("Value(nil) = %v, want nil", got)
	}
	if got := r.Map(nil); got != nil {
		t.Errorf("Map(nil) = %#v, want nil", got)
	}
	if got := r.Struct(&structpb.Struct{}); got == nil || len(got.GetFields()) != 0 {
		t.Errorf("Struct(empty) = %v, want an empty Struct", got)
	}
}

// TestDeepCopy checks that the result shares nothing with the input, so a
// caller that edits the redacted copy cannot corrupt the original.
func TestDeepCopy(t *testing.T) {
	r := New(AuditMask)

	in := mustStruct(t, map[string]any{"a": map[string]any{"b": "c"}, "l": []any{"x"}})
	before := proto.Clone(in)
	got := r.Struct(in)
	got.Fields["a"].GetStructValue().Fields["b"] = structpb.NewStringValue("changed")
	got.Fields["l"].GetListValue().Values[0] = structpb.NewStringValue("changed")
	if !proto.Equal(in, before) {
		t.Errorf("editing the Struct() result changed the input: %v", in)
	}

	inMap := map[string]any{"a": map[string]any{"b": "c"}, "l": []any{"x"}}
	gotMap := r.Map(inMap)
	gotMap["a"].(map[string]any)["b"] = "changed"
	gotMap["l"].([]any)[0] = "changed"
	if inMap["a"].(map[string]any)["b"] != "c" || inMap["l"].([]any)[0] != "x" {
		t.Errorf("editing the Map() result changed the input: %#v", inMap)
	}
}

// TestMapGoTypes covers values that hand-built maps carry but
// encoding/json never produces.
func TestMapGoTypes(t *testing.T) {
	r := New(AuditMask)
	type opaque struct{ Secret string }
	in := map[string]any{
		"n":           3,
		"j":           json.Number("4"),
		"password":    5,
		"max_tokens":  7,
		"retry_count": json.Number("2"),
		"args":        []string{"a", slackToken},
		"headers":     map[string]string{"Authorization": "Bearer x", "Accept": "json", "X-Ref": "${TOKEN}"},
		"rows":        []map[string]any{{"password": "p", "id": 1.0}},
		"opaque":      opaque{Secret: "s"},
	}
	want := map[string]any{
		"n":           3,
		"j":           json.Number("4"),
		"password":    m,
		"max_tokens":  7,
		"retry_count": json.Number("2"),
		"args":        []string{"a", m},
		"headers":     map[string]string{"Authorization": m, "Accept": "json", "X-Ref": "${TOKEN}"},
		"rows":        []map[string]any{{"password": m, "id": 1.0}},
		"opaque":      m,
	}
	if got := r.Map(in); !reflect.DeepEqual(got, want) {
		t.Errorf("Map() =\n%#v\nwant\n%#v", got, want)
	}
}

// TestConcurrent shares one Redactor and one input between many goroutines;
// run with -race it fails if redaction writes to shared state.
func TestConcurrent(t *testing.T) {
	r := New(AuditMask)
	var tc treeCase
	for _, c := range treeCases() {
		if c.name == "deep nesting through lists and maps" {
			tc = c
		}
	}
	in := mustStruct(t, tc.in)
	want := mustStruct(t, tc.want)
	text := "dial postgres://app:s3cr3t@db/app with " + awsKeyID
	wantText := r.String(text)

	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 20 {
				if got := r.Struct(in); !proto.Equal(got, want) {
					t.Errorf("Struct() = %v, want %v", got, want)
					return
				}
				if got := r.Map(tc.in); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("Map() = %#v, want %#v", got, tc.want)
					return
				}
				if got := r.String(text); got != wantText {
					t.Errorf("String() = %q, want %q", got, wantText)
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzStruct checks the invariants that hold for every input: redaction
// does not panic, leaves its input alone, is idempotent, and gives the same
// answer through Struct and through Map.
func FuzzStruct(f *testing.F) {
	seeds := []string{
		`{}`,
		`null`,
		`{"password":"x","user":"u"}`,
		`{"max_tokens":100,"token_count":"3","key":"k","primary_key":null}`,
		`{"api_key":"${API_KEY}","list":[{"secret":[1,2]},"s",true,null,1.5]}`,
		fmt.Sprintf(`{"msg":"Bearer %s and %s","args":["%s","%s"]}`, jwtToken, awsKeyID, slackToken, ghToken),
		fmt.Sprintf(`{"a":{"b":["redis://u:p@h/0","%s","%s","%sBearer x"]}}`, mixedKey, sha256Hex, awsKeyID),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	redactors := []*Redactor{New(AuditMask), New(SessionMask)}

	f.Fuzz(func(t *testing.T, data string) {
		var tree, treeBefore map[string]any
		if json.Unmarshal([]byte(data), &tree) != nil {
			return
		}
		if err := json.Unmarshal([]byte(data), &treeBefore); err != nil {
			t.Fatalf("second decode failed: %v", err)
		}
		in, err := structpb.NewStruct(tree)
		if err != nil {
			return
		}
		before := proto.Clone(in)

		for _, r := range redactors {
			once := r.Struct(in)
			if !proto.Equal(in, before) {
				t.Fatalf("mask %q: Struct() modified its input", r.mask)
			}
			if twice := r.Struct(once); !proto.Equal(twice, once) {
				t.Fatalf("mask %q: Struct() is not idempotent:\nonce  %s\ntwice %s",
					r.mask, protojson.Format(once), protojson.Format(twice))
			}

			viaMap, err := structpb.NewStruct(r.Map(tree))
			if err != nil {
				t.Fatalf("mask %q: Map() result is not JSON-like: %v", r.mask, err)
			}
			if !reflect.DeepEqual(tree, treeBefore) {
				t.Fatalf("mask %q: Map() modified its input", r.mask)
			}
			if !proto.Equal(viaMap, once) {
				t.Fatalf("mask %q: Map() and Struct() disagree:\nMap    %s\nStruct %s",
					r.mask, protojson.Format(viaMap), protojson.Format(once))
			}
		}
	})
}

func mustStruct(t testing.TB, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatalf("NewStruct: %v", err)
	}
	return s
}

func mustValue(t testing.TB, v any) *structpb.Value {
	t.Helper()
	pv, err := structpb.NewValue(v)
	if err != nil {
		t.Fatalf("NewValue: %v", err)
	}
	return pv
}

// jsonCopy deep-copies a tree of JSON types through encoding/json.
func jsonCopy(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	return out
}
