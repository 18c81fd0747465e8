// Package relaytest runs a real quicast relay in the test's process, on a
// loopback port, for the tests of its clients (the sender, the window).
package relaytest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/quicast/quicast/relay"
)

// Relay is a running relay with its data directory.
type Relay struct {
	URL string // https://127.0.0.1:PORT
	Dir string // data directory: certificates, users, streams
}

// Start runs a relay on 127.0.0.1 with a fresh data directory until the
// test ends.
func Start(t testing.TB) *Relay {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- relay.Run(ctx, relay.Config{Listen: "127.0.0.1:0", DataDir: dir}, func(a string) { ready <- a })
	}()
	r := &Relay{Dir: dir}
	select {
	case a := <-ready:
		r.URL = "https://" + a
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// CAFile is the PEM file of the CA that signs the relay's certificates.
func (r *Relay) CAFile() string { return filepath.Join(r.Dir, "certs", "ca.pem") }

// AddStream adds a stream and returns its publish key.
func (r *Relay) AddStream(t testing.TB, name string) string {
	t.Helper()
	key, err := relay.AddStream(r.Dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// AddUser adds a viewer account.
func (r *Relay) AddUser(t testing.TB, name, password string) {
	t.Helper()
	if err := relay.AddUser(r.Dir, name, password); err != nil {
		t.Fatal(err)
	}
}
