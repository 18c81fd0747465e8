package relay

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/quicast/quicast/certs"
)

// interfaceAddrs lists the machine's addresses; tests replace it.
type interfaceAddrs func() ([]net.Addr, error)

// reachableAddrs returns the addresses other machines reach the relay at
// when it listens on host: every non-loopback, non-link-local interface
// address for a wildcard listen (IPv4 first), else host itself when it is
// not a loopback address.
func reachableAddrs(host string, ifaces interfaceAddrs) []string {
	if !isWildcard(host) {
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() || strings.EqualFold(host, "localhost") {
			return nil
		}
		return []string{host}
	}
	addrs, err := ifaces()
	if err != nil {
		return nil
	}
	var v4, v6 []string
	for _, a := range addrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := pfx.Addr().Unmap()
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		if ip.Is4() {
			v4 = append(v4, ip.String())
		} else if host != "0.0.0.0" {
			v6 = append(v6, ip.String())
		}
	}
	return append(v4, v6...)
}

func isWildcard(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::" || host == "[::]"
}

// certHosts are the names the relay's certificate must cover: localhost and
// the machine's name, the reachable addresses, and the -hosts names.
func certHosts(listenHost string, extra []string, ifaces interfaceAddrs) []string {
	hosts := certs.DefaultHosts()
	hosts = append(hosts, reachableAddrs(listenHost, ifaces)...)
	for _, h := range extra {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, strings.Trim(h, "[]"))
		}
	}
	if !isWildcard(listenHost) {
		hosts = append(hosts, strings.Trim(listenHost, "[]"))
	}
	var out []string
	for _, h := range hosts {
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, h) }) {
			out = append(out, h)
		}
	}
	return out
}

// viewerURLs are the login URLs to print: one per reachable address, the
// -hosts names, then localhost when this machine can use it.
func viewerURLs(listenHost, port string, extra []string, ifaces interfaceAddrs) []string {
	var urls []string
	add := func(h string) {
		u := "https://" + net.JoinHostPort(strings.Trim(h, "[]"), port) + "/login"
		if !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	for _, h := range extra {
		if h = strings.TrimSpace(h); h != "" && net.ParseIP(h) == nil {
			add(h)
		}
	}
	for _, a := range reachableAddrs(listenHost, ifaces) {
		add(a)
	}
	ip, err := netip.ParseAddr(strings.Trim(listenHost, "[]"))
	if isWildcard(listenHost) || strings.EqualFold(listenHost, "localhost") || err == nil && ip.IsLoopback() {
		add("localhost")
	}
	return urls
}
