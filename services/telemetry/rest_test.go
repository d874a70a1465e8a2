package telemetry_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func restDo(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
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
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, url, raw, err)
	}
	return resp.StatusCode, out
}

// Every RPC answers over its REST mapping, with protobuf JSON (lowerCamelCase, 64-bit
// integers as strings); bad input is a 400; /openapi.json describes the paths.
func TestRESTSmoke(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	base := "http://" + r.svc.HTTPAddr()

	code, body := restDo(t, "POST", base+"/v1/telemetry/tool-calls",
		`{"call":{"sessionId":"rest","correlationId":"c-1","tool":"discovery_request","status":"CALL_STATUS_ERROR","durationMs":12.5,"bytesIn":"57","bytesOut":"9","error":"timeout","metadata":{"rows":2}}}`)
	if code != 200 || body["seq"] != "1" || body["time"] == nil {
		t.Fatalf("record over REST: %d %v", code, body)
	}
	code, body = restDo(t, "POST", base+"/v1/telemetry/server-events", `{"event":{"kind":"SERVER_EVENT_KIND_STOP","server":"gw","reason":"done"}}`)
	if totals, _ := body["totals"].(map[string]any); code != 200 || totals["toolCalls"] != "1" || totals["errors"] != "1" {
		t.Fatalf("server event over REST: %d %v", code, body)
	}
	code, body = restDo(t, "GET", base+"/v1/telemetry/summary?sessionId=rest&tool=discovery_request", "")
	if tools, _ := body["tools"].([]any); code != 200 || body["toolCalls"] != "1" || body["bytesIn"] != "57" || body["totalDurationMs"] != 12.5 || len(tools) != 1 {
		t.Fatalf("summary over REST: %d %v", code, body)
	}
	code, body = restDo(t, "GET", base+"/v1/telemetry/summary?since="+url.QueryEscape("2020-01-01T00:00:00Z"), "")
	if code != 200 || body["toolCalls"] != "1" || body["since"] != "2020-01-01T00:00:00Z" {
		t.Fatalf("window summary over REST: %d %v", code, body)
	}
	code, body = restDo(t, "GET", base+"/v1/telemetry/tool-calls?correlationId=c-1&status=CALL_STATUS_ERROR", "")
	if calls, _ := body["calls"].([]any); code != 200 || len(calls) != 1 || calls[0].(map[string]any)["tool"] != "discovery_request" {
		t.Fatalf("list over REST: %d %v", code, body)
	}
	code, body = restDo(t, "GET", base+"/v1/telemetry/server-events?kind=SERVER_EVENT_KIND_STOP", "")
	if events, _ := body["events"].([]any); code != 200 || len(events) != 1 {
		t.Fatalf("server events over REST: %d %v", code, body)
	}
	for _, bad := range []struct{ method, path, body, msg string }{
		{"POST", "/v1/telemetry/tool-calls", `{"call":{"tool":"x","status":"CALL_STATUS_OK","durationMs":-1}}`, "duration_ms must be a finite number"},
		{"POST", "/v1/telemetry/tool-calls", `{"call":{"tool":"x","status":"CALL_STATUS_OK","misspelt":1}}`, "misspelt"},
		{"GET", "/v1/telemetry/tool-calls?pageSize=-4", "", "page_size must not be negative"},
	} {
		code, body = restDo(t, bad.method, base+bad.path, bad.body)
		if msg, _ := body["message"].(string); code != 400 || !strings.Contains(msg, bad.msg) {
			t.Fatalf("%s %s: %d %v, want 400 mentioning %q", bad.method, bad.path, code, body, bad.msg)
		}
	}
	code, body = restDo(t, "GET", base+"/openapi.json", "")
	paths, _ := body["paths"].(map[string]any)
	for _, p := range []string{"/v1/telemetry/tool-calls", "/v1/telemetry/server-events", "/v1/telemetry/summary"} {
		if paths[p] == nil {
			t.Fatalf("openapi.json (%d) lacks %s", code, p)
		}
	}
}

// The batch RPC answers at POST /v1/telemetry/tool-calls:batch: counts as JSON numbers, seqs
// as strings (64-bit); a bad call is a 400 naming its index; openapi.json has the path.
func TestRESTBatchSmoke(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	base := "http://" + r.svc.HTTPAddr()
	batch := `{"calls":[
		{"sessionId":"rest","correlationId":"b-1","tool":"oml_save","status":"CALL_STATUS_OK","durationMs":3},
		{"sessionId":"rest","correlationId":"b-2","tool":"oml_save","status":"CALL_STATUS_ERROR","durationMs":4.5,"error":"boom"},
		{"sessionId":"rest","correlationId":"b-1","tool":"oml_save","status":"CALL_STATUS_OK","durationMs":3}]}`
	code, body := restDo(t, "POST", base+"/v1/telemetry/tool-calls:batch", batch)
	if seqs, _ := body["seqs"].([]any); code != 200 || body["recorded"] != 2.0 || body["duplicates"] != 1.0 || fmt.Sprint(seqs) != "[1 2 1]" {
		t.Fatalf("batch over REST: %d %v", code, body)
	}
	code, body = restDo(t, "GET", base+"/v1/telemetry/summary?sessionId=rest", "")
	if code != 200 || body["toolCalls"] != "2" || body["errors"] != "1" || body["totalDurationMs"] != 7.5 {
		t.Fatalf("summary after the batch: %d %v", code, body)
	}
	code, body = restDo(t, "POST", base+"/v1/telemetry/tool-calls:batch", `{"calls":[{"tool":"x","status":"CALL_STATUS_OK"},{"tool":"x","status":"CALL_STATUS_OK","durationMs":-1}]}`)
	if msg, _ := body["message"].(string); code != 400 || !strings.Contains(msg, "calls[1].duration_ms must be a finite number") {
		t.Fatalf("bad batch over REST: %d %v", code, body)
	}
	code, body = restDo(t, "GET", base+"/openapi.json", "")
	if paths, _ := body["paths"].(map[string]any); paths["/v1/telemetry/tool-calls:batch"] == nil {
		t.Fatalf("openapi.json (%d) lacks /v1/telemetry/tool-calls:batch", code)
	}
}
