package gateway

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
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

// requireToken refuses requests without the bearer token, and audits each refusal.
func requireToken(token string, audit auditv1.AuditServiceClient, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		reason := "missing bearer token"
		if len(got) > 0 {
			reason = "wrong bearer token"
		}
		// Best effort: the refusal stands whether or not the audit service records it.
		audit.Append(context.WithoutCancel(r.Context()), &auditv1.AppendRequest{Event: &auditv1.Event{
			EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED, SessionId: r.Header.Get("Mcp-Session-Id"),
			ErrorCode: "unauthorized", ErrorMessage: reason, ResourceUri: r.URL.Path, Operation: r.Method}})
		w.Header().Set("WWW-Authenticate", `Bearer realm="osiris-gateway"`)
		http.Error(w, reason, http.StatusUnauthorized)
	})
}
