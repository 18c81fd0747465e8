package main

import (
	"fmt"
	"image/color"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// lanIP is this machine's first non-loopback IPv4 address: what another
// machine on the LAN dials (127.0.0.1 when there is none).
func lanIP() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return "127.0.0.1"
}

// freePort returns a port free for both TCP and UDP now.
func freePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if u, err := net.ListenUDP("udp", &net.UDPAddr{Port: p}); err == nil {
			u.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

var (
	codeInLog = regexp.MustCompile(`taking direct calls.* code=(\d{6})`)
	// The window's call report (gio-ui/ui call.report) of a party.
	silentInLog     = regexp.MustCompile(`call party".* user=alice connected=true .* silentMs=([3-9]\d{3}|\d{5,})`)
	hearsAgainInLog = regexp.MustCompile(`call party".* user=alice connected=true .* audioLost=\d+ kbps=[1-9]\d* silentMs=0`)
)

// TestDirectCallTwoProcesses: two windows, two processes, each on its own
// (virtual) screen, call each other directly by this machine's LAN address
// without a relay, driven as people would with the mouse and keyboard: bob's
// window shows its code (read here from its log), alice types it and clicks
// Start call, bob clicks Answer; each window shows the other's picture —
// photographed; alice hangs up.
func TestDirectCallTwoProcesses(t *testing.T) {
	bin, bobScreen := windowUnderXvfb(t, "xdotool", "ffmpeg")
	aliceScreen := startXvfb(t)
	bobPort, alicePort := freePort(t), freePort(t)
	settings := func(name, peer string) string {
		return fmt.Sprintf(`{"mode":"call","callVia":"direct","callUser":%q,"peerAddr":%q,"camera":"test","microphone":"test","size":"640x480","fps":15}`, name, peer)
	}
	bob := startWindow(t, bin, bobScreen, settings("bob", ""), nil, "-lang", "en", "-call-port", strconv.Itoa(bobPort))
	alice := startWindow(t, bin, aliceScreen, settings("alice", net.JoinHostPort(lanIP(), strconv.Itoa(bobPort))), nil,
		"-lang", "en", "-call-port", strconv.Itoa(alicePort))
	// Bob's code: the newest in his log (five mistyped tries make a new
	// one).
	code := func() string {
		all := codeInLog.FindAllStringSubmatch(bob.logs.String(), -1)
		if len(all) == 0 {
			return ""
		}
		return all[len(all)-1][1]
	}
	waitUntil(t, "bob's window to take calls", func() bool { return code() != "" })
	dir := artifacts(t)
	t.Cleanup(func() {
		if t.Failed() {
			grab(t, aliceScreen, filepath.Join(dir, "fail-direct-alice.png"))
			grab(t, bobScreen, filepath.Join(dir, "fail-direct-bob.png"))
			t.Logf("screens at the failure: %s/fail-direct-{alice,bob}.png", dir)
		}
	})
	// Alice's window drawn: the blue Start call, bottom left.
	shot := filepath.Join(t.TempDir(), "alice.png")
	waitUntil(t, "alice's window", func() bool {
		c := color.RGBAModel.Convert(grab(t, aliceScreen, shot).At(18, 676)).(color.RGBA)
		return c.B > 0xa0 && c.R < 0x60
	})
	// Their code, then Start call, until bob's window rings (the green
	// Answer under "alice is calling"): typed again while alice's window
	// shows the blue Start call — keys and clicks can come before the
	// window takes input, and a code mistyped that way is refused.
	// Two minutes: on a loaded machine one attempt takes seconds, and five
	// mistyped ones make bob's window take a new code.
	bobShot := filepath.Join(t.TempDir(), "bob.png")
	rang := poll(2*time.Minute, func() bool {
		if c := color.RGBAModel.Convert(grab(t, aliceScreen, shot).At(18, 676)).(color.RGBA); c.B > 0xa0 && c.R < 0x60 {
			alice.xdo("mousemove", "385", "358", "click", "1")
			alice.xdo("key", "ctrl+a", "BackSpace")
			alice.xdo("type", code())
			alice.xdo("mousemove", "40", "690", "click", "1")
		}
		return poll(3*time.Second, func() bool {
			c := color.RGBAModel.Convert(grab(t, bobScreen, bobShot).At(535, 531)).(color.RGBA)
			return c.G > 0x60 && c.R < 0x60 && c.B < 0x60
		})
	})
	if !rang {
		t.Fatal("timed out waiting for bob's window to ring")
	}
	grab(t, bobScreen, filepath.Join(dir, "quicast-direct-ringing.png"))
	bob.xdo("mousemove", "535", "531", "click", "1") // Answer
	for _, s := range []struct{ name, screen string }{{"alice", aliceScreen}, {"bob", bobScreen}} {
		path := filepath.Join(dir, "quicast-direct-"+s.name+".png")
		if !poll(30*time.Second, func() bool { return barsRight(grab(t, s.screen, path)) >= 6 }) {
			t.Fatalf("%s's window does not show the other's picture (%s)", s.name, path)
		}
		t.Logf("%s: %s", s.name, path)
	}
	// Alice's network goes: her process stopped, nothing comes from her
	// (her TCP connection stays, as through a network that drops packets).
	// Bob's window says so (its log reports the silence; the screen is
	// photographed), and once she is back the call goes on by itself.
	mark := len(bob.logs.String())
	if err := syscall.Kill(alice.pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			syscall.Kill(alice.pid, syscall.SIGCONT)
		}
	}()
	if !poll(45*time.Second, func() bool { return silentInLog.MatchString(bob.logs.String()[mark:]) }) {
		t.Fatalf("bob's window does not report the silence while alice is gone:\n%s", bob.logs.String()[mark:])
	}
	grab(t, bobScreen, filepath.Join(dir, "quicast-direct-silent.png"))
	t.Logf("bob, nothing from alice: %s", filepath.Join(dir, "quicast-direct-silent.png"))
	syscall.Kill(alice.pid, syscall.SIGCONT)
	stopped = false
	mark = len(bob.logs.String())
	if !poll(45*time.Second, func() bool { return hearsAgainInLog.MatchString(bob.logs.String()[mark:]) }) {
		t.Fatalf("bob's window does not hear alice again after she is back:\n%s", bob.logs.String()[mark:])
	}
	if !poll(30*time.Second, func() bool { return barsRight(grab(t, bobScreen, bobShot)) >= 6 }) {
		t.Fatalf("bob's window does not show alice's picture again (%s)", bobShot)
	}

	// Bob's window is back to Start call, blue, by itself.
	alice.hangUpUntil(func() bool {
		c := color.RGBAModel.Convert(grab(t, bobScreen, bobShot).At(18, 676)).(color.RGBA)
		return c.B > 0xa0 && c.R < 0x60
	})
	grab(t, bobScreen, filepath.Join(dir, "quicast-direct-hung-up.png"))
}
