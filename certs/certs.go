// Package certs manages the relay's TLS certificates: a long-lived local CA,
// short-lived ECDSA P-256 leaf certificates it signs (valid at most 14 days,
// the limit browsers put on WebTransport serverCertificateHashes, W3C
// WebTransport §4.4 "custom certificate requirements"), their rotation without
// a restart, and the SHA-256 hashes a page passes to WebTransport. A
// user-provided certificate and key replace all of it.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

const (
	// MaxLeafValidity is the longest validity a browser accepts for a
	// certificate pinned by serverCertificateHashes (Chromium: 14 days).
	MaxLeafValidity = 14 * 24 * time.Hour
	// LeafValidity is the validity of the leaf certificates the Manager issues.
	LeafValidity = 13 * 24 * time.Hour
	// RenewBefore is how long before expiry a leaf is replaced.
	RenewBefore = 3 * 24 * time.Hour
	caValidity  = 10 * 365 * 24 * time.Hour
)

// File names inside the Manager's directory.
const (
	CAFile      = "ca.pem"
	caKeyFile   = "ca-key.pem"
	leafFile    = "leaf.pem"
	leafKeyFile = "leaf-key.pem"
)

var (
	errNoCert   = errors.New("certs: no certificate in PEM data")
	errNoKey    = errors.New("certs: no private key in PEM data")
	errMismatch = errors.New("certs: private key does not match the certificate")
	errExpired  = errors.New("certs: certificate expired")
)

// Config configures a Manager. The zero value of every field but Dir means
// the default.
type Config struct {
	// Dir holds the CA and the current leaf (created 0700 on first use).
	Dir string
	// Hosts are the DNS names and IP addresses the leaf is valid for;
	// default DefaultHosts. A stored leaf that does not cover them all is
	// replaced.
	Hosts []string
	// CertFile and KeyFile, when set, name a user-provided certificate chain
	// and key (PEM) served instead of the local CA's leaves.
	CertFile, KeyFile string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger reports renewals that failed (at most once a minute); nil:
	// none.
	Logger *slog.Logger
}

// Manager serves the current certificate and renews it before expiry. It is
// safe for concurrent use.
type Manager struct {
	cfg  Config
	user bool

	// renewing makes renewals single-flight: handshakes that find the
	// leaf stale at once renew it once, and the key and certificate
	// written to disk are always one pair.
	renewing   sync.Mutex
	lastFailed time.Time // last renewal failure logged (under renewing)

	mu     sync.Mutex
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte
	leaf   *tls.Certificate
	hashes [][32]byte // current leaf first, then the previous one during rotation
}

// New loads or creates the CA and leaf in cfg.Dir, or loads the user's
// certificate. Errors name the file involved.
func New(cfg Config) (*Manager, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Hosts) == 0 {
		cfg.Hosts = DefaultHosts()
	}
	m := &Manager{cfg: cfg}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, errors.New("certs: a user certificate needs both a certificate and a key file")
		}
		c, err := LoadUserCert(cfg.CertFile, cfg.KeyFile, cfg.Now())
		if err != nil {
			return nil, err
		}
		m.user = true
		m.setLeaf(c)
		return m, nil
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	if err := m.loadOrCreateCA(); err != nil {
		return nil, err
	}
	if c, err := m.loadLeaf(); err == nil && m.fresh(c) && Covers(c.Leaf, cfg.Hosts) && c.Leaf.CheckSignatureFrom(m.ca) == nil {
		// Served with the CA, so that a client can check a pin of the CA.
		c.Certificate = append(c.Certificate[:1], m.ca.Raw)
		m.setLeaf(c)
		return m, nil
	}
	if err := m.renew(); err != nil {
		return nil, err
	}
	return m, nil
}

// DefaultHosts are localhost, 127.0.0.1, ::1 and the machine's host name.
func DefaultHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		hosts = append(hosts, h)
	}
	return hosts
}

// Covers reports whether leaf is valid for every one of hosts (DNS names
// and IP addresses).
func Covers(leaf *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// SetHosts makes the leaf cover hosts from now on, issuing a new one at
// once when the current one does not (an address of the machine changed).
// It reports whether it did. A user certificate is left alone.
func (m *Manager) SetHosts(hosts []string) (renewed bool, err error) {
	if m.user || len(hosts) == 0 {
		return false, nil
	}
	m.mu.Lock()
	m.cfg.Hosts = append([]string(nil), hosts...)
	leaf := m.leaf
	m.mu.Unlock()
	if leaf != nil && Covers(leaf.Leaf, hosts) {
		return false, nil
	}
	return true, m.renew()
}

// Leaf returns the certificate served now.
func (m *Manager) Leaf() *x509.Certificate {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leaf.Leaf
}

// CAFingerprint returns the SHA-256 fingerprint of the local CA
// certificate: what a sender pins (-pin) to trust this relay across leaf
// rotations, and what a person compares when importing the CA. Zero with a
// user certificate.
func (m *Manager) CAFingerprint() Pin {
	if m.user || m.ca == nil {
		return Pin{}
	}
	return PinOf(m.ca.Raw)
}

// GetCertificate is a tls.Config.GetCertificate callback. It renews the
// leaf when fewer than RenewBefore remain.
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	m.mu.Lock()
	leaf := m.leaf
	m.mu.Unlock()
	if !m.user && !m.fresh(leaf) {
		m.renewing.Lock()
		m.mu.Lock()
		leaf = m.leaf
		m.mu.Unlock()
		if !m.fresh(leaf) { // not renewed by another handshake meanwhile
			if err := m.renewLocked(); err != nil {
				if now := m.cfg.Now(); m.cfg.Logger != nil && now.Sub(m.lastFailed) >= time.Minute {
					m.lastFailed = now
					m.cfg.Logger.Error("certificate renewal failed: serving the current one while it lasts",
						"err", err, "notAfter", leaf.Leaf.NotAfter)
				}
			}
			m.mu.Lock()
			leaf = m.leaf
			m.mu.Unlock()
		}
		m.renewing.Unlock()
	}
	return leaf, nil
}

// Hashes returns the SHA-256 hashes of the served leaf certificates' DER, the
// current one first; during a rotation the previous one follows, so a page
// that got the hashes just before the switch still connects.
func (m *Manager) Hashes() [][32]byte {
	_, _ = m.GetCertificate(nil)
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][32]byte(nil), m.hashes...)
}

// CurrentHash returns the SHA-256 hash of the current leaf's DER.
func (m *Manager) CurrentHash() [32]byte { return m.Hashes()[0] }

// CAPEM returns the local CA certificate in PEM, or nil with a user
// certificate.
func (m *Manager) CAPEM() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.caPEM
}

// CAFile returns the path of the CA certificate, or "" with a user certificate.
func (m *Manager) CAFile() string {
	if m.user {
		return ""
	}
	return filepath.Join(m.cfg.Dir, CAFile)
}

// NotAfter returns the expiry of the current leaf.
func (m *Manager) NotAfter() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leaf.Leaf.NotAfter
}

func (m *Manager) fresh(c *tls.Certificate) bool {
	return c != nil && c.Leaf != nil && m.cfg.Now().Add(RenewBefore).Before(c.Leaf.NotAfter) &&
		!m.cfg.Now().Before(c.Leaf.NotBefore)
}

func (m *Manager) setLeaf(c *tls.Certificate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := sha256.Sum256(c.Leaf.Raw)
	if m.leaf != nil && m.leaf.Leaf.NotAfter.After(m.cfg.Now()) {
		m.hashes = [][32]byte{h, m.hashes[0]}
	} else {
		m.hashes = [][32]byte{h}
	}
	m.leaf = c
}

func (m *Manager) loadOrCreateCA() error {
	certPath, keyPath := filepath.Join(m.cfg.Dir, CAFile), filepath.Join(m.cfg.Dir, caKeyFile)
	if _, err := os.Stat(certPath); err == nil {
		c, err := loadPair(certPath, keyPath)
		if err != nil {
			return err
		}
		m.ca, m.caKey = c.Leaf, c.PrivateKey.(*ecdsa.PrivateKey)
		m.caPEM, _ = os.ReadFile(certPath)
		return nil
	}
	if _, err := os.Stat(keyPath); err == nil {
		// A CA key without its certificate: someone deleted ca.pem. A new
		// CA would overwrite the key every sender's -ca or -pin and every
		// browser that imported the CA trusts.
		return fmt.Errorf("certs: %s is missing but the CA's key %s is there: restore %s, "+
			"or delete %s too to start a new CA (then every sender's -ca/-pin and every browser's imported CA must be replaced)",
			certPath, keyPath, CAFile, keyPath)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := m.cfg.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "quicast local CA", Organization: []string{"quicast"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("certs: create CA: %w", err)
	}
	m.ca, _ = x509.ParseCertificate(der)
	m.caKey = key
	m.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writePair(certPath, keyPath, m.caPEM, key); err != nil {
		return err
	}
	return nil
}

func (m *Manager) loadLeaf() (*tls.Certificate, error) {
	return loadPair(filepath.Join(m.cfg.Dir, leafFile), filepath.Join(m.cfg.Dir, leafKeyFile))
}

// renew issues a new leaf signed by the CA and persists it, one renewal
// at a time.
func (m *Manager) renew() error {
	m.renewing.Lock()
	defer m.renewing.Unlock()
	return m.renewLocked()
}

// renewLocked is renew with m.renewing held.
func (m *Manager) renewLocked() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := m.cfg.Now()
	m.mu.Lock()
	hosts := m.cfg.Hosts
	m.mu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"quicast"}},
		// Backdated for clock skew; NotAfter-NotBefore stays within
		// MaxLeafValidity.
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(-time.Hour).Add(LeafValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, m.ca, &key.PublicKey, m.caKey)
	if err != nil {
		return fmt.Errorf("certs: create leaf: %w", err)
	}
	leaf, _ := x509.ParseCertificate(der)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writePair(filepath.Join(m.cfg.Dir, leafFile), filepath.Join(m.cfg.Dir, leafKeyFile), certPEM, key); err != nil {
		return err
	}
	m.setLeaf(&tls.Certificate{Certificate: [][]byte{der, m.ca.Raw}, PrivateKey: key, Leaf: leaf})
	return nil
}

// LoadUserCert loads a PEM certificate chain and its key, checking that they
// match and that the certificate is valid at now.
func LoadUserCert(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	c, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if now.After(c.Leaf.NotAfter) {
		return nil, fmt.Errorf("%w: %s expired on %s", errExpired, certFile, c.Leaf.NotAfter.Format(time.RFC3339))
	}
	return c, nil
}

func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	if b, _ := pem.Decode(certPEM); b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: %s", errNoCert, certFile)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || !isKeyBlock(b.Type) {
		return nil, fmt.Errorf("%w: %s", errNoKey, keyFile)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s and %s: %v", errMismatch, certFile, keyFile, err)
	}
	return &c, nil // Go 1.23+ fills c.Leaf
}

func isKeyBlock(t string) bool {
	return t == "PRIVATE KEY" || t == "EC PRIVATE KEY" || t == "RSA PRIVATE KEY"
}

func writePair(certPath, keyPath string, certPEM []byte, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, certPEM, 0o644)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
