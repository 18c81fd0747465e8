// Package relaytest runs a real quicast relay in the test's process, on a
// loopback port, for the tests of its clients (the sender, the window).
package relaytest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/relay"
)

// Relay is a running relay with its data directory.
type Relay struct {
	URL  string // https://127.0.0.1:PORT
	Dir  string // data directory: certificates, users, streams
	addr string

	cancel context.CancelFunc
	done   chan error
	viewer *http.Client
}

// Start runs a relay on 127.0.0.1 with a fresh data directory until the
// test ends.
func Start(t testing.TB) *Relay {
	t.Helper()
	r := &Relay{Dir: t.TempDir(), addr: "127.0.0.1:0"}
	r.run(t)
	t.Cleanup(r.Stop)
	return r
}

func (r *Relay) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- relay.Run(ctx, relay.Config{Listen: r.addr, DataDir: r.Dir}, func(i relay.Info) { ready <- i.Addr })
	}()
	select {
	case a := <-ready:
		r.URL, r.addr = "https://"+a, a
		r.cancel, r.done = cancel, done
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
}

// Stop shuts the relay down as Ctrl-C would (its senders and viewers are
// told) and waits until it has.
func (r *Relay) Stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

// Restart starts the stopped relay again on the same address and data
// directory.
func (r *Relay) Restart(t testing.TB) {
	t.Helper()
	r.Stop()
	r.run(t)
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

// AddRoom adds a call room.
func (r *Relay) AddRoom(t testing.TB, name string) {
	t.Helper()
	if err := relay.AddRoom(r.Dir, name); err != nil {
		t.Fatal(err)
	}
}

// Rekey gives a stream a new publish key and returns it.
func (r *Relay) Rekey(t testing.TB, name string) string {
	t.Helper()
	key, err := relay.RekeyStream(r.Dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// Live reports whether stream has a sender now, as the stream list (or, for
// a room participant's stream ROOM.USER, the room's list) shows a logged-in
// viewer (the user is made on first use).
func (r *Relay) Live(t testing.TB, stream string) bool {
	t.Helper()
	c := r.client(t)
	if room, _, err := protocol.SplitRoomStream(stream); err == nil {
		resp, err := c.Get(r.URL + protocol.PathRooms + room)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var info protocol.RoomInfo
		if json.NewDecoder(resp.Body).Decode(&info) != nil {
			return false
		}
		return slices.ContainsFunc(info.Participants, func(p protocol.Participant) bool { return p.Stream == stream })
	}
	resp, err := c.Get(r.URL + "/api/streams")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var list []struct {
		Name string `json:"name"`
		Live bool   `json:"live"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return false
	}
	for _, s := range list {
		if s.Name == stream {
			return s.Live
		}
	}
	return false
}

// client returns an HTTPS client that trusts the relay's CA, logged in as
// a viewer "relaytest" (the user is made on first use).
func (r *Relay) client(t testing.TB) *http.Client {
	t.Helper()
	if r.viewer != nil {
		return r.viewer
	}
	r.AddUser(t, "relaytest", "relaytest-password")
	jar, _ := cookiejar.New(nil)
	pool := x509.NewCertPool()
	b, err := os.ReadFile(r.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(b)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Post(r.URL+"/api/login", "application/json", strings.NewReader(`{"username":"relaytest","password":"relaytest-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("relaytest login: %s", resp.Status)
	}
	r.viewer = c
	return c
}

// Metrics returns the samples of the relay's Prometheus metric
// quicast_NAME (its /metrics page) by their labels as written there
// (`{leg="in",over="50ms"}`, or "" for a metric without labels).
func (r *Relay) Metrics(t testing.TB, name string) map[string]float64 {
	t.Helper()
	return ScrapeMetrics(t, r.client(t), r.URL, name)
}

// ScrapeMetrics reads the metric quicast_NAME from the /metrics page of
// the relay at base (https://HOST:PORT) with c, as Relay.Metrics does.
func ScrapeMetrics(t testing.TB, c *http.Client, base, name string) map[string]float64 {
	t.Helper()
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %s %v", resp.Status, err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, "quicast_"+name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		labels, value, _ := strings.Cut(rest, " ")
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[labels] = v
		}
	}
	return out
}
