package wire

import (
	"encoding/json"
	"testing"
)

func TestSetMemberKeepsEveryOtherByte(t *testing.T) {
	for _, tc := range []struct{ in, key, value, want string }{
		{`{}`, "a", `1`, `{"a":1}`},
		{``, "a", `1`, `{"a":1}`},
		{`null`, "a", `1`, `{"a":1}`},
		{` { } `, "a", `1`, ` { "a":1} `},
		{`{"z":null,"b":false}`, "a", `"x"`, `{"z":null,"b":false,"a":"x"}`},
		{`{"z":null, "a" : [1,{"}":"]"}], "b":false }`, "a", `2`, `{"z":null, "a" : 2, "b":false }`},
		{`{"s":"a\"b\\","n":-1.5e3}`, "n", `0`, `{"s":"a\"b\\","n":0}`},
		{`{"\u0061":1}`, "a", `2`, `{"\u0061":2}`},
	} {
		got, err := SetMember([]byte(tc.in), tc.key, []byte(tc.value))
		if err != nil || string(got) != tc.want {
			t.Errorf("SetMember(%s, %q, %s) = %s, %v; want %s", tc.in, tc.key, tc.value, got, err, tc.want)
		}
	}
}

func TestDeleteMember(t *testing.T) {
	for _, tc := range []struct{ in, key, want string }{
		{`{"a":1}`, "a", `{}`},
		{`{"a":1,"b":2}`, "a", `{"b":2}`},
		{`{"a":1,"b":2}`, "b", `{"a":1}`},
		{`{"a":1, "b":{"x":[]}, "c":3}`, "b", `{"a":1, "c":3}`},
		{`{"a":1}`, "zz", `{"a":1}`},
	} {
		got, err := DeleteMember([]byte(tc.in), tc.key)
		if err != nil || string(got) != tc.want {
			t.Errorf("DeleteMember(%s, %q) = %s, %v; want %s", tc.in, tc.key, got, err, tc.want)
		}
	}
}

func TestSetMetaSplicesIntoMeta(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"name":"t"}`, `{"name":"t","_meta":{"k":"v"}}`},
		{`{"_meta":null,"name":"t"}`, `{"_meta":{"k":"v"},"name":"t"}`},
		{`{"_meta":{"progressToken":12345678901234567890},"name":"t"}`, `{"_meta":{"progressToken":12345678901234567890,"k":"v"},"name":"t"}`},
		{`{"_meta":{"k":1}}`, `{"_meta":{"k":"v"}}`},
	} {
		got, err := SetMeta([]byte(tc.in), "k", "v")
		if err != nil || string(got) != tc.want {
			t.Errorf("SetMeta(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
		if !json.Valid(got) {
			t.Errorf("SetMeta(%s) is not valid JSON: %s", tc.in, got)
		}
	}
}

func TestSpliceRefusesWhatIsNotAnObject(t *testing.T) {
	for _, in := range []string{`[]`, `1`, `"x"`, `{"a"}`, `{"a":1`, `{"a":"1}`, `{1:2}`} {
		if _, err := SetMember([]byte(in), "k", []byte("1")); err == nil {
			t.Errorf("SetMember(%s) succeeded", in)
		}
	}
}

func TestMemberAndCallFields(t *testing.T) {
	c := &Call{Method: "tools/call", Params: json.RawMessage(`{"name":"echo","_meta":{"progressToken":"p1"},"arguments":null}`)}
	if c.Name() != "echo" || string(c.ProgressToken()) != `"p1"` || string(c.Arguments()) != "null" {
		t.Fatalf("fields: %q %s %s", c.Name(), c.ProgressToken(), c.Arguments())
	}
	if err := c.SetMeta("correlation_id", "c1"); err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"echo","_meta":{"progressToken":"p1","correlation_id":"c1"},"arguments":null}`; string(c.Params) != want {
		t.Fatalf("params %s, want %s", c.Params, want)
	}
	absent := &Call{Method: "tools/call", Params: json.RawMessage(`{"name":"x"}`)}
	if absent.Arguments() != nil {
		t.Fatalf("absent arguments read as %s", absent.Arguments())
	}
}

func TestReplyErrorTextAndWithMeta(t *testing.T) {
	r := &Reply{Result: json.RawMessage(`{"content":[{"type":"text","text":"boom"},{"type":"image","data":"x"},{"type":"text","text":"twice"}],"isError":true}`)}
	if !r.IsError() || r.ErrorText() != "boom\ntwice" {
		t.Fatalf("IsError %v, ErrorText %q", r.IsError(), r.ErrorText())
	}
	m, err := r.WithMeta("cached", true)
	if err != nil || string(r.Result) == string(m.Result) {
		t.Fatalf("WithMeta changed the original or failed: %v", err)
	}
	ok := &Reply{Result: json.RawMessage(`{"content":[],"isError":false}`)}
	if ok.IsError() || ok.ErrorText() != "" {
		t.Fatal("isError false read as an error")
	}
}
