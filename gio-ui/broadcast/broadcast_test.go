package broadcast

import (
	"context"
	"errors"
	"image"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/quicast/quicast/relay"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/sender/media"
)

func startRelay(t *testing.T) (url, dir, key string) {
	t.Helper()
	dir = t.TempDir()
	key, err := relay.AddStream(dir, "demo")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- relay.Run(ctx, relay.Config{Listen: "127.0.0.1:0", DataDir: dir}, func(a string) { ready <- a })
	}()
	select {
	case a := <-ready:
		url = "https://" + a
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })
	return url, dir, key
}

func wait(t *testing.T, b *Broadcast, what string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := b.Status()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %+v", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var small = media.Options{Width: 320, Height: 240, FPS: 15}

func TestBroadcastToRelay(t *testing.T) {
	url, dir, key := startRelay(t)
	changed := make(chan struct{}, 1)
	b := Start(Config{
		PublishConfig: sender.PublishConfig{Relay: url, Stream: "demo", Key: key, CAFile: filepath.Join(dir, "certs", "ca.pem")},
		Video:         media.Source{Type: media.SourceTest}, Audio: media.Source{Type: media.SourceTest}, Options: small,
		Changed: func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	})
	s := wait(t, b, "live", func(s Status) bool { return s.State == Live && s.Stats.Video.Packets > 20 && s.Stats.Viewers == 0 })
	if s.WatchURL != url+"/watch/demo" {
		t.Errorf("watch URL %q", s.WatchURL)
	}
	select {
	case <-changed:
	default:
		t.Error("the window was never told about a change")
	}
	p := b.Preview()
	if p == nil || p.Bounds() != image.Rect(0, 0, 320, 240) {
		t.Fatalf("preview %v", p)
	}
	if p2 := wait(t, b, "next preview", func(Status) bool { return b.Preview() != p }); p2.State != Live {
		t.Error("not live")
	}
	wait(t, b, "audio level", func(Status) bool { return !math.IsInf(b.Level(), -1) && b.Level() > -20 })
	b.Stop()
	if s := b.Status(); s.State != Stopped || s.Err != nil {
		t.Errorf("after Stop: %+v", s)
	}
}

func TestBroadcastProblems(t *testing.T) {
	url, dir, key := startRelay(t)
	ca := filepath.Join(dir, "certs", "ca.pem")
	test := media.Source{Type: media.SourceTest}
	for _, tc := range []struct {
		name string
		cfg  Config
		want Problem
	}{
		{"wrong key", Config{PublishConfig: sender.PublishConfig{Relay: url, Stream: "demo", Key: "nope", CAFile: ca}, Video: test}, BadKey},
		{"no stream", Config{PublishConfig: sender.PublishConfig{Relay: url, Stream: "other", Key: key, CAFile: ca}, Video: test}, NoStream},
		{"untrusted", Config{PublishConfig: sender.PublishConfig{Relay: url, Stream: "demo", Key: key}, Video: test}, Untrusted},
		{"missing file", Config{PublishConfig: sender.PublishConfig{Relay: url, Stream: "demo", Key: key, CAFile: ca},
			Video: media.Source{Type: media.SourceFile, Arg: filepath.Join(t.TempDir(), "gone.y4m")}}, FileError},
		{"no camera", Config{PublishConfig: sender.PublishConfig{Relay: url, Stream: "demo", Key: key, CAFile: ca},
			Video: media.Source{Type: media.SourceDevice, Arg: "Integrated Camera"}}, DeviceBusy},
	} {
		tc.cfg.Options = small
		b := Start(tc.cfg)
		select {
		case <-b.Done():
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: still running", tc.name)
		}
		if s := b.Status(); s.State != Failed || s.Problem != tc.want || s.Err == nil {
			t.Errorf("%s: state %v problem %v err %v; want problem %v", tc.name, s.State, s.Problem, s.Err, tc.want)
		}
	}
}

func TestStopWhileStarting(t *testing.T) {
	b := Start(Config{PublishConfig: sender.PublishConfig{Relay: "https://192.0.2.1:9", Stream: "demo", Key: "k"},
		Video: media.Source{Type: media.SourceTest}, Options: small})
	done := make(chan struct{})
	go func() { b.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not end a broadcast stuck in the handshake")
	}
	if s := b.Status(); s.State != Stopped && !errors.Is(s.Err, context.Canceled) {
		t.Errorf("after Stop: %+v", s)
	}
}
