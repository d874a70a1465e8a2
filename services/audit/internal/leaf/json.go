package leaf

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
	"google.golang.org/protobuf/types/known/structpb"
)

var errInvalidUTF8 = errors.New("invalid UTF-8")

// appendStruct writes s as a JCS object. An error names the path below s (".key[2]: ...").
func appendStruct(b []byte, s *structpb.Struct) ([]byte, error) {
	fields := s.GetFields()
	var room [16]string // most arguments have few keys: no allocation for them
	keys := room[:0]
	for k := range fields {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareUTF16)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendString(b, k); err != nil {
			return nil, fmt.Errorf(" key %q: %w", k, err)
		}
		b = append(b, ':')
		if b, err = appendValue(b, fields[k]); err != nil {
			return nil, fmt.Errorf(".%s%w", k, err)
		}
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, v *structpb.Value) ([]byte, error) {
	var err error
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		b, err = appendNumber(b, k.NumberValue)
	case *structpb.Value_StringValue:
		b, err = appendString(b, k.StringValue)
	case *structpb.Value_BoolValue:
		b = strconv.AppendBool(b, k.BoolValue)
	case *structpb.Value_StructValue:
		return appendStruct(b, k.StructValue)
	case *structpb.Value_ListValue:
		b = append(b, '[')
		for i, x := range k.ListValue.GetValues() {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, x); err != nil {
				return nil, fmt.Errorf("[%d]%w", i, err)
			}
		}
		b = append(b, ']')
	default: // a null, or a value with no kind, which structpb's AsInterface reads as null too
		b = append(b, "null"...)
	}
	if err != nil {
		return nil, fmt.Errorf(": %w", err)
	}
	return b, nil
}

// appendNumber writes f as ECMAScript's Number.prototype.toString does, as JCS requires.
func appendNumber(b []byte, f float64) ([]byte, error) {
	if f == math.Trunc(f) && math.Abs(f) <= MaxInteger {
		return strconv.AppendInt(b, int64(f), 10), nil // the common case, without allocating; -0 is 0
	}
	s, err := jcs.NumberToJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%v is not a JSON number", f)
	}
	return append(b, s...), nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string escaped as JCS says: '"' and '\' with a backslash,
// \b \f \n \r \t by name, other control characters as \u00xx, everything else (U+2028, '<',
// non-BMP characters) as it is. s must be valid UTF-8.
func appendString(b []byte, s string) ([]byte, error) {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, errInvalidUTF8
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

// compareUTF16 orders strings by their UTF-16 code units, as JCS sorts keys. UTF-8 byte order
// is code point order, which differs only where a character of U+E000..U+FFFF meets one above
// U+FFFF: UTF-16 writes the latter with a surrogate (0xD800..0xDBFF) first, so it sorts first.
func compareUTF16(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	if i == len(a) || i == len(b) {
		return cmp.Compare(len(a), len(b))
	}
	for i > 0 && !utf8.RuneStart(a[i]) {
		i--
	}
	ra, _ := utf8.DecodeRuneInString(a[i:])
	rb, _ := utf8.DecodeRuneInString(b[i:])
	if c := cmp.Compare(firstUnit(ra), firstUnit(rb)); c != 0 {
		return c
	}
	return cmp.Compare(ra, rb) // both above U+FFFF with the same high surrogate
}

func firstUnit(r rune) rune {
	if r > 0xFFFF {
		return 0xD800 + (r-0x10000)>>10
	}
	return r
}
