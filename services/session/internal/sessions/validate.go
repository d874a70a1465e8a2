package sessions

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/services/session/internal/chatstate"
)

// Limits on request fields. Each is documented in the README and tested.
const (
	MaxIDBytes         = 128      // session ids: visible ASCII
	MaxKeyBytes        = 256      // value keys (RESOURCE_EXHAUSTED beyond)
	MaxLabels          = 64       // labels per session
	MaxLabelKeyBytes   = 128      // label keys
	MaxLabelValueBytes = 1024     // label values
	MaxErrorTypeBytes  = 256      // CloseSession error_type
	MaxErrorMsgBytes   = 64 << 10 // CloseSession error_message
	MaxValueDepth      = 64       // nesting of structs and lists in a value
	MinTTL             = time.Second
)

// checkID accepts 1 to 128 visible ASCII characters (0x21-0x7e). That covers the original
// formats (YYYYmmdd_HHMMSS_<hex>, chat_<unix>, connections_<unix_ms>, ephemeral_<cmd>_<unix>)
// and anything else a caller may name a session, while keeping ids printable and free of
// spaces and control characters in logs and URLs.
func checkID(field, id string) error {
	if id == "" {
		return apierr.Invalid("%s is required", field)
	}
	if len(id) > MaxIDBytes {
		return apierr.Invalid("%s is %d bytes; a session id is 1 to %d visible ASCII characters", field, len(id), MaxIDBytes)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return apierr.Invalid("%s has byte 0x%02x at offset %d; a session id is 1 to %d visible ASCII characters (0x21-0x7e)", field, c, i, MaxIDBytes)
		}
	}
	return nil
}

// newID is the original default format, YYYYmmdd_HHMMSS_<hex>, with 128 bits from crypto/rand
// instead of 32, so that an id cannot be guessed from another. Ids of different seconds sort
// by creation time, which keeps ListSessions roughly chronological.
func newID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand.Read aborts the program instead)
	return now.UTC().Format("20060102_150405") + "_" + hex.EncodeToString(b[:])
}

func checkKey(key string) error {
	if key == "" {
		return apierr.Invalid("key is required")
	}
	if len(key) > MaxKeyBytes {
		return apierr.Exhausted("key is %d bytes, over the limit of %d", len(key), MaxKeyBytes)
	}
	return checkControls("key", key, true)
}

// checkControls refuses NUL anywhere (C readers and terminals cut a string there) and, in
// names (keys, label keys, error types), every control character: a name is shown in logs,
// terminals and REST paths, where a newline or escape forges lines.
func checkControls(field, v string, isName bool) error {
	for i, r := range v {
		if r == 0 || isName && unicode.IsControl(r) {
			return apierr.Invalid("%s has control character %U at byte %d", field, r, i)
		}
	}
	return nil
}

// checkValue refuses what cannot round-trip: a Value without a kind (protobuf JSON cannot
// encode it), NaN and infinities (JSON has no literal for them), and nesting deeper than
// MaxValueDepth. Everything else is stored and returned exactly as sent.
func checkValue(v *structpb.Value, maxBytes int) error {
	if v == nil {
		return apierr.Invalid("value is required (send null_value for null)")
	}
	if n := proto.Size(v); n > maxBytes {
		return apierr.Exhausted("value is %d bytes, over the limit of %d", n, maxBytes)
	}
	return checkKind("value", v, 1)
}

func checkKind(path string, v *structpb.Value, depth int) error {
	if depth > MaxValueDepth {
		return apierr.Invalid("%s is nested deeper than %d levels", path, MaxValueDepth)
	}
	switch k := v.GetKind().(type) {
	case nil:
		return apierr.Invalid("%s has no kind (send null_value for null)", path)
	case *structpb.Value_NumberValue:
		if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
			return apierr.Invalid("%s is %v; only finite numbers are allowed", path, k.NumberValue)
		}
	case *structpb.Value_StructValue:
		for name, f := range k.StructValue.GetFields() {
			if err := checkKind(path+"."+name, f, depth+1); err != nil {
				return err
			}
		}
	case *structpb.Value_ListValue:
		for i, item := range k.ListValue.GetValues() {
			if err := checkKind(fmt.Sprintf("%s[%d]", path, i), item, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return apierr.Invalid("labels has %d entries, over the limit of %d", len(labels), MaxLabels)
	}
	for k, v := range labels {
		if k == "" || len(k) > MaxLabelKeyBytes {
			return apierr.Invalid("label key %q must be 1 to %d bytes", k, MaxLabelKeyBytes)
		}
		if len(v) > MaxLabelValueBytes {
			return apierr.Invalid("label %q has a value of %d bytes, over the limit of %d", k, len(v), MaxLabelValueBytes)
		}
		if err := checkControls("label key "+strconv.Quote(k), k, true); err != nil {
			return err
		}
		if err := checkControls("label "+strconv.Quote(k), v, false); err != nil {
			return err
		}
	}
	return nil
}

// ttl turns an optional request duration into a TTL: def when unset, else between MinTTL and
// limit.
func ttl(field string, d *durationpb.Duration, def, limit time.Duration) (time.Duration, error) {
	if d == nil {
		return def, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, apierr.Invalid("%s: %v", field, err)
	}
	v := d.AsDuration()
	if v < MinTTL {
		return 0, apierr.Invalid("%s is %s; it must be at least %s", field, v, MinTTL)
	}
	if v > limit {
		return 0, apierr.Invalid("%s is %s, over the limit of %s", field, v, limit)
	}
	return v, nil
}

func checkState(field string, s chatstate.State, optional bool) error {
	if optional && s == 0 {
		return nil
	}
	if s == 0 {
		return apierr.Invalid("%s is required", field)
	}
	if !chatstate.Known(s) {
		return apierr.Invalid("%s %d is not a known chat state", field, int32(s))
	}
	return nil
}

func checkExpectedVersion(v int64) error {
	if v < -1 {
		return apierr.Invalid("expected_version %d is invalid: use 0 (no check), -1 (must not exist) or a version", v)
	}
	return nil
}

// pageSize applies the page size rules shared by the list calls.
func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, apierr.Invalid("page_size must not be negative, got %d", n)
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return MaxPageSize, nil
	}
	return int(n), nil
}
