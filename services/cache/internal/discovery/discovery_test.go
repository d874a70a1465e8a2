package discovery

import (
	"errors"
	"strings"
	"testing"

	"github.com/osirisplane/osiris/platform/apierr"
)

// The vectors of the original Osiris identifiers (reference: "Discovery cache").
func TestDiscoveryKeyVectorsOfTheOriginal(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want IDs
	}{
		{"with idempotency key", Request{"@mysql.main", "mysql.extractor", 10, "abc123"}, IDs{"disc_d1690eb498c38098", "cache_5e5db3353566aa6b"}},
		{"without idempotency key", Request{"@mysql.main", "mysql.extractor", 10, ""}, IDs{"disc_d1690eb498c38098", "cache_294dd50bdcc53751"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compute(tt.req)
			if err != nil || got != tt.want {
				t.Fatalf("Compute = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestBadDiscoveryRequests(t *testing.T) {
	long := strings.Repeat("c", MaxIDBytes+1)
	tests := []struct {
		name string
		req  Request
		msg  string
	}{
		{"no connection", Request{"", "c", 1, ""}, "connection_id is required"},
		{"no component", Request{"@c", "", 1, ""}, "component_id is required"},
		{"long connection", Request{long, "c", 1, ""}, "connection_id is 257 bytes, over the limit of 256"},
		{"long key", Request{"@c", "c", 1, long}, "idempotency_key is 257 bytes"},
		{"bad utf-8", Request{"@c\xff", "c", 1, ""}, "connection_id is not valid UTF-8"},
		{"negative samples", Request{"@c", "c", -1, ""}, "samples must be between 0 and 100, got -1"},
		{"too many samples", Request{"@c", "c", 101, ""}, "got 101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compute(tt.req)
			if !errors.Is(err, apierr.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want invalid argument containing %q", err, tt.msg)
			}
		})
	}
	if _, err := Compute(Request{strings.Repeat("c", MaxIDBytes), "c", MaxSamples, ""}); err != nil {
		t.Fatalf("limits themselves refused: %v", err)
	}
}
