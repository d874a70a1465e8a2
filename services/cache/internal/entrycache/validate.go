package entrycache

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/osirisplane/osiris/platform/apierr"
)

// Fixed limits on requests. Each is tested; the sizes that depend on deployment (value,
// entries, bytes, TTL) are flags instead (Config).
const (
	// MaxNamespaceBytes bounds a namespace, which is also a simple identifier [a-z0-9_.-].
	MaxNamespaceBytes = 64
	// MaxKeyBytes bounds a key.
	MaxKeyBytes = 1024
	// MaxTags bounds the tags of one entry; each tag costs an index key.
	MaxTags = 32
	// MaxTagBytes bounds one tag ("connection:" plus a connection id fits easily).
	MaxTagBytes = 256
)

// Defaults of the deployment-dependent limits.
const (
	DefaultMaxValueBytes   = 16 << 20 // the original's payload limit
	DefaultMaxEntries      = 100_000
	DefaultMaxBytes        = 1 << 30
	DefaultMaxPendingBytes = 256 << 20
	DefaultTTL             = 24 * time.Hour // the original's OSIRIS_MCP_CACHE_TTL_HOURS default
	DefaultMaxTTL          = 30 * 24 * time.Hour
	DefaultExpiryInterval  = 30 * time.Second
)

func validateID(id ID) error {
	if err := validateNamespace(id.Namespace); err != nil {
		return err
	}
	return validateText("key", id.Key, MaxKeyBytes)
}

func validateNamespace(ns string) error {
	if ns == "" {
		return apierr.Invalid("namespace is required")
	}
	if len(ns) > MaxNamespaceBytes {
		return apierr.Invalid("namespace is %d bytes, over the limit of %d", len(ns), MaxNamespaceBytes)
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return apierr.Invalid("namespace %q has %q at byte %d; use only a-z, 0-9, '_', '.' and '-'", ns, c, i)
		}
	}
	return nil
}

// validateText checks a key or tag: present, bounded, UTF-8, no control characters (they
// make keys unprintable in logs and unusable in REST paths).
func validateText(name, v string, limit int) error {
	if v == "" {
		return apierr.Invalid("%s is required", name)
	}
	if len(v) > limit {
		return apierr.Invalid("%s is %d bytes, over the limit of %d", name, len(v), limit)
	}
	if !utf8.ValidString(v) {
		return apierr.Invalid("%s is not valid UTF-8", name)
	}
	for i, r := range v {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return apierr.Invalid("%s has control character %U at byte %d", name, r, i)
		}
	}
	return nil
}

func validateTags(tags []string) error {
	if len(tags) > MaxTags {
		return apierr.Invalid("%d tags, over the limit of %d", len(tags), MaxTags)
	}
	seen := make(map[string]int, len(tags))
	for i, t := range tags {
		if err := validateText("tags["+strconv.Itoa(i)+"]", t, MaxTagBytes); err != nil {
			return err
		}
		if j, dup := seen[t]; dup {
			return apierr.Invalid("tags[%d] repeats tags[%d] (%q)", i, j, t)
		}
		seen[t] = i
	}
	return nil
}

// ttlOf applies the default and the bound to a requested TTL (0 = default).
func (c *Cache) ttlOf(ttl time.Duration) (time.Duration, error) {
	switch {
	case ttl == 0:
		return c.cfg.DefaultTTL, nil
	case ttl < 0:
		return 0, apierr.Invalid("ttl must be positive, got %v", ttl)
	case ttl > c.cfg.MaxTTL:
		return 0, apierr.Invalid("ttl %v is over the limit of %v", ttl, c.cfg.MaxTTL)
	}
	return ttl, nil
}
