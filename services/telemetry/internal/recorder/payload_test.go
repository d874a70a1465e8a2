package recorder

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestTruncateAsTheOriginal(t *testing.T) {
	value := func(v any) *structpb.Value {
		s, err := structpb.NewValue(v)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// {"k":"xxx…"} is 8 bytes of JSON around the string.
	at := value(map[string]any{"k": strings.Repeat("x", TruncateOverBytes-8)})
	over := value(map[string]any{"k": strings.Repeat("x", TruncateOverBytes-7)})
	tests := []struct {
		name string
		in   *structpb.Value
		want *structpb.Value
	}{
		{"nil", nil, nil},
		{"small", value(map[string]any{"a": 1, "b": []any{"x", true, nil}}), value(map[string]any{"a": 1, "b": []any{"x", true, nil}})},
		{"exactly 4096 bytes is kept", at, at},
		{"4097 bytes is cut", over, structpb.NewStringValue(`{"k":"` + strings.Repeat("x", TruncateKeepChars-6) + "... [TRUNCATED: 4097 bytes total]")},
		{"HTML characters count once", value(strings.Repeat("<", 5000)), structpb.NewStringValue(`"` + strings.Repeat("<", 2047) + "... [TRUNCATED: 5002 bytes total]")},
		{"a cut never splits a character", value(strings.Repeat("日本", 3000)),
			structpb.NewStringValue(`"` + strings.Repeat("日本", 1023) + "日" + fmt.Sprintf("... [TRUNCATED: %d bytes total]", 2+18000))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Truncate(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tt.want) {
				g := fmt.Sprint(got)
				w := fmt.Sprint(tt.want)
				t.Fatalf("Truncate = …%s (%d bytes), want …%s (%d bytes)", g[len(g)-60:], len(g), w[len(w)-60:], len(w))
			}
		})
	}
}
