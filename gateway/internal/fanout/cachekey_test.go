package fanout

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// Keys hold numbers as the JSON text says: 1 and 1.0, or 2^53 and 2^53+1, differ; 1e400 is
// a key like any other; member order and spacing do not matter.
func TestCacheKeysKeepNumbersExact(t *testing.T) {
	p := Policy{TTL: time.Hour, Scope: ScopeSession}
	key := func(args string) string {
		t.Helper()
		k, _, ok := cacheKey(toolCall("S", `{"name":"t","arguments":`+args+`}`), p)
		if !ok {
			t.Fatalf("%s cannot be keyed", args)
		}
		return k
	}
	for _, pair := range [][2]string{
		{`{"n":1}`, `{"n":1.0}`},
		{`{"n":9007199254740992}`, `{"n":9007199254740993}`},
		{`{"n":1e400}`, `{"n":2e400}`},
		{`{"n":0.1}`, `{"n":0.10000000000000001}`},
		{`{"n":{"m":[1]}}`, `{"n":{"m":[1.0]}}`},
	} {
		if key(pair[0]) == key(pair[1]) {
			t.Errorf("%s and %s share a key", pair[0], pair[1])
		}
	}
	if key(`{"a":1,"b":[2,{"c":3,"d":4}]}`) != key(` { "b" : [2, {"d":4, "c":3}], "a" : 1 } `) {
		t.Error("member order or spacing changed the key")
	}
	_, args, _ := cacheKey(toolCall("S", `{"name":"t","arguments":{"n":1.0}}`), p)
	if got := (Policy{Tags: []string{"n:{n}"}}).tags(args); len(got) != 1 || got[0] != "n:1.0" {
		t.Errorf("tags %v, want [n:1.0]", got)
	}
}

// Arguments that cannot be keyed exactly are forwarded and never stored: null, not an object,
// text that is not UTF-8, escaped surrogates (which decode to one U+FFFD).
func TestCacheForwardsWhatItCannotKeyExactly(t *testing.T) {
	c, mem := newTestCache(map[string]Policy{"lookup": {TTL: time.Hour}})
	for _, args := range []string{`null`, `[1]`, `"s"`, "{\"q\":\"\xff\"}", `{"q":"\ud800"}`, `{"q":"\udc00"}`} {
		for range 2 {
			var calls int
			if _, err := c.Around(context.Background(), toolCall("A", `{"name":"lookup","arguments":`+args+`}`), answer(`{"content":[]}`, &calls)); err != nil || calls != 1 {
				t.Fatalf("arguments %s: %d upstream calls, %v", args, calls, err)
			}
		}
	}
	if mem.stored() != 0 {
		t.Fatalf("%d entries stored", mem.stored())
	}
	if _, _, ok := cacheKey(&wire.Call{Method: "tools/call", Params: json.RawMessage(lookupCall)}, Policy{}); ok {
		t.Fatal("a session-scoped key without a session id")
	}
}

// Keying untrusted arguments never panics, and spacing alone never changes a key.
func FuzzCacheKey(f *testing.F) {
	for _, s := range []string{`{"n":1}`, `{"n":1.0,"m":[1e400,{"a":"\u00e9"}]}`, `{ "b" : 2 , "a" : 1 }`, `null`, `{"q":"\ud800"}`} {
		f.Add(s)
	}
	p := Policy{Scope: ScopeSession}
	f.Fuzz(func(t *testing.T, args string) {
		call := toolCall("S", `{"name":"t","arguments":`+args+`}`)
		if !json.Valid(call.Params) {
			return // the transport passes only valid JSON
		}
		k, _, ok := cacheKey(call, p)
		if !ok {
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(args)); err != nil {
			t.Fatalf("keyed %q, which is not JSON: %v", args, err)
		}
		k2, _, ok2 := cacheKey(toolCall("S", `{"name":"t","arguments":`+compact.String()+`}`), p)
		if !ok2 || k2 != k {
			t.Fatalf("%q and its compact form %q key differently", args, compact.String())
		}
	})
}
