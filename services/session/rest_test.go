package session_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// rest sends one JSON request to the service's HTTP port and decodes the JSON reply.
func rest(t *testing.T, base, method, path, body string, wantStatus int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, raw, wantStatus)
	}
	out := map[string]any{}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: reply %q is not JSON: %v", method, path, raw, err)
		}
	}
	return out
}

// The REST mapping of every RPC, as curl would use it: lowerCamelCase JSON, 64-bit integers
// as strings, enum names, and status codes mapped to HTTP (400, 404, 409, 429).
func TestRESTSmoke(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	base := "http://" + r.svc.HTTPAddr()

	s := rest(t, base, "POST", "/v1/sessions", `{"id":"chat_1700000000","labels":{"user":"ann"},"idleTtl":"600s","maxTtl":"7200s"}`, 200)
	if s["id"] != "chat_1700000000" || s["state"] != "CHAT_STATE_INIT" || s["idleTtl"] != "600s" || s["version"] != "1" {
		t.Fatalf("created %v", s)
	}
	rest(t, base, "POST", "/v1/sessions", `{"id":"chat_1700000000"}`, 409)
	rest(t, base, "POST", "/v1/sessions", `{"id":"bad id"}`, 400)
	rest(t, base, "POST", "/v1/sessions", `{"idd":"typo"}`, 400) // unknown fields are refused
	gen := rest(t, base, "POST", "/v1/sessions", `{}`, 200)
	if id, _ := gen["id"].(string); len(id) != len("20060102_150405_")+32 {
		t.Fatalf("generated id %q", id)
	}

	set := rest(t, base, "PUT", "/v1/sessions/chat_1700000000/values/session:chat_1700000000",
		`{"value":{"discovery":{"tables":["a","b"]},"validation_status":"pending","turns":[1,2.5,null,true]},"expectedVersion":"-1"}`, 200)
	if set["version"] != "2" {
		t.Fatalf("set %v", set)
	}
	rest(t, base, "PUT", "/v1/sessions/chat_1700000000/values/session:chat_1700000000", `{"value":1,"expectedVersion":"1"}`, 400) // stale: FAILED_PRECONDITION
	got := rest(t, base, "GET", "/v1/sessions/chat_1700000000/values/session:chat_1700000000", "", 200)
	v := got["value"].(map[string]any)
	if got["version"] != "2" || v["validation_status"] != "pending" || len(v["turns"].([]any)) != 4 || v["turns"].([]any)[2] != nil {
		t.Fatalf("get %v", got)
	}
	list := rest(t, base, "GET", "/v1/sessions/chat_1700000000/values?prefix=session:", "", 200)
	if entries := list["entries"].([]any); len(entries) != 1 || entries[0].(map[string]any)["key"] != "session:chat_1700000000" {
		t.Fatalf("list values %v", list)
	}
	rest(t, base, "GET", "/v1/sessions/chat_1700000000/values/nothing", "", 404)

	tr := rest(t, base, "POST", "/v1/sessions/chat_1700000000:transition", `{"to":"CHAT_STATE_INTENT_CAPTURED","expectedFrom":"CHAT_STATE_INIT"}`, 200)
	if tr["state"] != "CHAT_STATE_INTENT_CAPTURED" {
		t.Fatalf("transition %v", tr)
	}
	rest(t, base, "POST", "/v1/sessions/chat_1700000000:transition", `{"to":"CHAT_STATE_RUN"}`, 400)
	h := rest(t, base, "GET", "/v1/sessions/chat_1700000000/history", "", 200)
	if ts := h["transitions"].([]any); len(ts) != 1 || ts[0].(map[string]any)["to"] != "CHAT_STATE_INTENT_CAPTURED" {
		t.Fatalf("history %v", h)
	}
	rest(t, base, "POST", "/v1/sessions/chat_1700000000:touch", `{}`, 200)
	rest(t, base, "GET", "/v1/sessions/chat_1700000000", "", 200)
	sessions := rest(t, base, "GET", "/v1/sessions?pageSize=1", "", 200)
	if len(sessions["sessions"].([]any)) != 1 || sessions["nextPageToken"] == "" {
		t.Fatalf("first page %v", sessions)
	}
	next := rest(t, base, "GET", "/v1/sessions?pageSize=1&pageToken="+sessions["nextPageToken"].(string), "", 200)
	if len(next["sessions"].([]any)) != 1 || next["nextPageToken"] != "" {
		t.Fatalf("second page %v", next)
	}

	rest(t, base, "DELETE", "/v1/sessions/chat_1700000000/values/session:chat_1700000000?expectedVersion=2", "", 200)
	rest(t, base, "PUT", "/v1/sessions/chat_1700000000/values/x", `{"value":"y"}`, 200)
	cleared := rest(t, base, "DELETE", "/v1/sessions/chat_1700000000/values", "", 200)
	if cleared["removed"] != "1" {
		t.Fatalf("clear %v", cleared)
	}
	closed := rest(t, base, "POST", "/v1/sessions/chat_1700000000:close", `{"errorType":"validation_error","errorMessage":"bad OML"}`, 200)
	if closed["outcome"] != "OUTCOME_ERROR" || closed["closedAt"] == nil || closed["errorType"] != "validation_error" {
		t.Fatalf("close %v", closed)
	}
	rest(t, base, "PUT", "/v1/sessions/chat_1700000000/values/x", `{"value":"y"}`, 400) // closed: FAILED_PRECONDITION
	rest(t, base, "DELETE", "/v1/sessions/chat_1700000000", "", 200)
	rest(t, base, "GET", "/v1/sessions/chat_1700000000", "", 404)

	// Keys longer than the limit are RESOURCE_EXHAUSTED: 429.
	rest(t, base, "PUT", "/v1/sessions/"+gen["id"].(string)+"/values/"+strings.Repeat("k", 300), `{"value":1}`, 429)

	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		resp, err := httpClient().Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s = %d", p, resp.StatusCode)
		}
		if p == "/openapi.json" && !strings.Contains(string(body), "/v1/sessions/{sessionId}/values/{key}") {
			t.Fatalf("OpenAPI document lacks the values path")
		}
		if p == "/metrics" && !strings.Contains(string(body), "osiris_session_stored") {
			t.Fatalf("metrics lack osiris_session_stored")
		}
	}
}
