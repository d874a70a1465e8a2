package cache_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// restCall sends one request and decodes the JSON reply.
func restCall(t *testing.T, method, u, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json") // the only body the API takes
	}
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: reply %q is not a JSON object: %v", method, u, raw, err)
	}
	return resp.StatusCode, m
}

// Every REST route with real HTTP requests, including the ones whose paths could be taken for
// an entry's (/v1/cache/stats, /v1/cache/discovery-key, a namespace called "stats"), keys
// with '/', ':' and characters that need escaping, and the error codes.
func TestRESTSmoke(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	base := "http://" + r.svc.HTTPAddr()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	// Every '/' escaped as %2F: the HTTP server would otherwise clean "//" out of the path
	// (with a redirect) before the gateway saw it.
	path := func(ns, key string) string { return base + "/v1/cache/" + ns + "/" + url.PathEscape(key) }
	keys := []struct{ ns, key string }{
		{"disc", "cache_294dd50bdcc53751"},
		{"disc", "osiris://mcp/discovery/disc_d1690eb498c38098/overview.json"},
		{"disc", "a:b"},
		{"disc", "q?x=1 y#z%"},
		{"stats", "x"}, // a namespace named like the stats route
	}
	for i, k := range keys {
		code, m := restCall(t, http.MethodPut, path(k.ns, k.key), `{"value":"`+b64(k.key)+`","ttl":"60s","tags":["connection:@mysql.main"]}`)
		if code != 200 || m["key"] != k.key || m["namespace"] != k.ns || m["ttl"] != "60s" || m["valueSize"] != itoaU(len(k.key)) {
			t.Fatalf("PUT %d %s/%s: %d %v", i, k.ns, k.key, code, m)
		}
		code, m = restCall(t, http.MethodGet, path(k.ns, k.key), "")
		if code != 200 || m["key"] != k.key || m["value"] != b64(k.key) {
			t.Fatalf("GET %s/%s: %d %v", k.ns, k.key, code, m)
		}
	}
	// Plain single slashes need no escaping.
	if code, m := restCall(t, http.MethodGet, base+"/v1/cache/disc/osiris:%2F%2Fmcp/discovery/disc_d1690eb498c38098/overview.json", ""); code != 200 || m["key"] != keys[1].key {
		t.Fatalf("GET with unescaped slashes: %d %v", code, m)
	}
	if code, m := restCall(t, http.MethodGet, base+"/v1/cache/stats", ""); code != 200 || m["entries"] != "5" || m["hits"] != "6" {
		t.Fatalf("GET /v1/cache/stats: %d %v", code, m)
	}
	code, m := restCall(t, http.MethodGet, base+"/v1/cache/discovery-key?connectionId=%40mysql.main&componentId=mysql.extractor&samples=10&idempotencyKey=abc123", "")
	if code != 200 || m["discoveryId"] != "disc_d1690eb498c38098" || m["cacheKey"] != "cache_5e5db3353566aa6b" {
		t.Fatalf("GET /v1/cache/discovery-key: %d %v", code, m)
	}
	if code, m := restCall(t, http.MethodGet, base+"/v1/cache/discovery-key?connection_id=%40mysql.main&component_id=mysql.extractor&samples=10", ""); code != 200 || m["cacheKey"] != "cache_294dd50bdcc53751" {
		t.Fatalf("discovery-key with proto field names: %d %v", code, m)
	}
	if code, m := restCall(t, http.MethodDelete, path("disc", "a:b"), ""); code != 200 || m["deleted"] != true {
		t.Fatalf("DELETE: %d %v", code, m)
	}
	if code, m := restCall(t, http.MethodPost, base+"/v1/cache:invalidate", `{"tag":"connection:@mysql.main"}`); code != 200 || m["removed"] != "4" {
		t.Fatalf("POST :invalidate: %d %v", code, m)
	}
	restCall(t, http.MethodPut, path("disc", "k"), `{"value":"`+b64("v")+`"}`)
	if code, m := restCall(t, http.MethodPost, base+"/v1/cache:clearExpired", `{}`); code != 200 || m["removed"] != "0" {
		t.Fatalf("POST :clearExpired: %d %v", code, m)
	}
	if code, m := restCall(t, http.MethodPost, base+"/v1/cache:clear", `{}`); code != 200 || m["removed"] != "1" {
		t.Fatalf("POST :clear: %d %v", code, m)
	}
	errs := []struct {
		method, url, body string
		code              int
		msg               string
	}{
		{http.MethodGet, path("disc", "gone"), "", 404, "no entry disc/gone"},
		{http.MethodGet, base + "/v1/cache/Disc/k", "", 400, "namespace \"Disc\""},
		{http.MethodGet, base + "/v1/cache/disc/", "", 400, "key is required"},
		{http.MethodPut, path("disc", "k"), `{"value":"` + b64("v") + `","ttl":"-5s"}`, 400, "ttl must be positive"},
		{http.MethodPut, path("disc", "k"), `{"valeu":"x"}`, 400, "valeu"},
		{http.MethodPost, base + "/v1/cache:invalidate", `{}`, 400, "tag is required"},
		{http.MethodGet, base + "/v1/cache/discovery-key?componentId=c", "", 400, "connection_id is required"},
	}
	for _, e := range errs {
		code, m := restCall(t, e.method, e.url, e.body)
		if msg, _ := m["message"].(string); code != e.code || !strings.Contains(msg, e.msg) {
			t.Fatalf("%s %s: %d %v, want %d containing %q", e.method, e.url, code, m, e.code, e.msg)
		}
	}
	for _, p := range []struct{ path, want string }{{"/openapi.json", `"/v1/cache/stats"`}, {"/metrics", "osiris_cache_entries"}} {
		resp, err := httpClient().Get(base + p.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), p.want) {
			t.Fatalf("GET %s: %d, no %s", p.path, resp.StatusCode, p.want)
		}
	}
}

func itoaU(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
