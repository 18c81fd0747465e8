package certs

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

var (
	errBadPin   = errors.New("certs: bad SHA-256 pin")
	errPinMatch = errors.New("certs: server certificate does not match the pinned SHA-256")
)

// Pin is the SHA-256 of a certificate's DER encoding.
type Pin [32]byte

// ParsePin parses 64 hex digits, optionally separated by colons or spaces
// ("AB:CD:…", as browsers and openssl print fingerprints).
func ParsePin(s string) (Pin, error) {
	clean := strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s))
	var p Pin
	if len(clean) != 64 {
		return p, fmt.Errorf("%w: %d hex digits, want 64", errBadPin, len(clean))
	}
	if _, err := hex.Decode(p[:], []byte(clean)); err != nil {
		return p, fmt.Errorf("%w: %v", errBadPin, err)
	}
	return p, nil
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

// PinOf returns the pin of a DER certificate.
func PinOf(der []byte) Pin { return sha256.Sum256(der) }

// ClientConfig returns a TLS client configuration that trusts the server by
// a CA certificate file (PEM), by a pinned SHA-256 of its leaf certificate,
// or, with neither, by the system roots.
func ClientConfig(caFile, pin string) (*tls.Config, error) {
	switch {
	case caFile != "" && pin != "":
		return nil, errors.New("certs: give either a CA file or a pin, not both")
	case caFile != "":
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("certs: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("%w: %s", errNoCert, caFile)
		}
		return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
	case pin != "":
		p, err := ParsePin(pin)
		if err != nil {
			return nil, err
		}
		return &tls.Config{
			MinVersion: tls.VersionTLS12,
			// The pin replaces the chain check: the leaf must hash to it.
			InsecureSkipVerify: true,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 {
					return errPinMatch
				}
				got := PinOf(raw[0])
				if !bytes.Equal(got[:], p[:]) {
					return fmt.Errorf("%w: got %s", errPinMatch, got)
				}
				return nil
			},
		}, nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}, nil
}

// ErrUntrusted reports a server certificate that neither the CA file, the
// pin nor the system roots vouch for.
var ErrUntrusted = errors.New("the relay's certificate is not trusted")

// VerifyLeaf makes the trust decision of ClientConfig after the fact, for a
// leaf certificate (DER) already received from host: by the pin when there
// is one, else by the CA file, else by the system roots. Distrust wraps
// ErrUntrusted; an unreadable CA file or a malformed pin are other errors.
func VerifyLeaf(caFile, pin, host string, leaf []byte) error {
	cert, err := x509.ParseCertificate(leaf)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	opts := x509.VerifyOptions{DNSName: host}
	switch {
	case pin != "":
		p, err := ParsePin(pin)
		if err != nil {
			return err
		}
		if p != PinOf(leaf) {
			return fmt.Errorf("%w: its fingerprint changed (pinned %s)", ErrUntrusted, p)
		}
		return nil
	case caFile != "":
		b, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("CA file: %w", err)
		}
		opts.Roots = x509.NewCertPool()
		opts.Roots.AppendCertsFromPEM(b)
	}
	if _, err := cert.Verify(opts); err != nil {
		return fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	return nil
}
