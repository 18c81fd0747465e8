package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoScript starts scripts/demo.sh (what make demo runs) on listen with
// this run's binaries.
func demoScript(t testing.TB, listen string) (*exec.Cmd, *syncBuffer, chan error, string) {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "scripts", "demo.sh"))
	cmd.Env = append(os.Environ(), "QUICAST_BIN="+binDir, "QUICAST_DEMO_DIR="+dir, "QUICAST_DEMO_LISTEN="+listen)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
		}
	})
	return cmd, out, done, dir
}

// make demo on a port another program holds says so at once, and prints no
// login for a relay that does not run.
func TestDemoOnBusyPort(t *testing.T) {
	port := freePort(t)
	busy, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, out, done, _ := demoScript(t, fmt.Sprintf("127.0.0.1:%d", port))
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("the demo succeeded on a busy port:\n%s", out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo still runs on a busy port:\n%s", out.String())
	}
	if s := out.String(); !strings.Contains(s, "taken by another program") || strings.Contains(s, "Password:") {
		t.Errorf("demo on a busy port said:\n%s", s)
	}
}

// When the demo's sender dies the relay keeps serving and the demo says
// so; Ctrl-C then stops everything.
func TestDemoSurvivesItsSender(t *testing.T) {
	port := freePort(t)
	cmd, out, done, dir := demoScript(t, fmt.Sprintf("127.0.0.1:%d", port))
	if err := waitFor(t.Context(), 60*time.Second, func() (bool, error) {
		return strings.Contains(out.String(), "quicast demo is running") && strings.Contains(out.String(), "publishing \"demo\""), nil
	}); err != nil {
		t.Fatalf("demo not running:\n%s", out.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("https://localhost:%d/watch/demo", port)) || !strings.Contains(out.String(), "Password:") {
		t.Errorf("no watch URL or login printed:\n%s", out.String())
	}
	if err := exec.Command("pkill", "-KILL", "-f", "quicast-send .*"+filepath.Join(dir, "demo.key")).Run(); err != nil {
		t.Fatalf("kill the sender: %v", err)
	}
	if err := waitFor(t.Context(), 20*time.Second, func() (bool, error) {
		return strings.Contains(out.String(), "the sender stopped"), nil
	}); err != nil {
		t.Fatalf("the demo did not say its sender stopped:\n%s", out.String())
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("the relay stopped with its sender: %v", err)
	}
	c.Close()
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo after Ctrl-C: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Ctrl-C did not stop the demo")
	}
	if !strings.Contains(out.String(), "both stopped") {
		t.Errorf("demo output:\n%s", out.String())
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		c.Close()
		t.Error("the relay still serves after Ctrl-C")
	}
}
