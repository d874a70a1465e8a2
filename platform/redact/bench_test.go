package redact

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// benchEvent is what one audited call stores: its arguments and its free-text fields.
type benchEvent struct {
	args              *structpb.Struct
	errorMessage, uri string
	errorCode         string
}

// typicalEvent is an ordinary tool call: ten argument fields, mostly short plain strings,
// one password by key, a list, a nested map, an error and a resource URI.
func typicalEvent(b *testing.B) benchEvent {
	return benchEvent{
		args: mustStruct(b, map[string]any{
			"connection": "@mysql.main",
			"component":  "mysql.extractor",
			"samples":    10.0,
			"password":   "hunter2",
			"tables":     []any{"customers", "orders", "order_items"},
			"query":      "SELECT id, name, created_at FROM customers WHERE region = 'EU' LIMIT 100",
			"options":    map[string]any{"timeout_ms": 5000.0, "dry_run": false, "format": "parquet"},
			"output":     "/var/lib/osiris/runs/20261130_040512/output.parquet",
			"request_id": "3f2b9c1e-8d4a-4b6e-9f1a-2c7d5e8b0a13",
			"note":       "nightly sync of the EU customer tables",
		}),
		errorMessage: "connection to db.internal:3306 timed out after 5s",
		uri:          "osiris://mcp/discovery/disc_d1690eb498c38098/overview.json",
		errorCode:    "timeout",
	}
}

// secretEvent is a call whose arguments are full of pasted credentials.
func secretEvent(b *testing.B) benchEvent {
	pem := "-----BEGIN RSA PRIVATE KEY-----\n" +
		"MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM4ZtR7q+Jm/mzl4u3vF8pW1aXk9Qe\n" +
		"Yx7Lw2B+4cN0mZr/ZtJ3hK8gQ1uV5nE6sR7pT2yW9oA4dF3jG8kL1zX5cV0bN2mq\n" +
		"-----END RSA PRIVATE KEY-----\n"
	return benchEvent{
		args: mustStruct(b, map[string]any{
			"connection": "postgres://app:s3cr3t-Pa55@db.internal:5432/app",
			"headers":    map[string]any{"Accept": "application/json", "X-Trace": "Authorization: Bearer " + jwtToken},
			"argv":       []any{"deploy", "--password=hunter2", "--token", ghToken, "--verbose"},
			"config":     "db:\n  user: app\n  password: hunter2\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
			"key_file":   pem,
			"webhook":    "https://api.example.com/v1/items?access_token=" + mixedKey + "&page=2",
			"slack":      "posted with " + slackToken,
			"aws":        "uploaded with " + awsKeyID,
			"samples":    10.0,
			"note":       "retry with the new credentials",
		}),
		errorMessage: "dial postgres://app:s3cr3t@db:5432/app: password authentication failed for user app",
		uri:          "https://storage.example.com/bucket/file.csv?api_key=" + mixedKey,
		errorCode:    "auth_failed",
	}
}

func benchmarkEvent(b *testing.B, e benchEvent) {
	r := New(AuditMask)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Struct(e.args)
		_ = r.String(e.errorMessage)
		_ = r.String(e.uri)
		_ = r.String(e.errorCode)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

// BenchmarkRedactTypicalEvent is the cost redaction adds to an ordinary audited call.
func BenchmarkRedactTypicalEvent(b *testing.B) { benchmarkEvent(b, typicalEvent(b)) }

// BenchmarkRedactSecretEvent is the cost for a call whose arguments are full of secrets.
func BenchmarkRedactSecretEvent(b *testing.B) { benchmarkEvent(b, secretEvent(b)) }

// plainStrings are values of an ordinary call, none holding a secret.
var plainStrings = []string{
	"quarterly revenue by region for the EMEA accounts with churn risk above threshold, excluding test tenants, FY2026 Q3",
	"@mysql.main", "table", "search", "connection to db.internal:3306 timed out after 5s",
	"osiris://mcp/discovery/disc_d1690eb498c38098/overview.json", "",
}

// BenchmarkPrefilter is the cost of asking every pattern whether it could match, for plain
// strings (where every answer is no), with the bitmap of byte pairs (pattern.maybe) and, in
// the same run, as it was asked before: a scan of the text per literal.
func BenchmarkPrefilter(b *testing.B) {
	r := New(AuditMask)
	scanEach := func(p *pattern, s string) bool {
		if len(s) < p.minLen || p.anyByte != "" && !strings.ContainsAny(s, p.anyByte) {
			return false
		}
		if len(p.lits) == 0 {
			return true
		}
		for _, l := range p.lits {
			if l.fold && indexFold(s, l.word) || !l.fold && strings.Contains(s, l.word) {
				return true
			}
		}
		return false
	}
	pairs := func() (n int) {
		for _, s := range plainStrings {
			t := subject{s: s}
			for i := range r.patterns {
				if r.patterns[i].maybe(&t) {
					n++
				}
			}
		}
		return n
	}
	scans := func() (n int) {
		for _, s := range plainStrings {
			for i := range r.patterns {
				if scanEach(&r.patterns[i], s) {
					n++
				}
			}
		}
		return n
	}
	if p, s := pairs(), scans(); p != s {
		b.Fatalf("the bitmap passes %d patterns, the scans %d", p, s)
	}
	per := func(f func() int) time.Duration {
		const n = 2000
		start := time.Now()
		for range n {
			f()
		}
		return time.Since(start) / time.Duration(n*len(plainStrings))
	}
	var withPairs, withScans []time.Duration
	for b.Loop() {
		withPairs = append(withPairs, per(pairs))
		withScans = append(withScans, per(scans))
	}
	p, s := median(withPairs), median(withScans)
	b.ReportMetric(float64(p.Nanoseconds()), "ns/string")
	b.ReportMetric(float64(s.Nanoseconds()), "scans-ns/string")
	b.ReportMetric(float64(s)/float64(p), "scans/pairs")
	b.ReportMetric(0, "ns/op")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
