package upstream

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// rawHTTP is a streamable HTTP server written by hand, to see and send exact bytes. It
// answers initialize (with rawInitResult and the session id "sess-1"), accepts
// notifications and answers with 202, and leaves the rest to call and get.
type rawHTTP struct {
	url string
	sse bool // answer initialize with an SSE stream
	// call answers a request other than initialize; nil answers "echo" with its params.
	call func(w http.ResponseWriter, r *http.Request, e envelope)
	// get serves the GET stream; nil answers 405.
	get func(w http.ResponseWriter, r *http.Request)

	mu      sync.Mutex
	posts   []posted
	deletes []http.Header
	signal  chan struct{}
}

type posted struct {
	body   string
	header http.Header
	env    envelope
}

func (p posted) String() string { return p.body }

type envelope struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func newRawHTTP(t *testing.T, configure func(*rawHTTP)) *rawHTTP {
	h := &rawHTTP{signal: make(chan struct{}, 1)}
	if configure != nil {
		configure(h)
	}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *rawHTTP) serve(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		var e envelope
		_ = json.Unmarshal(body, &e)
		h.record(func() { h.posts = append(h.posts, posted{string(body), r.Header.Clone(), e}) })
		switch {
		case e.Method == "" || e.ID == nil: // a notification, or an answer
			w.WriteHeader(http.StatusAccepted)
		case e.Method == methodInitialize:
			w.Header().Set(headerSession, "sess-1")
			if h.sse {
				writeSSE(w, "data: "+response(e.ID, `"result":`+rawInitResult))
			} else {
				writeJSON(w, e.ID, `"result":`+rawInitResult)
			}
		case h.call != nil:
			h.call(w, r, e)
		default:
			writeJSON(w, e.ID, `"result":`+string(e.Params))
		}
	case http.MethodGet:
		if h.get == nil {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		h.get(w, r)
	case http.MethodDelete:
		h.record(func() { h.deletes = append(h.deletes, r.Header.Clone()) })
	}
}

func (h *rawHTTP) record(f func()) {
	h.mu.Lock()
	f()
	h.mu.Unlock()
	select {
	case h.signal <- struct{}{}:
	default:
	}
}

func (h *rawHTTP) posted() []posted {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.posts)
}

// waitPost waits for a POST whose body satisfies match and returns it.
func (h *rawHTTP) waitPost(t *testing.T, what string, match func(posted) bool) posted {
	t.Helper()
	var found posted
	waitUntil(t, what, h.signal, func() bool {
		for _, p := range h.posted() {
			if match(p) {
				found = p
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("posts %v", h.posted()) })
	return found
}

func response(id json.RawMessage, member string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,%s}`, id, member)
}

func writeJSON(w http.ResponseWriter, id json.RawMessage, member string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, response(id, member))
}

// writeSSE starts an event stream (if it has not started) and writes each event, flushed.
func writeSSE(w http.ResponseWriter, events ...string) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/event-stream")
	}
	for _, ev := range events {
		_, _ = io.WriteString(w, ev+"\n\n")
	}
	w.(http.Flusher).Flush()
}
