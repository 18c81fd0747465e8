package certs

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

var (
	errBadPin   = errors.New("certs: bad SHA-256 pin")
	errPinMatch = errors.New("certs: no certificate of the server's chain matches the pinned SHA-256")
)

// Pin is a SHA-256 that names a certificate: of its DER encoding (the
// fingerprint browsers and openssl show) or of its SubjectPublicKeyInfo
// (the form of HPKP and Chrome's --ignore-certificate-errors-spki-list).
// Pinning the relay's local CA, rather than its leaf, survives the leaf's
// rotation every 10 days.
type Pin [32]byte

// ParsePin parses 64 hex digits, optionally separated by colons or spaces
// ("AB:CD:…", as browsers and openssl print fingerprints), or the base64 of
// the 32 bytes, optionally after "sha256/".
func ParsePin(s string) (Pin, error) {
	var p Pin
	s = strings.TrimSpace(s)
	clean := strings.NewReplacer(":", "", " ", "").Replace(s)
	if len(clean) == 64 {
		if _, err := hex.Decode(p[:], []byte(clean)); err != nil {
			return p, fmt.Errorf("%w: %v", errBadPin, err)
		}
		return p, nil
	}
	if b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "sha256/")); err == nil && len(b) == 32 {
		copy(p[:], b)
		return p, nil
	}
	return p, fmt.Errorf("%w: %q: want 64 hex digits (AB:CD:…) or sha256/BASE64", errBadPin, s)
}

// String formats the pin as upper-case hex pairs joined by colons.
func (p Pin) String() string {
	var b strings.Builder
	for i, c := range p {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// PinOf returns the pin of a DER certificate: its SHA-256 fingerprint.
func PinOf(der []byte) Pin { return sha256.Sum256(der) }

// SPKIPinOf returns the SHA-256 of a certificate's SubjectPublicKeyInfo.
func SPKIPinOf(c *x509.Certificate) Pin { return sha256.Sum256(c.RawSubjectPublicKeyInfo) }

// VerifyPinned checks a presented chain (DER, leaf first) against pin: one
// of its certificates must have that fingerprint or SPKI hash, and the leaf
// must chain up to it within its validity at now — a pinned CA vouches only
// for leaves it signed, so a stranger's leaf sent with a copy of the CA is
// refused. Host names are not checked: the pin says which relay this is.
func VerifyPinned(p Pin, chain [][]byte, now time.Time) error {
	if len(chain) == 0 {
		return errPinMatch
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("%w: certificate %d: %v", ErrUntrusted, i, err)
		}
		certs[i] = c
	}
	at := -1
	for i, c := range certs {
		if PinOf(c.Raw) == p || SPKIPinOf(c) == p {
			at = i
			break
		}
	}
	if at < 0 {
		return fmt.Errorf("%w: its CA is %s", errPinMatch, PinOf(chain[len(chain)-1]))
	}
	leaf := certs[0]
	if at == 0 {
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return fmt.Errorf("%w: the pinned certificate is valid from %s to %s", ErrUntrusted,
				leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
		}
		return nil
	}
	opts := x509.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	opts.Roots.AddCert(certs[at])
	for _, c := range certs[1:at] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	return nil
}

// ClientConfig returns a TLS client configuration that trusts the server by
// a CA certificate file (PEM), by a pin of a certificate in its chain
// (VerifyPinned), or, with neither, by the system roots.
func ClientConfig(caFile, pin string) (*tls.Config, error) {
	switch {
	case caFile != "" && pin != "":
		return nil, errors.New("certs: give either a CA file or a pin, not both")
	case caFile != "":
		pool, err := loadPool(caFile)
		if err != nil {
			return nil, err
		}
		return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
	case pin != "":
		p, err := ParsePin(pin)
		if err != nil {
			return nil, err
		}
		return &tls.Config{
			MinVersion: tls.VersionTLS12,
			// The pin replaces the system's chain check: VerifyPinned
			// checks the chain up to the pinned certificate.
			InsecureSkipVerify: true,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				return VerifyPinned(p, raw, time.Now())
			},
		}, nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}, nil
}

func loadPool(caFile string) (*x509.CertPool, error) {
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("certs: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("%w: %s", errNoCert, caFile)
	}
	return pool, nil
}

// ErrUntrusted reports a server certificate that neither the CA file, the
// pin nor the system roots vouch for.
var ErrUntrusted = errors.New("the relay's certificate is not trusted")

// VerifyChain makes the trust decision of ClientConfig after the fact, for a
// chain (DER, leaf first) already received from host: by the pin when there
// is one, else by the CA file, else by the system roots. Distrust wraps
// ErrUntrusted; an unreadable CA file or a malformed pin are other errors.
func VerifyChain(caFile, pin, host string, chain [][]byte) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: no certificate", ErrUntrusted)
	}
	if pin != "" {
		p, err := ParsePin(pin)
		if err != nil {
			return err
		}
		if err := VerifyPinned(p, chain, time.Now()); err != nil {
			if !errors.Is(err, ErrUntrusted) {
				err = fmt.Errorf("%w: %v", ErrUntrusted, err)
			}
			return err
		}
		return nil
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	opts := x509.VerifyOptions{DNSName: host, Intermediates: x509.NewCertPool()}
	for _, der := range chain[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			opts.Intermediates.AddCert(c)
		}
	}
	if caFile != "" {
		if opts.Roots, err = loadPool(caFile); err != nil {
			return err
		}
	}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	return nil
}
