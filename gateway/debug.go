package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugServer serves Go's profiles (net/http/pprof) for --debug-addr, on a listener and mux
// of its own: the agents' port never offers them, and they are off unless asked for.
type debugServer struct {
	lis  net.Listener
	srv  *http.Server
	done chan struct{} // closed when Serve has returned; nil until serve
}

// checkDebugAddr accepts "" (off) or a loopback IP and a port. Profiles show the process's
// goroutines and memory, so they are never offered beyond the machine; names such as
// localhost are refused because what they resolve to is not the gateway's to decide.
func checkDebugAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--debug-addr %q: want IP:PORT on loopback, such as 127.0.0.1:6060", addr)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--debug-addr %q: must be a loopback IP address (127.0.0.0/8 or ::1), since it serves profiles of the process", addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("--debug-addr %q: bad port: %w", addr, err)
	}
	return nil
}

// listenDebug binds --debug-addr (nil when it is off).
func listenDebug(addr string) (*debugServer, error) {
	if addr == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-addr: %w", err)
	}
	mux := http.NewServeMux()
	// Not /debug/pprof/cmdline: the command line may hold --auth-token.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No write timeout: a CPU profile or trace answers after the seconds it was asked for.
	return &debugServer{lis: lis, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// addr is where it listens ("" when off).
func (d *debugServer) addr() string {
	if d == nil {
		return ""
	}
	return d.lis.Addr().String()
}

// serve serves until close.
func (d *debugServer) serve(log *slog.Logger) {
	if d == nil {
		return
	}
	d.done = make(chan struct{})
	go func() {
		defer close(d.done)
		if err := d.srv.Serve(d.lis); !errors.Is(err, http.ErrServerClosed) {
			log.Error("debug server stopped", "err", err)
		}
	}()
	log.Info("gateway debug serving", "pprof", "http://"+d.addr()+"/debug/pprof/")
}

// close stops serving (a profile being taken is cut off) and waits for Serve to return.
func (d *debugServer) close() {
	if d == nil {
		return
	}
	d.srv.Close()
	d.lis.Close() // when serve never ran, Close does not know the listener
	if d.done != nil {
		<-d.done
	}
}

// DebugAddr is where --debug-addr serves profiles ("" when off).
func (g *Gateway) DebugAddr() string { return g.debug.addr() }
