package verify

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/audit/internal/jsonl"
	"github.com/osirisplane/osiris/services/audit/internal/leaf"
	"github.com/osirisplane/osiris/services/audit/internal/signing"
)

// logEvent is event seq of a generated log: every type, two sessions, arguments with
// characters that need care, and the first ten migrated from the previous release.
func logEvent(t testing.TB, seq uint64, bigArgument int) *auditv1.Event {
	types := []auditv1.EventType{auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED,
		auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED, auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED, auditv1.EventType_EVENT_TYPE_RESOURCE_ACCESS}
	args, err := structpb.NewStruct(map[string]any{"query": fmt.Sprintf("SELECT %d -- \u2028 😀 \"q\" <b>", seq),
		"n": float64(seq) / 7, "list": []any{nil, true, map[string]any{"é": seq}}, "big": strings.Repeat("x", bigArgument)})
	if err != nil {
		t.Fatal(err)
	}
	e := &auditv1.Event{Seq: seq, Time: timestamppb.New(time.Date(2026, 11, 30, 9, 0, 0, int(seq)*1001, time.UTC)),
		EventType: types[seq%5], SessionId: fmt.Sprintf("s%d", seq%2), CorrelationId: fmt.Sprintf("c%d", seq/2),
		Tool: "database_query", Arguments: args, BytesIn: seq * 3, BytesOut: seq % 4, DurationMs: float64(seq%9) / 4,
		ErrorCode: map[bool]string{true: "timeout"}[seq%3 == 0], ResourceUri: "osiris://mcp/r", Operation: "read"}
	if seq <= 10 {
		e.PrevHash = bytes.Repeat([]byte{byte(seq)}, 32)
	}
	return e
}

type testLog struct {
	lines  [][]byte
	hashes [][]byte
}

func newLog(t testing.TB, n int) testLog {
	var l testLog
	for seq := uint64(1); seq <= uint64(n); seq++ {
		e := logEvent(t, seq, 0)
		line, err := jsonl.Line(e)
		if err != nil {
			t.Fatal(err)
		}
		h, err := leaf.Hash(e)
		if err != nil {
			t.Fatal(err)
		}
		l.lines = append(l.lines, line)
		l.hashes = append(l.hashes, h)
	}
	return l
}

func root(t testing.TB, hashes [][]byte) []byte {
	r := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	for _, h := range hashes {
		if err := r.Append(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(hashes) == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	h, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newSigner(t testing.TB, name string) (note.Signer, string) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

func sign(t testing.TB, s note.Signer, text string) []byte {
	msg, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// mustReplace is bytes.Replace for a tamper that must happen.
func mustReplace(b, old, new []byte, n int) []byte {
	if !bytes.Contains(b, old) {
		panic(fmt.Sprintf("%q is not in %q", old, b))
	}
	return bytes.Replace(b, old, new, n)
}

// flipHashDigit changes the first digit of a line's hash.
func flipHashDigit(b []byte) []byte {
	i := bytes.Index(b, []byte(`"hash":"`)) + len(`"hash":"`)
	b[i] = "10"[b[i]&1] // '0'->'1', '1'->'0'; any other digit becomes '0' or '1'
	return b
}

func join(lines [][]byte) []byte { return append(bytes.Join(lines, []byte("\n")), '\n') }

func edit(lines [][]byte, i int, f func([]byte) []byte) [][]byte {
	out := append([][]byte(nil), lines...)
	out[i] = f(bytes.Clone(lines[i]))
	return out
}

// verdict runs one verifier and returns its exit status and output.
type verifier func(t *testing.T, export, checkpoint, key string) (int, string)

func goVerifier(t *testing.T, export, checkpoint, key string) (int, string) {
	var out, errb bytes.Buffer
	code := Main([]string{"--export", export, "--checkpoint", checkpoint, "--key", key}, &out, &errb)
	return code, out.String() + errb.String()
}

func jsVerifier(t *testing.T, args ...string) (int, string) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the JavaScript verifier cannot run here (CI installs Node 20)")
	}
	script, err := filepath.Abs("../../../../tools/audit-verify/verify.mjs")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, append([]string{script}, args...)...).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out) + string(exit.Stderr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

func nodeVerifier(t *testing.T, export, checkpoint, key string) (int, string) {
	return jsVerifier(t, "--export", export, "--checkpoint", checkpoint, "--key", key)
}

func TestVerifiersAgreeOnIntactAndTamperedLogs(t *testing.T) {
	const n = 300
	log := newLog(t, n)
	s, vkey := newSigner(t, "osiris-audit")
	other, _ := newSigner(t, "osiris-audit")
	cp := func(size int) []byte {
		return sign(t, s, signing.CheckpointText(s.Name(), uint64(size), root(t, log.hashes[:size])))
	}
	good := cp(n)
	witness, _ := newSigner(t, "witness.example")
	cosigned, err := note.Sign(&note.Note{Text: signing.CheckpointText(s.Name(), n, root(t, log.hashes))}, witness, s)
	if err != nil {
		t.Fatal(err)
	}
	swapped := append([][]byte(nil), log.lines...)
	swapped[199], swapped[200] = swapped[200], swapped[199]
	var filtered [][]byte
	for _, l := range log.lines {
		if bytes.Contains(l, []byte(`"session_id":"s1"`)) {
			filtered = append(filtered, l)
		}
	}
	rewritten := edit(log.lines, 56, func(b []byte) []byte { // event and hash both rewritten
		e := logEvent(t, 57, 0)
		e.Tool = "harmless"
		line, _ := jsonl.Line(e)
		return line
	})
	big := edit(log.lines, 99, func([]byte) []byte {
		line, _ := jsonl.Line(logEvent(t, 100, 2<<20)) // a 2 MiB line; its hash no longer matches the tree
		return line
	})

	tests := []struct {
		name       string
		lines      [][]byte
		raw        []byte // the export, when not lines
		checkpoint []byte
		key        string
		want       string // the verdict starts with it
	}{
		{"intact", log.lines, nil, good, vkey, "OK: 300 events reproduce the root of checkpoint osiris-audit size 300"},
		{"more events than the checkpoint covers", log.lines, nil, cp(256), vkey, "OK: 256 events reproduce the root of checkpoint osiris-audit size 256 root "},
		{"a checkpoint of 1", log.lines, nil, cp(1), vkey, "OK: 1 events reproduce the root of checkpoint osiris-audit size 1 root "},
		{"a checkpoint of 7", log.lines, nil, cp(7), vkey, "OK: 7 events reproduce the root of checkpoint osiris-audit size 7 root "},
		{"a checkpoint of 257", log.lines, nil, cp(257), vkey, "OK: 257 events reproduce the root of checkpoint osiris-audit size 257 root "},
		{"empty checkpoint", nil, []byte{}, cp(0), vkey, "OK: 0 events"},
		{"an edited field", edit(log.lines, 56, func(b []byte) []byte { return mustReplace(b, []byte("database_query"), []byte("database_qu3ry"), 1) }),
			nil, good, vkey, "FAIL: line 57 (seq 57): the event does not match its hash"},
		{"an edited hash", edit(log.lines, 32, flipHashDigit),
			nil, good, vkey, "FAIL: line 33 (seq 33): the event does not match its hash"},
		{"an edited field and hash", rewritten, nil, good, vkey, "FAIL: the root of events 1 to 300 is "},
		{"a deleted line", append(append([][]byte(nil), log.lines[:119]...), log.lines[120:]...), nil, good, vkey, "FAIL: line 120: seq 121 where 120 belongs"},
		{"two swapped lines", swapped, nil, good, vkey, "FAIL: line 200: seq 201 where 200 belongs"},
		{"a filtered export", filtered, nil, good, vkey, "FAIL: line 2: seq 3 where 2 belongs"},
		{"a short export", log.lines[:250], nil, good, vkey, "FAIL: the export ends after 250 events; the checkpoint covers 300"},
		{"a checkpoint of another root", log.lines, nil, sign(t, s, signing.CheckpointText("osiris-audit", n, root(t, log.hashes[1:]))), vkey, "FAIL: the root of events 1 to 300 is "},
		{"a checkpoint signed by another key", log.lines, nil, sign(t, other, signing.CheckpointText("osiris-audit", n, root(t, log.hashes))), vkey, "FAIL: the checkpoint is not signed by key osiris-audit+"},
		{"a checkpoint cosigned by a witness", log.lines, nil, cosigned, vkey, "OK: 300 events"},
		{"an altered checkpoint", log.lines, nil, bytes.Replace(good, []byte("\n300\n"), []byte("\n299\n"), 1), vkey, "FAIL: the checkpoint's signature by key osiris-audit+"},
		{"a checkpoint of another origin", log.lines, nil, sign(t, s, signing.CheckpointText("elsewhere", n, root(t, log.hashes))), vkey, `FAIL: the checkpoint's origin "elsewhere" is not its key's name "osiris-audit"`},
		{"a checkpoint size with a leading zero", log.lines, nil, sign(t, s, "osiris-audit\n0300\n"+strings.Split(string(good), "\n")[2]+"\n"), vkey, `FAIL: the checkpoint's size "0300" is not a decimal number`},
		{"a checkpoint without a root", log.lines, nil, sign(t, s, "osiris-audit\n300\n"), vkey, "FAIL: the checkpoint has 2 lines of text"},
		{"not a signed note", log.lines, nil, []byte("osiris-audit\n300\n"), vkey, "FAIL: the checkpoint is not a signed note"},
		{"not a verifier key", log.lines, nil, good, "osiris-audit+zz", "FAIL: the key is not a note verifier key"},
		{"a line that is not JSON", edit(log.lines, 8, func(b []byte) []byte { return b[:len(b)/2] }), nil, good, vkey, "FAIL: line 9: not JSON"},
		{"an empty line", edit(log.lines, 8, func([]byte) []byte { return nil }), nil, good, vkey, "FAIL: line 9: empty line"},
		{"a duplicated key", edit(log.lines, 10, func(b []byte) []byte { return append([]byte(`{"tool":"x",`), b[1:]...) }), nil, good, vkey, `FAIL: line 11: not JSON: Duplicate key: "tool"`},
		{"a line without a hash", edit(log.lines, 3, func(b []byte) []byte { return mustReplace(b, []byte(`"hash"`), []byte(`"hush"`), 1) }), nil, good, vkey, `FAIL: line 4: no "hash"`},
		{"a 2 MiB line", big, nil, good, vkey, "FAIL: the root of events 1 to 300 is "},
		{"a line written in another, equivalent JSON form", edit(log.lines, 4, func(b []byte) []byte {
			b = mustReplace(b, []byte(`"tool":"database_query"`), []byte(` "tool" :	"\u0064atabase_query" `), 1)
			b = mustReplace(b, []byte(`"bytes_in":15`), []byte(`"bytes_in":1.5E+1`), 1)
			return append([]byte("  \t"), append(b, ' ', '\r')...)
		}), nil, good, vkey, "OK: 300 events"},
		{"a nested duplicate key", edit(log.lines, 4, func(b []byte) []byte { return mustReplace(b, []byte(`"n":`), []byte(`"n":0,"n":`), 1) }), nil, good, vkey, "FAIL: line 5: "},
		{"a lone surrogate", edit(log.lines, 4, func(b []byte) []byte { return mustReplace(b, []byte(`"query":"`), []byte(`"query":"\ud83d`), 1) }), nil, good, vkey, "FAIL: line 5: "},
		{"a number beyond a double", edit(log.lines, 4, func(b []byte) []byte { return mustReplace(b, []byte(`"n":`), []byte(`"n":1e400,"m":`), 1) }), nil, good, vkey, "FAIL: line 5: "},
		{"a seq written as 5.0, which is 5", edit(log.lines, 4, func(b []byte) []byte { return mustReplace(b, []byte(`"seq":5`), []byte(`"seq":5.0`), 1) }), nil, good, vkey, "OK: 300 events"},
		{"a seq that is not a whole number", edit(log.lines, 4, func(b []byte) []byte { return mustReplace(b, []byte(`"seq":5`), []byte(`"seq":5.5`), 1) }), nil, good, vkey, `FAIL: line 5: "seq" 5.5 is not an integer from 1 to 2^53-1`},
		{"a seq that is a string", edit(log.lines, 4, func(b []byte) []byte { return mustReplace(b, []byte(`"seq":5`), []byte(`"seq":"5"`), 1) }), nil, good, vkey, `FAIL: line 5: "seq" "5" is not an integer from 1 to 2^53-1`},
		{"a hash that is not hex", edit(log.lines, 4, func(b []byte) []byte { return mustReplace(b, []byte(`"hash":"`), []byte(`"hash":"zz`), 1) }), nil, good, vkey, `FAIL: line 5: "hash" "zz`},
		{"a byte order mark", edit(log.lines, 4, func(b []byte) []byte { return append([]byte("\ufeff"), b...) }), nil, good, vkey, "FAIL: line 5: not a JSON object"},
		{"invalid UTF-8", edit(log.lines, 4, func(b []byte) []byte { return mustReplace(b, []byte("é"), []byte{0xc3}, 1) }), nil, good, vkey, "FAIL: line 5: not UTF-8"},
		{"no final newline", nil, bytes.TrimSuffix(join(log.lines), []byte("\n")), good, vkey, "OK: 300 events"},
	}
	tails := map[string]string{"more events than the checkpoint covers": "; 44 more events are intact but after the checkpoint"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			export, checkpoint, key := filepath.Join(dir, "export.jsonl"), filepath.Join(dir, "checkpoint"), filepath.Join(dir, "key.pub")
			raw := tt.raw
			if raw == nil {
				raw = join(tt.lines)
			}
			for p, b := range map[string][]byte{export: raw, checkpoint: tt.checkpoint, key: []byte(tt.key + "\n")} {
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, v := range []struct {
				name string
				run  verifier
			}{{"go", goVerifier}, {"js", nodeVerifier}} {
				code, out := v.run(t, export, checkpoint, key)
				wantCode := 1
				if strings.HasPrefix(tt.want, "OK") {
					wantCode = 0
				}
				if code != wantCode || !strings.HasPrefix(out, tt.want) || !strings.HasSuffix(out, tails[tt.name]+"\n") || strings.Count(out, "\n") != 1 {
					t.Errorf("%s verifier: exit %d, %q\nwant exit %d and one line starting %q", v.name, code, out, wantCode, tt.want)
				}
			}
		})
	}
}

func TestVerifyUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"--export", "a", "--checkpoint", "b"}, {"--export", "a", "--checkpoint", "b", "--key", "c", "d"}, {"--bogus"}} {
		var out, errb bytes.Buffer
		if code := Main(args, &out, &errb); code != 2 || out.Len() > 0 {
			t.Errorf("go %q: exit %d, stdout %q; want 2 and nothing", args, code, out.String())
		}
		if code, _ := jsVerifier(t, args...); code != 2 {
			t.Errorf("js %q: exit %d, want 2", args, code)
		}
	}
	var out bytes.Buffer
	if code := Main([]string{"--export", "/nonexistent", "--checkpoint", "/nonexistent", "--key", "/nonexistent"}, &out, &out); code != 1 ||
		!strings.HasPrefix(out.String(), "FAIL: cannot read the key: ") {
		t.Errorf("missing files: exit %d, %q", code, out.String())
	}
}

func TestExportRefusesALineOverTheLimit(t *testing.T) {
	log := newLog(t, 3)
	s, _ := newSigner(t, "o")
	_ = s
	cp := Checkpoint{Origin: "o", Size: 3, Root: root(t, log.hashes)}
	longest := 0
	for _, l := range log.lines {
		longest = max(longest, len(l))
	}
	if _, err := Export(bytes.NewReader(join(log.lines)), cp, longest); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	_, err := Export(bytes.NewReader(join(log.lines)), cp, longest-1)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("longer than %d bytes, the most a line may have", longest-1)) {
		t.Fatalf("over the limit: %v", err)
	}
	if hex.EncodeToString(cp.Root) == "" {
		t.Fatal("no root")
	}
}
