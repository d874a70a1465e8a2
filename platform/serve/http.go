package serve

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpHandler is the HTTP port: the probes, /metrics, /openapi.json and the REST API, behind
// the edge checks (see guardEdge).
func (s *Server) httpHandler(gwmux *runtime.ServeMux) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.telemetry.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.cfg.OpenAPI)
	})
	mux.Handle("/v1/", requireJSON(s.cfg.Edge.LimitBodyTime(limitBody(gwmux, int64(s.cfg.MaxRecvBytes)*2))))
	return guardEdge(mux, s.cfg.Edge, s.cfg.HTTPAddr)
}

// isProbe is true for the paths answered whatever the Host: kubelet and Prometheus may name
// the server in ways no one configured, and these carry no stored values and change nothing.
func isProbe(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// guardEdge puts the checks against browsers and hostile bytes in front of next: the Host
// must name this server (DNS rebinding; probes exempt), a browser may not send a non-safe
// cross-origin request (CSRF), and the path and query must be UTF-8 without NUL, so that
// such bytes are a 400 here rather than a 500 when the gRPC client refuses to encode them.
func guardEdge(next http.Handler, edge Edge, listenAddr string) http.Handler {
	hosts := edge.newHostCheck(listenAddr)
	origins := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isProbe(r.URL.Path) {
			if err := hosts.check(r.Host); err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
		}
		if err := origins.Check(r); err != nil {
			http.Error(w, err.Error()+": the API takes no requests from web pages", http.StatusForbidden)
			return
		}
		if err := checkPathAndQuery(r.URL); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkPathAndQuery refuses a path or query that is not UTF-8, holds NUL, or (the query) is
// not well-formed.
func checkPathAndQuery(u *url.URL) error {
	if err := cleanText(u.Path); err != nil {
		return fmt.Errorf("path: %w", err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	for k, vs := range q {
		if err := cleanText(k); err != nil {
			return fmt.Errorf("query parameter name %q: %w", k, err)
		}
		for _, v := range vs {
			if err := cleanText(v); err != nil {
				return fmt.Errorf("query parameter %s: %w", k, err)
			}
		}
	}
	return nil
}

func cleanText(s string) error {
	switch {
	case !utf8.ValidString(s):
		return fmt.Errorf("not valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("contains a NUL byte")
	}
	return nil
}

// requireJSON refuses, with 415, a body (or a Content-Type) that is not application/json in
// UTF-8. The REST gateway would decode any body as JSON, so a web page's text/plain form post
// (which a browser sends cross-origin without asking) would otherwise be an API call.
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		if ct == "" && r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
			http.Error(w, fmt.Sprintf("Content-Type %q: the API takes application/json (UTF-8)", ct), http.StatusUnsupportedMediaType)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody refuses bodies over limit bytes: at once with 413 when Content-Length says so,
// and by cutting the read off (a 400 from the gateway) when the body is streamed.
func limitBody(next http.Handler, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			http.Error(w, fmt.Sprintf("request body of %d bytes is over the limit of %d", r.ContentLength, limit), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}
