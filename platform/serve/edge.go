package serve

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// DefaultBodyReadTimeout bounds reading one request body unless Edge says otherwise.
const DefaultBodyReadTimeout = 30 * time.Second

// Edge is what an HTTP port accepts from outside besides its API's own validation. Its zero
// value is the safe default: Host must be an IP address, localhost or the listen address's
// own name, and a body must arrive within DefaultBodyReadTimeout.
type Edge struct {
	// AllowedHosts are the host names, besides IP addresses, localhost and the listen
	// address's host, that a request's Host header may carry. "*" allows any name: use it only
	// behind a proxy that checks Host itself.
	AllowedHosts []string
	// BodyReadTimeout bounds reading one request body. Default DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
}

// maxBodyReadTimeout bounds --body-read-timeout: a slower body ties up a connection.
const maxBodyReadTimeout = 10 * time.Minute

// RegisterFlags declares --allowed-hosts and --body-read-timeout on fs.
func (e *Edge) RegisterFlags(fs *flag.FlagSet) {
	fs.Func("allowed-hosts", "host names besides IP addresses and localhost that the Host header may carry, comma-separated or repeated (\"*\" allows any; see docs/operations.md)", func(v string) error {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				e.AllowedHosts = append(e.AllowedHosts, name)
			}
		}
		return nil
	})
	if e.BodyReadTimeout == 0 {
		e.BodyReadTimeout = DefaultBodyReadTimeout
	}
	fs.DurationVar(&e.BodyReadTimeout, "body-read-timeout", e.BodyReadTimeout, "longest a client may take to send one request body")
}

// Validate reports the first setting that cannot work.
func (e Edge) Validate() error {
	// What --allowed-hosts takes: a DNS name, no port, no trailing dot.
	hostName := regexp.MustCompile(`^(?i)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$`)
	for _, h := range e.AllowedHosts {
		if h != "*" && (!hostName.MatchString(h) || len(h) > 253) {
			return fmt.Errorf("--allowed-hosts %q: want a host name such as osiris-audit.example.internal, without a port", h)
		}
	}
	if e.BodyReadTimeout < 0 || e.BodyReadTimeout > maxBodyReadTimeout {
		return fmt.Errorf("--body-read-timeout must be between 0 (default %s) and %s, got %s", DefaultBodyReadTimeout, maxBodyReadTimeout, e.BodyReadTimeout)
	}
	return nil
}

// hostCheck decides whether a request's Host header names this server.
type hostCheck struct {
	any   bool
	names map[string]bool
}

// newHostCheck allows e's names and the listen address's host when it is a name.
func (e Edge) newHostCheck(listenAddr string) hostCheck {
	c := hostCheck{names: map[string]bool{"localhost": true}}
	for _, h := range e.AllowedHosts {
		c.any = c.any || h == "*"
		c.names[strings.ToLower(h)] = true
	}
	if host, _, err := net.SplitHostPort(listenAddr); err == nil && host != "" {
		c.names[strings.ToLower(host)] = true
	}
	return c
}

// check returns why host is refused, or nil. An IP address is always allowed: a browser
// sends one only to the address it names, so it cannot carry a DNS rebinding, and kubelet
// and Prometheus send the pod's. A name must be localhost, the listen address's or allowed.
func (c hostCheck) check(host string) error {
	if c.any {
		return nil
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if name == "" {
		return errors.New("request has no Host header")
	}
	if _, err := netip.ParseAddr(name); err == nil || c.names[strings.ToLower(name)] {
		return nil
	}
	return fmt.Errorf("invalid Host %q: not a name of this server (add it with --allowed-hosts)", host)
}

// GuardHost refuses, with 403, requests whose Host header does not name the server listening
// on listenAddr: a web page that rebinds its own name to this address cannot reach next.
func (e Edge) GuardHost(next http.Handler, listenAddr string) http.Handler {
	hosts := e.newHostCheck(listenAddr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := hosts.check(r.Host); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// LimitBodyTime gives a request with a body BodyReadTimeout to send it. The deadline is the
// connection's; net/http lifts it when the body has been read to its end (it then starts its
// own read for the client's hang-up), so a long reply such as a tail is not cut off.
func (e Edge) LimitBodyTime(next http.Handler) http.Handler {
	d := e.BodyReadTimeout
	if d <= 0 {
		d = DefaultBodyReadTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			// An error means the writer cannot take a deadline (HTTP/2): nothing to do.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}
