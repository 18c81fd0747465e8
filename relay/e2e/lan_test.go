package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/relay/e2e/browser"
)

// lanAddr is this machine's first non-loopback IPv4 address: what another
// machine on the LAN reaches it by.
func lanAddr(t testing.TB) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			if ip := p.Addr(); ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
				return ip.String()
			}
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address: nothing to reach it by from a LAN")
	return ""
}

// TestLANFollowingREADME broadcasts "for real" as the README says: a relay
// listening on every address, a user and a stream made with its commands,
// a sender and a browser that reach it by the machine's LAN address and
// trust it by its CA — the sender with -ca, then with the CA fingerprint
// the relay printed (-pin), the browser by importing the CA (no
// certificate errors ignored).
func TestLANFollowingREADME(t *testing.T) {
	ip := lanAddr(t)
	data := filepath.Join(t.TempDir(), "quicast")
	relayBin := filepath.Join(binDir, "quicast-relay")

	// echo 's3cret-passw0rd' | bin/quicast-relay -data /var/lib/quicast user add alice
	cmd := exec.Command(relayBin, "-data", data, "user", "add", "alice")
	cmd.Stdin = strings.NewReader("s3cret-passw0rd\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	// bin/quicast-relay -data /var/lib/quicast stream add class   # prints KEY
	out, err := exec.Command(relayBin, "-data", data, "stream", "add", "class").Output()
	if err != nil {
		t.Fatalf("stream add: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	key := strings.TrimSpace(lines[len(lines)-1])

	// bin/quicast-relay -listen :8443 -data /var/lib/quicast &
	port := freePort(t)
	relay := start(t, "quicast-relay", "-listen", fmt.Sprintf(":%d", port), "-data", data)
	lanURL := fmt.Sprintf("https://%s:%d/login", ip, port)
	var caFP string
	if err := waitFor(t.Context(), 30*time.Second, func() (bool, error) {
		sc := bufio.NewScanner(strings.NewReader(relay.out.String()))
		found := false
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			found = found || line == lanURL
			if fp, ok := strings.CutPrefix(line, "CA SHA-256:"); ok {
				caFP = strings.TrimSpace(fp)
			}
		}
		return found && caFP != "", nil
	}); err != nil {
		t.Fatalf("the relay did not print %s and its CA fingerprint:\n%s", lanURL, relay.out.String())
	}
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(caFP) {
		t.Fatalf("CA fingerprint %q", caFP)
	}
	base := strings.TrimSuffix(lanURL, "/login")
	ca := filepath.Join(data, "certs", "ca.pem")

	// bin/quicast-send -relay https://relay.example:8443 -stream class -key KEY -ca /var/lib/quicast/certs/ca.pem ...
	send := start(t, "quicast-send", "-relay", base, "-stream", "class", "-key", key, "-ca", ca, "-video", "test", "-audio", "test")
	if err := waitFor(t.Context(), 20*time.Second, func() (bool, error) {
		return strings.Contains(send.out.String(), "publishing \"class\""), nil
	}); err != nil {
		t.Fatalf("the sender did not publish by the LAN address with -ca:\n%s", send.out.String())
	}

	ctx := browser.New(t, browser.TrustingCA(t, ca), browser.FakeMedia())
	run(t, ctx, 20*time.Second, chromedp.Navigate(lanURL))
	if title, err := eval[string](ctx, `document.title`); err != nil || !strings.Contains(title, "log in") {
		t.Fatalf("the login page at %s did not load with the imported CA: title %q, %v", lanURL, title, err)
	}
	browser.LogIn(t, ctx, base, "alice", "s3cret-passw0rd")
	run(t, ctx, 20*time.Second, chromedp.Navigate(base+"/watch/class"))
	s := waitStats(t, ctx, 60*time.Second, "playing by the LAN address", func(s playerStats) bool {
		return s.State == "playing" && s.VideoFramesRendered >= 30 && s.AudioSamplesPlayed >= 48000
	})
	t.Logf("watching %s: %v", base, s)
	screenshot(t, ctx, "watch-lan")

	// The same sender, trusting the relay by the fingerprint it printed.
	send.stop()
	waitStats(t, ctx, 20*time.Second, "ended", func(s playerStats) bool { return s.State == "ended" })
	before, _ := stats(ctx)
	pinned := start(t, "quicast-send", "-relay", base, "-stream", "class", "-key", key, "-pin", caFP, "-video", "test", "-audio", "test")
	s = playsAgain(t, ctx, "with a sender that pinned the CA", before)
	if exited, err := pinned.wait(0); exited {
		t.Fatalf("pinned sender exited: %v\n%s", err, pinned.out.String())
	}

	// bin/quicast-relay room add team; the browser joins the room by the
	// LAN address and publishes from its worker.
	if out, err := exec.Command(relayBin, "-data", data, "room", "add", "team").CombinedOutput(); err != nil {
		t.Fatalf("room add: %v\n%s", err, out)
	}
	run(t, ctx, 20*time.Second, chromedp.Navigate(base+"/room/team?size="+callSize))
	run(t, ctx, 20*time.Second, chromedp.Click(chromedp.CSS("#join")))
	var pub publishStats
	if err := waitFor(ctx, 30*time.Second, func() (bool, error) {
		var err error
		pub, err = eval[publishStats](ctx, `window.quicastPublishStats ? window.quicastPublishStats() : {state: "not loaded"}`)
		return err == nil && pub.State == "live" && pub.Worker && pub.AudioPackets > 100 && pub.VideoFrames > 10, err
	}); err != nil {
		screenshot(t, ctx, "fail-room-lan")
		t.Fatalf("the browser does not publish into a room by the LAN address: %+v (%v)", pub, err)
	}
	t.Logf("in room team by %s: %+v", base, pub)

	// A second person joins from a browser context of their own: each
	// sees and hears the other, played in the room page's players worker.
	cmd = exec.Command(relayBin, "-data", data, "user", "add", "bob")
	cmd.Stdin = strings.NewReader("bob's passw0rd\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user add bob: %v\n%s", err, out)
	}
	bob := browser.Incognito(t, ctx)
	browser.LogIn(t, bob, base, "bob", "bob's passw0rd")
	run(t, bob, 20*time.Second, chromedp.Navigate(base+"/room/team?size="+callSize))
	run(t, bob, 20*time.Second, chromedp.Click(chromedp.CSS("#join")))
	for _, side := range []struct {
		name string
		ctx  context.Context
	}{{"alice", ctx}, {"bob", bob}} {
		var last playerStats
		if err := waitFor(side.ctx, 60*time.Second, func() (bool, error) {
			_, s, err := otherStats(side.ctx)
			last = s
			return err == nil && s.State == "playing" && s.InWorker && s.VideoFramesRendered >= 30 && s.AudioSamplesPlayed >= 48000, err
		}); err != nil {
			screenshot(t, side.ctx, "fail-room-lan-"+side.name)
			t.Fatalf("%s does not see and hear the other by the LAN address: %v (%v)", side.name, last, err)
		}
		t.Logf("%s sees the other by %s: %v", side.name, base, last)
	}
	screenshot(t, ctx, "room-lan")
}
