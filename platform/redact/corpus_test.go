package redact

import (
	"testing"

	"github.com/osirisplane/osiris/platform/redact/redacttest"
)

// TestCorpus redacts every class of secret as people paste it, through every entry point
// (String; a string or a list under a plain key, through Map and Struct; a list through
// Value), and finds no piece of any secret in the result.
func TestCorpus(t *testing.T) {
	for _, mask := range []string{AuditMask, SessionMask} {
		r := New(mask)
		for _, c := range redacttest.Corpus() {
			t.Run(mask+"/"+c.Class, func(t *testing.T) {
				elems := make([]any, len(c.Strings()))
				for i, s := range c.Strings() {
					elems[i] = s
				}
				tree := map[string]any{"args": elems}
				var outs []string
				if c.List == nil {
					tree["note"] = c.Text
					outs = append(outs, r.String(c.Text))
				}
				outs = append(outs, flatten(r.Map(tree))...)
				outs = append(outs, flatten(r.Struct(mustStruct(t, tree)).AsMap())...)
				outs = append(outs, flatten(r.Value(mustValue(t, elems)).AsInterface())...)
				for _, out := range outs {
					for _, s := range c.Secrets {
						if leaked := redacttest.Leaks([]byte(out), s); leaked != nil {
							t.Errorf("%q of secret %q survived in\n%s", leaked, s, out)
						}
					}
				}
				if c.List == nil {
					once := r.String(c.Text)
					if twice := r.String(once); twice != once {
						t.Errorf("String() is not idempotent:\nonce  %q\ntwice %q", once, twice)
					}
				}
			})
		}
	}
}

// TestOrdinaryTextSurvives holds redaction to ordinary text that only looks like a secret
// at a glance: it must come back unchanged, alone, in a list and under a plain key.
func TestOrdinaryTextSurvives(t *testing.T) {
	r := New(AuditMask)
	for _, s := range redacttest.Ordinary() {
		if got := r.String(s); got != s {
			t.Errorf("String(%q) = %q, want it unchanged", s, got)
		}
		tree := map[string]any{"note": s, "args": []any{"run", s}}
		got := r.Map(tree)
		if got["note"] != s || got["args"].([]any)[1] != s {
			t.Errorf("Map() changed %q: %#v", s, got)
		}
		st := r.Struct(mustStruct(t, tree))
		if st.Fields["note"].GetStringValue() != s || st.Fields["args"].GetListValue().GetValues()[1].GetStringValue() != s {
			t.Errorf("Struct() changed %q: %v", s, st)
		}
	}
}

// flatten lists the strings of a JSON-like tree.
func flatten(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			out = append(out, flatten(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range t {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return nil
}
