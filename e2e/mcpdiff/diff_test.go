package mcpdiff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// decode reads a transcript keeping numbers as written (json.Number), so 1 and 1.0 differ.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// differences lists every place two JSON values differ, as "path: direct X / gateway Y".
// Key order is ignored; a key present on one side only, null against absent, false against
// absent, arrays of different lengths (each extra element) and values of different types
// all count.
func differences(direct, gateway any) []string {
	var out []string
	diffAt("", direct, gateway, true, true, &out)
	return out
}

func diffAt(path string, a, b any, hasA, hasB bool, out *[]string) {
	switch {
	case !hasA || !hasB:
		*out = append(*out, fmt.Sprintf("%s: direct %s / gateway %s", orRoot(path), show(a, hasA), show(b, hasB)))
		return
	}
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	if aIsMap && bIsMap {
		keys := make([]string, 0, len(am)+len(bm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			av, okA := am[k]
			bv, okB := bm[k]
			diffAt(path+"."+k, av, bv, okA, okB, out)
		}
		return
	}
	as, aIsSlice := a.([]any)
	bs, bIsSlice := b.([]any)
	if aIsSlice && bIsSlice {
		for i := range max(len(as), len(bs)) {
			var av, bv any
			okA, okB := i < len(as), i < len(bs)
			if okA {
				av = as[i]
			}
			if okB {
				bv = bs[i]
			}
			diffAt(path+index(i, av, bv), av, bv, okA, okB, out)
		}
		return
	}
	if compact(a) != compact(b) {
		*out = append(*out, fmt.Sprintf("%s: direct %s / gateway %s", orRoot(path), show(a, true), show(b, true)))
	}
}

// index names an array element; an op (an object with a "name") also by its name, so a
// difference says which call it is in.
func index(i int, a, b any) string {
	for _, v := range []any{a, b} {
		if m, ok := v.(map[string]any); ok {
			if name, ok := m["name"].(string); ok {
				if _, isOp := m["received"]; isOp || strings.HasPrefix(name, "(") {
					return fmt.Sprintf("[%d %s]", i, name)
				}
			}
		}
	}
	return fmt.Sprintf("[%d]", i)
}

func orRoot(path string) string {
	if path == "" {
		return "(the whole transcript)"
	}
	return strings.TrimPrefix(path, ".")
}

// maxShown bounds how much of one value a difference prints.
const maxShown = 300

func show(v any, present bool) string {
	if !present {
		return "absent"
	}
	s := compact(v)
	if len(s) > maxShown {
		s = s[:maxShown] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}

// compact is v as compact JSON; maps are written with sorted keys, so equal values are equal
// strings.
func compact(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
