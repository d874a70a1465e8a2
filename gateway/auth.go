package gateway

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
)

// minTokenBytes keeps guessable tokens out.
const minTokenBytes = 16

// loadToken returns the bearer token from --auth-token or --auth-token-file ("" when neither).
func (c Config) loadToken() (string, error) {
	switch {
	case c.AuthToken != "" && c.AuthTokenFile != "":
		return "", fmt.Errorf("give --auth-token or --auth-token-file, not both")
	case c.AuthTokenFile != "":
		b, err := os.ReadFile(c.AuthTokenFile)
		if err != nil {
			return "", fmt.Errorf("--auth-token-file: %w", err)
		}
		c.AuthToken = strings.TrimSpace(string(b))
		if c.AuthToken == "" {
			return "", fmt.Errorf("--auth-token-file %s is empty", c.AuthTokenFile)
		}
	}
	if c.AuthToken != "" && len(c.AuthToken) < minTokenBytes {
		return "", fmt.Errorf("the auth token must be at least %d bytes", minTokenBytes)
	}
	return c.AuthToken, nil
}

// guard refuses, before the MCP handler sees them, requests without the bearer token (when
// one is set), cross-origin browser requests from origins not allowed, and bodies over
// maxBytes. Each refusal is counted in refused, which records it later: a refusal answers at
// once whatever the audit service does.
func guard(token string, origins *http.CrossOriginProtection, maxBytes int64, refused *refusals, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			got := []byte(r.Header.Get("Authorization"))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				why := refusedNoToken
				if len(got) > 0 {
					why = refusedWrongToken
				}
				refused.add(r, why)
				w.Header().Set("WWW-Authenticate", `Bearer realm="osiris-gateway"`)
				http.Error(w, string(why), http.StatusUnauthorized)
				return
			}
		}
		if err := origins.Check(r); err != nil {
			refused.add(r, refusedOrigin)
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		if r.Body != nil {
			// The MCP handler answers 413 when the limit is hit; this counts it.
			r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, maxBytes), over: func() { refused.add(r, refusedTooLarge) }}
		}
		next.ServeHTTP(w, r)
	})
}

// limitedBody calls over once when its reader hits the limit.
type limitedBody struct {
	io.ReadCloser
	once sync.Once
	over func()
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		b.once.Do(b.over)
	}
	return n, err
}
