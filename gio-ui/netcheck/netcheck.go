// Package netcheck tells whether this machine is online and whether the
// relay answers. Online means a verified end-to-end answer: a TLS handshake
// with one of a few well-known hosts whose certificate checks out against
// the system's roots. A TCP connection proves nothing — SYN proxies,
// captive portals and some firewalls accept any connection — and a captive
// portal's interception fails the certificate check. The relay gets a QUIC
// handshake, which also yields the round-trip time and its certificates.
package netcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/quicast/quicast/certs"
)

// DefaultProbes are public anycast DNS-over-HTTPS resolvers, by address so
// that a broken DNS is not taken for a broken network: their certificates
// name these IP addresses.
var DefaultProbes = []string{"1.1.1.1:443", "8.8.8.8:443", "9.9.9.9:443"}

// Relay says which relay to probe and how to trust it.
type Relay struct {
	URL    string // https://HOST:PORT
	CAFile string // trust by this CA (PEM), or
	Pin    string // by this SHA-256 of a certificate in its chain, or else by the system roots
}

// Status is the outcome of one check.
type Status struct {
	Online      bool
	InternetErr error // why no probe answered; nil when Online

	RelayChecked bool // a relay URL was given
	RelayUp      bool // the QUIC handshake completed
	RelayErr     error
	RTT          time.Duration // of the relay handshake
	Untrusted    bool          // the relay answered with a certificate we do not trust
	// Fingerprint is the SHA-256 to pin when the relay answered: of the
	// top of its chain (its CA, which outlives the 13-day leaf), or of the
	// leaf when it sent no chain.
	Fingerprint certs.Pin
	Checked     time.Time
}

// Checker runs the checks. The zero value probes DefaultProbes with a 2 s
// timeout every 5 s.
type Checker struct {
	Probes   []string // HOST:PORT of TLS servers whose certificates name HOST
	Timeout  time.Duration
	Interval time.Duration
	// Roots verify the probes' certificates; default the system's.
	Roots *x509.CertPool
	// Dial opens the TCP connections the probes' TLS runs on; default
	// net.Dialer.DialContext.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Handshake performs the relay handshake and returns the certificate
	// chain (DER, leaf first); default QUIC with ALPN h3.
	Handshake func(ctx context.Context, addr string) (chain [][]byte, err error)
	Now       func() time.Time
	Tick      func(d time.Duration) <-chan time.Time
}

func (c *Checker) defaults() Checker {
	d := *c
	if d.Probes == nil {
		d.Probes = DefaultProbes
	}
	if d.Timeout <= 0 {
		d.Timeout = 2 * time.Second
	}
	if d.Interval <= 0 {
		d.Interval = 5 * time.Second
	}
	if d.Dial == nil {
		d.Dial = (&net.Dialer{}).DialContext
	}
	if d.Handshake == nil {
		d.Handshake = quicHandshake
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Tick == nil {
		d.Tick = time.After
	}
	return d
}

// Check runs the internet probes and the relay probe concurrently; it
// returns within about Timeout.
func (c *Checker) Check(ctx context.Context, relay Relay) Status {
	d := c.defaults()
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	st := Status{Checked: d.Now()}
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		if relay.URL != "" {
			st.RelayChecked = true
			d.checkRelay(ctx, relay, &st)
		}
	}()
	st.Online, st.InternetErr = d.checkInternet(ctx)
	<-relayDone
	return st
}

func (d *Checker) checkInternet(ctx context.Context) (bool, error) {
	if len(d.Probes) == 0 {
		return true, nil
	}
	errs := make(chan error, len(d.Probes))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, p := range d.Probes {
		go func() { errs <- d.probe(ctx, p) }()
	}
	var first error
	for range d.Probes {
		err := <-errs
		if err == nil {
			return true, nil
		}
		if first == nil {
			first = err
		}
	}
	return false, Reason(first)
}

// probe completes a verified TLS handshake with addr.
func (d *Checker) probe(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("probe %q: want HOST:PORT", addr)
	}
	conn, err := d.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: d.Roots, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		var cv *tls.CertificateVerificationError
		if errors.As(err, &cv) {
			return fmt.Errorf("%w: %s: %v", ErrIntercepted, addr, cv.Err)
		}
		return err
	}
	return nil
}

func (d *Checker) checkRelay(ctx context.Context, r Relay, st *Status) {
	u, err := url.Parse(r.URL)
	if err != nil || u.Scheme != "https" || u.Port() == "" {
		st.RelayErr = fmt.Errorf("relay address %q: want https://HOST:PORT", r.URL)
		return
	}
	start := d.Now()
	chain, err := d.Handshake(ctx, u.Host)
	if err != nil {
		st.RelayErr = Reason(err)
		return
	}
	st.RelayUp, st.RTT = true, d.Now().Sub(start)
	if len(chain) > 0 {
		st.Fingerprint = certs.PinOf(chain[len(chain)-1])
	}
	if err := certs.VerifyChain(r.CAFile, r.Pin, u.Hostname(), chain); err != nil {
		st.Untrusted, st.RelayErr = true, err
	}
}

// ErrUntrusted reports a relay certificate that neither the CA file, the
// pin nor the system roots vouch for.
var ErrUntrusted = certs.ErrUntrusted

// quicHandshake completes a QUIC handshake (ALPN h3) with addr and returns
// the server's certificate chain; trust is decided by the caller.
func quicHandshake(ctx context.Context, addr string) ([][]byte, error) {
	conf := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}, MinVersion: tls.VersionTLS13}
	conn, err := quic.DialAddr(ctx, addr, conf, &quic.Config{HandshakeIdleTimeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	defer conn.CloseWithError(0, "probe")
	pcs := conn.ConnectionState().TLS.PeerCertificates
	if len(pcs) == 0 {
		return nil, errors.New("the relay sent no certificate")
	}
	chain := make([][]byte, len(pcs))
	for i, c := range pcs {
		chain[i] = c.Raw
	}
	return chain, nil
}

// Reason turns a network error into words: "timed out", "connection
// refused", "no route", "name not found".
func Reason(err error) error {
	var dnsErr *net.DNSError
	var idle *quic.IdleTimeoutError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrIntercepted):
		return err
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &idle), os.IsTimeout(err):
		return fmt.Errorf("%w: no answer", ErrTimeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w", ErrRefused)
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return fmt.Errorf("%w", ErrNoRoute)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%w: %s", ErrName, dnsErr.Name)
	}
	return err
}

// Reasons Reason sorts errors into.
var (
	ErrTimeout = errors.New("timed out")
	ErrRefused = errors.New("connection refused")
	ErrNoRoute = errors.New("no route to the network")
	ErrName    = errors.New("host name not found")
	// ErrIntercepted: something answered in the real site's place (a
	// captive portal, an intercepting proxy) with a certificate that does
	// not check out.
	ErrIntercepted = errors.New("answered by something else than the site (captive portal or proxy?)")
)

// Run checks now and then every Interval until ctx ends, calling update
// with each result. relay is asked for the current target before each
// check, so edits in the window apply at the next one.
func (c *Checker) Run(ctx context.Context, relay func() Relay, update func(Status)) {
	d := c.defaults()
	for {
		update(c.Check(ctx, relay()))
		select {
		case <-ctx.Done():
			return
		case <-d.Tick(d.Interval):
		}
	}
}
