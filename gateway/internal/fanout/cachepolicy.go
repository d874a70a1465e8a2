package fanout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Policy says how one tool's results are cached. Only tools a policy names are ever cached:
// a readOnlyHint or idempotentHint alone is the upstream's word, not the operator's.
type Policy struct {
	// TTL is how long a result is served from the cache.
	TTL time.Duration
	// Key names the arguments that form the cache key, besides the tool name. Arguments not
	// named do not change the key; an empty list means all arguments.
	Key []string
	// Tags are templates such as "connection:{connection}": each {name} is replaced by that
	// argument's value, so InvalidateByTag("connection:@mysql.main") drops the entries.
	Tags []string
	// Scope is whose calls share entries: each agent session its own (the default), each
	// principal its own, or every caller.
	Scope Scope
}

// Scope is whose calls share cached results. Its value (the session id, the principal, or
// nothing) is part of every cache key, so no agent is served another's result unless the
// operator named a wider scope.
type Scope string

// The scopes a policy may name.
const (
	ScopeSession   Scope = "session"
	ScopePrincipal Scope = "principal"
	ScopeGlobal    Scope = "global"
)

// policyJSON is a policy as written in the config file.
type policyJSON struct {
	TTL   string   `json:"ttl"`
	Key   []string `json:"key"`
	Tags  []string `json:"tags"`
	Scope string   `json:"scope"`
}

// Limits on policies.
const (
	maxPolicyTTL = 30 * 24 * time.Hour
	maxKeyArgs   = 32
	maxTags      = 16
)

// ParsePolicies reads {"tool": {"ttl": "24h", "key": [...], "tags": [...], "scope": "session"},
// ...} strictly: unknown fields, bad durations, malformed tag templates and unknown scopes are
// errors naming the tool.
func ParsePolicies(raw json.RawMessage) (map[string]Policy, error) {
	var in map[string]policyJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("cache policies: %w", err)
	}
	out := make(map[string]Policy, len(in))
	for tool, p := range in {
		ttl, err := time.ParseDuration(p.TTL)
		if err != nil || ttl <= 0 || ttl > maxPolicyTTL {
			return nil, fmt.Errorf("cache policy %q: ttl %q must be a duration between 1s and %s", tool, p.TTL, maxPolicyTTL)
		}
		if len(p.Key) > maxKeyArgs || len(p.Tags) > maxTags {
			return nil, fmt.Errorf("cache policy %q: at most %d key arguments and %d tags", tool, maxKeyArgs, maxTags)
		}
		for _, tag := range p.Tags {
			if err := checkTemplate(tag); err != nil {
				return nil, fmt.Errorf("cache policy %q: tag %q: %w", tool, tag, err)
			}
		}
		scope := Scope(p.Scope)
		switch scope {
		case "":
			scope = ScopeSession
		case ScopeSession, ScopePrincipal, ScopeGlobal:
		default:
			return nil, fmt.Errorf("cache policy %q: scope %q must be %q (the default), %q or %q", tool, p.Scope, ScopeSession, ScopePrincipal, ScopeGlobal)
		}
		out[tool] = Policy{TTL: ttl, Key: p.Key, Tags: p.Tags, Scope: scope}
	}
	return out, nil
}

func placeholders() *regexp.Regexp { return regexp.MustCompile(`\{([A-Za-z0-9_.-]+)\}`) }

func checkTemplate(t string) error {
	rest := placeholders().ReplaceAllString(t, "")
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("unbalanced braces or an empty {name}")
	}
	if t == "" || len(t) > 256 {
		return fmt.Errorf("must be 1 to 256 bytes")
	}
	return nil
}

// tags fills the policy's templates from args; a template naming a missing argument is left
// out (the entry is then not findable by that tag, which is what the caller asked for).
func (p Policy) tags(args map[string]any) []string {
	re := placeholders()
	var out []string
	for _, t := range p.Tags {
		missing := false
		tag := re.ReplaceAllStringFunc(t, func(m string) string {
			v, ok := args[m[1:len(m)-1]]
			if !ok {
				missing = true
				return ""
			}
			if s, ok := v.(string); ok {
				return s
			}
			b, _ := json.Marshal(v)
			return string(b)
		})
		if !missing {
			out = append(out, tag)
		}
	}
	return out
}
