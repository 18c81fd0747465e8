package netcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/quicast/quicast/certs"
	"github.com/quicast/quicast/relay/relaytest"
)

// tlsSite is a TLS server on loopback with a certificate for 127.0.0.1
// from a CA of its own: a well-known site, for a checker whose roots hold
// that CA.
func tlsSite(t *testing.T) (addr string, roots *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	m, err := certs.New(certs.Config{Dir: dir, Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: m.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	roots = x509.NewCertPool()
	roots.AppendCertsFromPEM(m.CAPEM())
	return l.Addr().String(), roots
}

// A listener that accepts every TCP connection and never says a word, as
// SYN proxies and some firewalls do (and this machine's network does for
// any address): that is not being online.
func TestSilentTCPIsNotOnline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the test ends
		}
	}()
	_, roots := tlsSite(t)
	c := &Checker{Probes: []string{l.Addr().String()}, Timeout: 500 * time.Millisecond, Roots: roots}
	st := c.Check(context.Background(), Relay{})
	if st.Online || !errors.Is(st.InternetErr, ErrTimeout) {
		t.Errorf("silent TCP: online %v, %v; want offline, timed out", st.Online, st.InternetErr)
	}
}

// A captive portal answers TLS in the site's place with a certificate that
// does not check out: not online either, and said so.
func TestInterceptedIsNotOnline(t *testing.T) {
	addr, _ := tlsSite(t)
	_, otherRoots := tlsSite(t)
	c := &Checker{Probes: []string{addr}, Timeout: 2 * time.Second, Roots: otherRoots}
	st := c.Check(context.Background(), Relay{})
	if st.Online || !errors.Is(st.InternetErr, ErrIntercepted) {
		t.Errorf("intercepted: online %v, %v; want ErrIntercepted", st.Online, st.InternetErr)
	}
}

func closedPort(t *testing.T, network string) string {
	t.Helper()
	var addr string
	if network == "tcp" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
	} else {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr().String()
		c.Close()
	}
	return addr
}

func TestClosedPort(t *testing.T) {
	c := &Checker{Probes: []string{closedPort(t, "tcp")}, Timeout: 2 * time.Second}
	start := time.Now()
	st := c.Check(context.Background(), Relay{URL: "https://" + closedPort(t, "udp")})
	if st.Online || !errors.Is(st.InternetErr, ErrRefused) {
		t.Errorf("internet: online %v, %v; want refused", st.Online, st.InternetErr)
	}
	if !st.RelayChecked || st.RelayUp || st.RelayErr == nil {
		t.Errorf("relay: %+v", st)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("check took %v with a 2 s timeout", d)
	}
	t.Logf("closed ports: internet %v; relay %v", st.InternetErr, st.RelayErr)
}

// A black hole swallows packets and never answers: the check gives up at
// its timeout and says so.
func TestBlackHole(t *testing.T) {
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := hole.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	c := &Checker{Probes: []string{"192.0.2.1:443"}, Timeout: 500 * time.Millisecond,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-ctx.Done() // a SYN into the void
			return nil, ctx.Err()
		}}
	start := time.Now()
	st := c.Check(context.Background(), Relay{URL: "https://" + hole.LocalAddr().String()})
	if st.Online || !errors.Is(st.InternetErr, ErrTimeout) {
		t.Errorf("internet: online %v, %v; want a timeout", st.Online, st.InternetErr)
	}
	if st.RelayUp || !errors.Is(st.RelayErr, ErrTimeout) {
		t.Errorf("relay: up %v, %v; want a timeout", st.RelayUp, st.RelayErr)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("check took %v with a 500 ms timeout", d)
	}
}

func TestLiveRelay(t *testing.T) {
	r := relaytest.Start(t)
	probe := closedPort(t, "tcp")
	up, roots := tlsSite(t) // an "internet" that answers
	c := &Checker{Probes: []string{probe, up}, Timeout: 3 * time.Second, Roots: roots}

	st := c.Check(context.Background(), Relay{URL: r.URL})
	if !st.Online || st.InternetErr != nil {
		t.Errorf("one probe of two answered: online %v, %v", st.Online, st.InternetErr)
	}
	if !st.RelayUp || st.RTT <= 0 || st.RTT > time.Second {
		t.Fatalf("relay: up %v, RTT %v, %v", st.RelayUp, st.RTT, st.RelayErr)
	}
	if !st.Untrusted || !errors.Is(st.RelayErr, ErrUntrusted) {
		t.Errorf("a local-CA relay with no CA given: untrusted %v, %v", st.Untrusted, st.RelayErr)
	}
	t.Logf("relay RTT %v, fingerprint %s", st.RTT, st.Fingerprint)

	ca := r.CAFile()
	if st := c.Check(context.Background(), Relay{URL: r.URL, CAFile: ca}); st.Untrusted || st.RelayErr != nil {
		t.Errorf("with its CA: untrusted %v, %v", st.Untrusted, st.RelayErr)
	}
	if s2 := c.Check(context.Background(), Relay{URL: r.URL, Pin: st.Fingerprint.String()}); s2.Untrusted || s2.RelayErr != nil {
		t.Errorf("pinned: untrusted %v, %v", s2.Untrusted, s2.RelayErr)
	}
	wrong := st.Fingerprint
	wrong[0] ^= 1
	if s2 := c.Check(context.Background(), Relay{URL: r.URL, Pin: wrong.String()}); !s2.Untrusted {
		t.Error("a wrong pin was trusted")
	}
}

func TestRunRechecks(t *testing.T) {
	ticks := make(chan time.Time)
	online := true
	site, roots := tlsSite(t)
	c := &Checker{Probes: []string{site}, Timeout: 2 * time.Second, Roots: roots,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if online {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			return nil, &net.OpError{Op: "dial", Err: errors.New("network is unreachable")}
		},
		Tick: func(time.Duration) <-chan time.Time { return ticks }}
	got := make(chan Status)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx, func() Relay { return Relay{} }, func(s Status) { got <- s })
	if s := <-got; !s.Online || s.RelayChecked {
		t.Fatalf("first check %+v", s)
	}
	online = false // the cable is pulled between checks
	ticks <- time.Now()
	if s := <-got; s.Online {
		t.Fatal("still online after the network went away")
	}
	online = true
	ticks <- time.Now()
	if s := <-got; !s.Online {
		t.Fatal("the warning did not go away when the network came back")
	}
}
