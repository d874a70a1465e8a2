// Package discovery computes the identifiers the original Osiris gives a discovery run
// (osiris/core/identifiers.py), so entries cached by this service are found under the ids
// Osiris clients already use.
package discovery

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"unicode/utf8"

	"github.com/osirisplane/osiris/platform/apierr"
)

// Limits on the inputs; each is tested.
const (
	MaxIDBytes = 256 // connection_id, component_id, idempotency_key
	MaxSamples = 100 // the original discovery_request tool accepts 0 to 100 samples
)

// Request names one discovery.
type Request struct {
	ConnectionID   string // "@mysql.main"
	ComponentID    string // "mysql.extractor"
	Samples        int32
	IdempotencyKey string // optional
}

// IDs are the two identifiers of a discovery.
type IDs struct {
	// DiscoveryID is "disc_" + the first 16 hex digits of sha256("<conn>|<comp>|<samples>").
	DiscoveryID string
	// CacheKey is "cache_" + the first 16 hex digits of
	// sha256("<conn>|<comp>|<samples>|<idempotency key, or empty>").
	CacheKey string
}

// Compute validates r and returns its identifiers.
func Compute(r Request) (IDs, error) {
	for _, f := range []struct {
		name, v  string
		required bool
	}{
		{"connection_id", r.ConnectionID, true},
		{"component_id", r.ComponentID, true},
		{"idempotency_key", r.IdempotencyKey, false},
	} {
		switch {
		case f.required && f.v == "":
			return IDs{}, apierr.Invalid("%s is required", f.name)
		case len(f.v) > MaxIDBytes:
			return IDs{}, apierr.Invalid("%s is %d bytes, over the limit of %d", f.name, len(f.v), MaxIDBytes)
		case !utf8.ValidString(f.v):
			return IDs{}, apierr.Invalid("%s is not valid UTF-8", f.name)
		}
	}
	if r.Samples < 0 || r.Samples > MaxSamples {
		return IDs{}, apierr.Invalid("samples must be between 0 and %d, got %d", MaxSamples, r.Samples)
	}
	base := r.ConnectionID + "|" + r.ComponentID + "|" + strconv.Itoa(int(r.Samples))
	return IDs{
		DiscoveryID: "disc_" + digest16(base),
		CacheKey:    "cache_" + digest16(base+"|"+r.IdempotencyKey),
	}, nil
}

func digest16(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
