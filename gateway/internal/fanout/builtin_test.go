package fanout

import (
	"encoding/json"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
)

// Every built-in tool's input schema is a valid JSON Schema object schema (a null
// "properties" once broke tools/list for conformance clients).
func TestBuiltinSchemasAreValid(t *testing.T) {
	tools := (&Builtins{}).tools()
	if len(tools) != len(builtinOrder()) {
		t.Fatalf("%d tools, %d listed", len(tools), len(builtinOrder()))
	}
	for _, name := range builtinOrder() {
		b, ok := tools[BuiltinPrefix+name]
		if !ok {
			t.Fatalf("%s listed but not defined", name)
		}
		raw, err := json.Marshal(b.tool.InputSchema)
		if err != nil {
			t.Fatal(err)
		}
		var s jsonschema.Schema
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("%s: %s is not a schema: %v", name, raw, err)
		}
		if s.Type != "object" {
			t.Fatalf("%s: schema type %q, want object", name, s.Type)
		}
		if _, err := s.Resolve(nil); err != nil {
			t.Fatalf("%s: %s does not resolve: %v", name, raw, err)
		}
		var m map[string]any
		json.Unmarshal(raw, &m)
		if v, present := m["properties"]; present && v == nil {
			t.Fatalf("%s: properties is null", name)
		}
	}
}
