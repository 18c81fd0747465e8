package relay

import (
	"context"
	"net"
	"slices"
	"testing"
)

func fakeIfaces(cidrs ...string) interfaceAddrs {
	return func() ([]net.Addr, error) {
		var out []net.Addr
		for _, c := range cidrs {
			ip, n, err := net.ParseCIDR(c)
			if err != nil {
				panic(err)
			}
			n.IP = ip
			out = append(out, n)
		}
		return out, nil
	}
}

var lan = fakeIfaces("127.0.0.1/8", "::1/128", "192.0.2.2/24", "fe80::1/64", "2001:db8::7/64", "198.51.100.9/24")

func TestReachableAddrs(t *testing.T) {
	for _, c := range []struct {
		host string
		want []string
	}{
		{"", []string{"192.0.2.2", "198.51.100.9", "2001:db8::7"}},
		{"::", []string{"192.0.2.2", "198.51.100.9", "2001:db8::7"}},
		{"0.0.0.0", []string{"192.0.2.2", "198.51.100.9"}}, // IPv4 only
		{"127.0.0.1", nil},
		{"localhost", nil},
		{"192.0.2.2", []string{"192.0.2.2"}},
		{"relay.example", []string{"relay.example"}},
	} {
		if got := reachableAddrs(c.host, lan); !slices.Equal(got, c.want) {
			t.Errorf("listen %q: %v, want %v", c.host, got, c.want)
		}
	}
}

func TestCertHostsAndURLs(t *testing.T) {
	hosts := certHosts("", []string{"relay.example", " ", "203.0.113.4"}, lan)
	for _, want := range []string{"localhost", "127.0.0.1", "::1", "192.0.2.2", "2001:db8::7", "relay.example", "203.0.113.4"} {
		if !slices.Contains(hosts, want) {
			t.Errorf("certificate names %v lack %s", hosts, want)
		}
	}
	if slices.Contains(hosts, "fe80::1") || slices.Contains(hosts, "") {
		t.Errorf("certificate names %v: link-local or empty", hosts)
	}
	urls := viewerURLs("", "8443", []string{"relay.example"}, lan)
	want := []string{"https://relay.example:8443/login", "https://192.0.2.2:8443/login", "https://198.51.100.9:8443/login",
		"https://[2001:db8::7]:8443/login", "https://localhost:8443/login"}
	if !slices.Equal(urls, want) {
		t.Errorf("URLs %v, want %v", urls, want)
	}
	if urls := viewerURLs("127.0.0.1", "8443", nil, lan); !slices.Equal(urls, []string{"https://localhost:8443/login"}) {
		t.Errorf("loopback URLs %v", urls)
	}
	if urls := viewerURLs("192.0.2.2", "8443", nil, lan); !slices.Equal(urls, []string{"https://192.0.2.2:8443/login"}) {
		t.Errorf("one-address URLs %v", urls)
	}
}

// A relay on every address gets a certificate for them; started again
// after the machine got a new address, it replaces the stored certificate
// that lacks it.
func TestCertificateFollowsAddresses(t *testing.T) {
	dir := t.TempDir()
	start := func(ifaces interfaceAddrs) Info {
		ctx, cancel := context.WithCancel(context.Background())
		infos := make(chan Info, 1)
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Config{Listen: "0.0.0.0:0", DataDir: dir, ifaces: ifaces}, func(i Info) { infos <- i })
		}()
		defer func() { cancel(); <-done }()
		select {
		case i := <-infos:
			return i
		case err := <-done:
			t.Fatal(err)
		}
		return Info{}
	}
	first := start(fakeIfaces("127.0.0.1/8", "192.0.2.2/24"))
	if !slices.Contains(first.LeafHosts, "192.0.2.2") || !slices.Contains(first.URLs, "https://192.0.2.2:"+port(first.Addr)+"/login") {
		t.Fatalf("first start: %+v", first)
	}
	if first.CAFingerprint == ([32]byte{}) || first.CAFile == "" {
		t.Errorf("no CA reported: %+v", first)
	}
	same := start(fakeIfaces("127.0.0.1/8", "192.0.2.2/24"))
	if same.LeafFingerprint != first.LeafFingerprint {
		t.Error("a restart with the same addresses issued a new certificate")
	}
	moved := start(fakeIfaces("127.0.0.1/8", "198.51.100.9/24"))
	if moved.LeafFingerprint == first.LeafFingerprint || !slices.Contains(moved.LeafHosts, "198.51.100.9") {
		t.Errorf("new address %v not in the certificate %v", "198.51.100.9", moved.LeafHosts)
	}
	if moved.CAFingerprint != first.CAFingerprint {
		t.Error("the CA changed: pins and imported CAs would break")
	}
}

func port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
