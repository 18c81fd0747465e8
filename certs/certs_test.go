package certs

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestManagerIssuesShortLivedLeaf(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Now()}
	m, err := New(Config{Dir: dir, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := m.GetCertificate(nil)
	if v := c.Leaf.NotAfter.Sub(c.Leaf.NotBefore); v > MaxLeafValidity {
		t.Errorf("leaf validity %v > %v", v, MaxLeafValidity)
	}
	if got, want := m.CurrentHash(), sha256.Sum256(c.Leaf.Raw); got != want {
		t.Errorf("CurrentHash = %x, want %x", got, want)
	}
	if c.Leaf.Issuer.CommonName != "quicast local CA" || c.Leaf.PublicKeyAlgorithm.String() != "ECDSA" {
		t.Errorf("leaf issuer %q, key %v", c.Leaf.Issuer.CommonName, c.Leaf.PublicKeyAlgorithm)
	}
	if fi, err := os.Stat(filepath.Join(dir, caKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("CA key file: %v, mode %v", err, fi.Mode())
	}

	// A restart reuses the CA and the still-valid leaf.
	m2, err := New(Config{Dir: dir, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if m2.CurrentHash() != m.CurrentHash() || string(m2.CAPEM()) != string(m.CAPEM()) {
		t.Error("restart issued a new CA or leaf")
	}

	// Ten days on, fewer than RenewBefore remain: a new leaf, same CA, and
	// both hashes served during the rotation.
	old := m.CurrentHash()
	clk.Add(10*24*time.Hour + time.Hour)
	hs := m.Hashes()
	if hs[0] == old || len(hs) != 2 || hs[1] != old {
		t.Errorf("after 10 days hashes = %x, want [new, %x]", hs, old)
	}
	c2, _ := m.GetCertificate(nil)
	if err := c2.Leaf.CheckSignatureFrom(m.ca); err != nil {
		t.Errorf("rotated leaf not signed by the CA: %v", err)
	}
	if !c2.Leaf.NotAfter.After(clk.Now().Add(RenewBefore)) {
		t.Errorf("rotated leaf expires %v", c2.Leaf.NotAfter)
	}
}

func TestTLSHandshakeByCAAndPin(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: m.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	dial := func(cfg *tls.Config) error {
		cfg.ServerName = "localhost"
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	byCA, err := ClientConfig(filepath.Join(dir, CAFile), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(byCA); err != nil {
		t.Errorf("verified by CA: %v", err)
	}
	byPin, err := ClientConfig("", Pin(m.CurrentHash()).String())
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(byPin); err != nil {
		t.Errorf("verified by pin: %v", err)
	}
	wrong := m.CurrentHash()
	wrong[0] ^= 1
	byWrongPin, _ := ClientConfig("", Pin(wrong).String())
	if err := dial(byWrongPin); err == nil || !strings.Contains(err.Error(), "pinned") {
		t.Errorf("wrong pin: err = %v, want a pin mismatch", err)
	}
	system, _ := ClientConfig("", "")
	if err := dial(system); err == nil {
		t.Error("system roots accepted the local CA's leaf")
	}
}

func TestUserCert(t *testing.T) {
	src := t.TempDir()
	m, err := New(Config{Dir: src})
	if err != nil {
		t.Fatal(err)
	}
	leaf, leafKey, caKey := filepath.Join(src, leafFile), filepath.Join(src, leafKeyFile), filepath.Join(src, caKeyFile)
	u, err := New(Config{CertFile: leaf, KeyFile: leafKey})
	if err != nil {
		t.Fatalf("user cert: %v", err)
	}
	if u.CurrentHash() != m.CurrentHash() || u.CAPEM() != nil || u.CAFile() != "" {
		t.Error("user certificate not served as is")
	}
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate"), 0o600)
	for name, c := range map[string]Config{
		"mismatched key": {CertFile: leaf, KeyFile: caKey},
		"garbage cert":   {CertFile: garbage, KeyFile: leafKey},
		"garbage key":    {CertFile: leaf, KeyFile: garbage},
		"missing file":   {CertFile: leaf + ".missing", KeyFile: leafKey},
		"key only":       {KeyFile: leafKey},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := LoadUserCert(leaf, leafKey, time.Now().Add(30*24*time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired user cert: %v", err)
	}
}

func TestParsePin(t *testing.T) {
	var p Pin
	for i := range p {
		p[i] = byte(i * 7)
	}
	for _, s := range []string{p.String(), strings.ReplaceAll(p.String(), ":", ""), strings.ToLower(p.String())} {
		got, err := ParsePin(s)
		if err != nil || got != p {
			t.Errorf("ParsePin(%q) = %x, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "AB", strings.Repeat("ZZ", 32), strings.Repeat("A", 63)} {
		if _, err := ParsePin(bad); err == nil {
			t.Errorf("ParsePin(%q): no error", bad)
		}
	}
}

func FuzzParsePin(f *testing.F) {
	f.Add("AB:CD")
	f.Add(strings.Repeat("0f", 32))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePin(s)
		if err != nil {
			return
		}
		back, err := ParsePin(p.String())
		if err != nil || back != p {
			t.Fatalf("round trip %q -> %s -> %x, %v", s, p, back, err)
		}
	})
}

// A pin of the CA survives the leaf's rotation; a pin of a public key works
// as one of the certificate; a stranger's leaf sent along with the real CA
// is refused; a pin of nothing in the chain is refused.
func TestVerifyPinned(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	m, err := New(Config{Dir: t.TempDir(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	chain := func(m *Manager) [][]byte { c, _ := m.GetCertificate(nil); return c.Certificate }
	first := chain(m)
	if len(first) != 2 {
		t.Fatalf("served chain of %d certificates, want leaf and CA", len(first))
	}
	caPin := m.CAFingerprint()
	leaf, _ := x509.ParseCertificate(first[0])
	for name, p := range map[string]Pin{"CA": caPin, "leaf": PinOf(first[0]), "leaf SPKI": SPKIPinOf(leaf), "CA SPKI": SPKIPinOf(m.ca)} {
		if err := VerifyPinned(p, first, clk.Now()); err != nil {
			t.Errorf("pin of the %s: %v", name, err)
		}
	}
	clk.Add(11 * 24 * time.Hour) // the leaf is renewed
	rotated := chain(m)
	if string(rotated[0]) == string(first[0]) {
		t.Fatal("no rotation")
	}
	if err := VerifyPinned(caPin, rotated, clk.Now()); err != nil {
		t.Errorf("CA pin after the rotation: %v", err)
	}
	if err := VerifyPinned(PinOf(first[0]), rotated, clk.Now()); err == nil {
		t.Error("the old leaf's pin accepted the new leaf")
	}
	// A stranger's leaf with a copy of the real CA appended.
	other, _ := New(Config{Dir: t.TempDir(), Now: clk.Now})
	forged := [][]byte{chain(other)[0], rotated[1]}
	if err := VerifyPinned(caPin, forged, clk.Now()); !errors.Is(err, ErrUntrusted) {
		t.Errorf("a stranger's leaf with our CA: %v, want ErrUntrusted", err)
	}
	if err := VerifyPinned(other.CAFingerprint(), rotated, clk.Now()); err == nil {
		t.Error("a pin of another CA accepted")
	}
	// A pinned CA does not make an expired leaf good.
	if err := VerifyPinned(caPin, rotated, clk.Now().Add(30*24*time.Hour)); err == nil {
		t.Error("expired leaf accepted under a CA pin")
	}
}

func TestParsePinForms(t *testing.T) {
	var p Pin
	for i := range p {
		p[i] = byte(255 - i)
	}
	b64 := base64.StdEncoding.EncodeToString(p[:])
	for _, s := range []string{b64, "sha256/" + b64, " " + p.String() + " "} {
		if got, err := ParsePin(s); err != nil || got != p {
			t.Errorf("ParsePin(%q) = %s, %v", s, got, err)
		}
	}
}

// A leaf made for other names is replaced at start; hosts can be added
// later (the machine got an address) and a leaf is issued at once.
func TestLeafFollowsHosts(t *testing.T) {
	dir := t.TempDir()
	a, err := New(Config{Dir: dir, Hosts: []string{"localhost", "192.0.2.2"}})
	if err != nil {
		t.Fatal(err)
	}
	if !Covers(a.Leaf(), []string{"localhost", "192.0.2.2"}) {
		t.Fatal("leaf does not cover its hosts")
	}
	b, err := New(Config{Dir: dir, Hosts: []string{"localhost", "198.51.100.9"}})
	if err != nil {
		t.Fatal(err)
	}
	if !Covers(b.Leaf(), []string{"198.51.100.9"}) || b.CAFingerprint() != a.CAFingerprint() {
		t.Error("a stored leaf for other names was kept, or the CA changed")
	}
	renewed, err := b.SetHosts([]string{"localhost", "198.51.100.9", "relay.example"})
	if err != nil || !renewed || !Covers(b.Leaf(), []string{"relay.example"}) {
		t.Errorf("SetHosts: renewed %v, %v", renewed, err)
	}
	if renewed, _ := b.SetHosts([]string{"relay.example"}); renewed {
		t.Error("a covered host renewed the leaf")
	}
}

// TestDeletedCACertificate: a data directory whose ca.pem was deleted but
// whose CA key remains is refused with what to do, and the key is not
// overwritten by a new CA.
func TestDeletedCACertificate(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, caKeyFile)
	key, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, CAFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "restore") {
		t.Errorf("without ca.pem: %v, want an error saying to restore it", err)
	}
	if after, _ := os.ReadFile(keyPath); !bytes.Equal(after, key) {
		t.Error("the CA key was overwritten")
	}
}

// TestRenewalSingleFlight: handshakes that all find the leaf due for
// renewal at once get one new leaf, and the pair on disk matches.
func TestRenewalSingleFlight(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Now()}
	m, err := New(Config{Dir: dir, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := m.GetCertificate(nil)
	clk.Add(MaxLeafValidity) // past the renewal point
	leaves := make([]*tls.Certificate, 16)
	var wg sync.WaitGroup
	for i := range leaves {
		wg.Go(func() { leaves[i], _ = m.GetCertificate(nil) })
	}
	wg.Wait()
	for i, l := range leaves {
		if l == old || l != leaves[0] {
			t.Fatalf("handshake %d got leaf %p (old %p, first %p): want one new leaf for all", i, l, old, leaves[0])
		}
	}
	if _, err := loadPair(filepath.Join(dir, leafFile), filepath.Join(dir, leafKeyFile)); err != nil {
		t.Errorf("the leaf on disk: %v", err)
	}
}
