package gateway

import "net/http"

// edge puts in front of /mcp what the MCP SDK does not do itself: a body read deadline
// (--body-read-timeout) and, without a bearer token, the services' Host check
// (--allowed-hosts). The SDK refuses a non-loopback Host only on a loopback connection, so a
// gateway listening on 0.0.0.0 was reachable by a page rebinding its name to the machine's
// LAN address. With a token the check is left out: a page cannot send a token it does not
// know, and the gateway is then usually reached by a name (a Kubernetes Service).
func (g *Gateway) edge(next http.Handler) http.Handler {
	cfg := g.cfg.c
	next = cfg.Edge.LimitBodyTime(next)
	if cfg.AuthToken != "" {
		return next
	}
	return cfg.Edge.GuardHost(next, cfg.HTTPAddr)
}
