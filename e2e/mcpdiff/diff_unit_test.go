package mcpdiff

import (
	"slices"
	"testing"
)

func mustDecode(t *testing.T, s string) any {
	t.Helper()
	v, err := decode([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

// The differ is what makes the differential test worth anything: each kind of difference the
// issue names must be found, every one of them (not only the first), with its path.
func TestDifferencesFindsEveryKind(t *testing.T) {
	for _, c := range []struct {
		name, direct, gateway string
		want                  []string
	}{
		{"equal, keys in another order", `{"a":1,"b":[true,{"c":null}]}`, `{"b":[true,{"c":null}],"a":1}`, nil},
		{"null against absent", `{"arguments":null}`, `{}`,
			[]string{`arguments: direct null / gateway absent`}},
		{"false against absent", `{"x":{}}`, `{"x":{"hasMore":false}}`,
			[]string{`x.hasMore: direct absent / gateway false`}},
		{"extra and missing keys, all listed", `{"a":1,"b":2}`, `{"b":2,"c":3,"d":{"e":4}}`,
			[]string{`a: direct 1 / gateway absent`, `c: direct absent / gateway 3`, `d: direct absent / gateway {"e":4}`}},
		{"array lengths", `{"l":[1,2,3]}`, `{"l":[1]}`,
			[]string{`l[1]: direct 2 / gateway absent`, `l[2]: direct 3 / gateway absent`}},
		{"numbers as written, and types", `{"n":1,"s":"1","m":1.5}`, `{"n":1.0,"s":1,"m":1.5}`,
			[]string{`n: direct 1 / gateway 1.0`, `s: direct "1" / gateway 1`}},
		{"ops named in the path", `{"ops":[{"name":"tools/call echo","received":[],"response":{"result":{"content":[{"text":"x"}]}}}]}`,
			`{"ops":[{"name":"tools/call echo","received":[],"response":{"result":{"content":[{"text":"y"}]}}}]}`,
			[]string{`ops[0 tools/call echo].response.result.content[0].text: direct "x" / gateway "y"`}},
		{"different roots", `[1]`, `{"a":1}`, []string{`(the whole transcript): direct [1] / gateway {"a":1}`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := differences(mustDecode(t, c.direct), mustDecode(t, c.gateway))
			if !slices.Equal(got, c.want) {
				t.Errorf("differences:\n got  %q\n want %q", got, c.want)
			}
		})
	}
}

// Normalisation removes only the gateway's documented _meta keys and what is random by
// nature, the same way on both sides, and leaves every real difference visible.
func TestNormaliseRemovesOnlyWhatItNames(t *testing.T) {
	direct := mustDecode(t, `{"ops":[
		{"name":"a","received":[{"jsonrpc":"2.0","id":0,"method":"roots/list"}],"replies":[{"jsonrpc":"2.0","id":0,"result":{}}],
		 "response":{"result":{"content":[{"text":"session 0b5e0f4c-9d1a-4b7e-8f00-123456789abc at 6:03:22 AM"}]}}},
		{"name":"b","received":[],"response":{"result":{"_meta":{},"tasks":[{"taskId":"968e54","createdAt":"2026-11-30T06:03:18.644Z"}]}}},
		{"name":"c","received":[],"response":{"result":{"contents":[{"blob":"UmVzb3VyY2UgMjogY3JlYXRlZCBhdCA2OjAzOjIyIEFN"},{"blob":"AAEC"}]}}}],
		"outside":[{"after":0,"message":{"method":"notifications/message","params":{"level":"alert","data":"Alert level-message"}}}]}`)
	gateway := mustDecode(t, `{"ops":[
		{"name":"a","received":[{"jsonrpc":"2.0","id":7,"method":"roots/list"}],"replies":[{"jsonrpc":"2.0","id":7,"result":{}}],
		 "response":{"result":{"_meta":{"correlation_id":"c1","osiris/audit":{"started":{"seq":1,"leaf_hash":"ab"}},"cached":true},"content":[{"text":"session 11111111-2222-4333-8444-555555555555 at 11:59:01 PM"}]}}},
		{"name":"b","received":[],"response":{"result":{"tasks":[{"taskId":"aa11","createdAt":"2026-11-30T07:00:00Z"}]}}},
		{"name":"c","received":[],"response":{"result":{"contents":[{"blob":"UmVzb3VyY2UgMjogY3JlYXRlZCBhdCA3OjAwOjAxIFBN"},{"blob":"AAED"}]}}}],
		"outside":[{"after":0,"message":{"method":"notifications/message","params":{"level":"debug","data":"Debug-level message"}}}]}`)
	got := differences(normalise(direct), normalise(gateway))
	want := []string{
		// An empty _meta the upstream sent is not the gateway's: dropping it shows.
		`ops[1 b].response.result._meta: direct {} / gateway absent`,
		// A blob that is not text with a time in it is compared as it is.
		`ops[2 c].response.result.contents[1].blob: direct "AAEC" / gateway "AAED"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("differences after normalising:\n got  %q\n want %q", got, want)
	}
	// The gateway's keys are removed only from _meta, and a _meta with other keys stays.
	kept := normalise(mustDecode(t, `{"_meta":{"correlation_id":"c","progressToken":1},"correlation_id":"x"}`))
	if d := differences(kept, mustDecode(t, `{"_meta":{"progressToken":1},"correlation_id":"x"}`)); d != nil {
		t.Errorf("normalised _meta: %q", d)
	}
}

// A server request missing from one op leaves the numbering of the others alone.
func TestServerRequestsAreNumberedWithinEachOp(t *testing.T) {
	direct := mustDecode(t, `{"ops":[
		{"name":"a","received":[{"id":0,"method":"roots/list"}],"replies":[{"id":0,"result":{}}]},
		{"name":"b","received":[{"id":1,"method":"sampling/createMessage"}],"replies":[{"id":1,"result":{}}]}]}`)
	gateway := mustDecode(t, `{"ops":[
		{"name":"a","received":[],"replies":[]},
		{"name":"b","received":[{"id":"g-9","method":"sampling/createMessage"}],"replies":[{"id":"g-9","result":{}}]}]}`)
	got := differences(normalise(direct), normalise(gateway))
	want := []string{
		`ops[0 a].received[0]: direct {"id":"<server request 1>","method":"roots/list"} / gateway absent`,
		`ops[0 a].replies[0]: direct {"id":"<server request 1>","result":{}} / gateway absent`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("differences:\n got  %q\n want %q", got, want)
	}
}

// A reference run that failed is refused before comparing.
func TestDirectProblemsRefusesABrokenReferenceRun(t *testing.T) {
	broken := mustDecode(t, `{"ops":[{"name":"initialize","clientError":"spawn node ENOENT"}]}`)
	if got := directProblems(broken); len(got) != 2 {
		t.Errorf("directProblems = %q, want the short run and the client error", got)
	}
}
