package web

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// hostOnly returns the host of a Host header or address, without port
// or IPv6 brackets.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// webTransportHost is the host:port the viewer's browser opens its
// WebTransport session to: the page's own, except for "localhost".
// Chromium resolves localhost to ::1 first and, unlike for TCP, does not
// fall back to 127.0.0.1 for QUIC, so a relay listening on 127.0.0.1 (the
// demo's default) would be unreachable over WebTransport while its pages
// load. There the address the page's TCP connection reached is used.
func webTransportHost(r *http.Request) string {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil || !strings.EqualFold(host, "localhost") {
		return r.Host
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return r.Host
	}
	ip, _, err := net.SplitHostPort(local.String())
	if err != nil {
		return r.Host
	}
	return net.JoinHostPort(ip, port)
}

// SameHost is the WebTransport origin check: it allows a session from a page
// on the relay's own host (any port: the page is served by the same relay
// over TCP). "localhost" and the loopback addresses count as one host, since
// a page on localhost is sent to the loopback address (see the ticket's URL).
func SameHost(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	oh, rh := u.Hostname(), hostOnly(r.Host)
	return strings.EqualFold(oh, rh) || (isLoopback(oh) && isLoopback(rh))
}

// OriginCheck returns the WebTransport origin check: SameHost, or an
// origin listed in extra ("https://host[:port]", as browsers send it: a
// site of your own that embeds the watch page). Anything else is refused.
func OriginCheck(extra []string) func(*http.Request) bool {
	allowed := map[string]bool{}
	for _, o := range extra {
		allowed[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return func(r *http.Request) bool {
		return SameHost(r) || allowed[strings.ToLower(r.Header.Get("Origin"))]
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
