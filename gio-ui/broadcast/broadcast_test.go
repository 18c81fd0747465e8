package broadcast

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quicast/quicast/relay/relaytest"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/sender/media"
)

func startRelay(t *testing.T) (url, dir, key string) {
	t.Helper()
	r := relaytest.Start(t)
	return r.URL, r.Dir, r.AddStream(t, "demo")
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
		// The relay answers an unknown stream as it answers a wrong key
		// (it does not tell who has no key which streams exist).
		{"no stream", Config{PublishConfig: sender.PublishConfig{Relay: url, Stream: "other", Key: key, CAFile: ca}, Video: test}, BadKey},
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

// The window's broadcast outlives a relay restart: it says it is
// reconnecting, which attempt and when, and is live again by itself; a
// second window on the same stream is refused until it takes over, and the
// first then stops for good.
func TestBroadcastReconnectsAndTakeover(t *testing.T) {
	r := relaytest.Start(t)
	key := r.AddStream(t, "demo")
	cfg := Config{PublishConfig: sender.PublishConfig{Relay: r.URL, Stream: "demo", Key: key, CAFile: r.CAFile()},
		Video: media.Source{Type: media.SourceTest}, Audio: media.Source{Type: media.SourceTest}, Options: small}
	b := Start(cfg)
	defer b.Stop()
	wait(t, b, "live", func(s Status) bool { return s.State == Live && s.Stats.RTCPIn > 0 })

	r.Stop()
	s := wait(t, b, "reconnecting", func(s Status) bool { return s.State == Reconnecting && s.Link.Attempt >= 2 })
	if s.Link.Next.IsZero() || s.Link.Err == nil {
		t.Errorf("reconnecting without the next attempt or the reason: %+v", s.Link)
	}
	r.Restart(t)
	s = wait(t, b, "live again", func(s Status) bool { return s.State == Live && s.Link.Reconnects == 1 })
	rtcp := s.Stats.RTCPIn
	wait(t, b, "the restarted relay answering", func(s Status) bool { return s.Stats.RTCPIn > rtcp+1 })

	second := Start(cfg)
	<-second.Done()
	if s := second.Status(); s.State != Failed || s.Problem != StreamLive {
		t.Fatalf("second sender: %+v, want StreamLive", s)
	}
	cfg.Takeover = true
	third := Start(cfg)
	defer third.Stop()
	wait(t, third, "the takeover live", func(s Status) bool { return s.State == Live })
	select {
	case <-b.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the first broadcast goes on after a takeover")
	}
	if s := b.Status(); s.State != Failed || s.Problem != TakenOver {
		t.Errorf("first sender: state %v problem %v (%v), want TakenOver", s.State, s.Problem, s.Err)
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

// TestThumbnailMatchesReference checks the fast path against the BT.601
// studio-range formulas in floating point (±1 for the fixed point's
// rounding), pixel by pixel, for every chroma subsampling and an odd
// sub-image.
func TestThumbnailMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio440} {
		full := image.NewYCbCr(image.Rect(0, 0, 643, 481), ratio)
		for _, b := range [][]byte{full.Y, full.Cb, full.Cr} {
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
		}
		for _, img := range []*image.YCbCr{full, full.SubImage(image.Rect(7, 5, 600, 400)).(*image.YCbCr)} {
			for _, maxW := range []int{480, 2000, 1} {
				got := Thumbnail(img, maxW)
				b := img.Bounds()
				tw := min(b.Dx(), maxW)
				if got.Bounds().Dx() != tw {
					t.Fatalf("%v %v max %d: %v wide, want %d", ratio, b, maxW, got.Bounds(), tw)
				}
				th := got.Bounds().Dy()
				for y := range th {
					for x := range tw {
						sx, sy := b.Min.X+x*b.Dx()/tw, b.Min.Y+y*b.Dy()/th
						c := img.YCbCrAt(sx, sy)
						r, g, bl := studioRef(c.Y, c.Cb, c.Cr)
						if want := (color.RGBA{r, g, bl, 0xff}); !near(got.RGBAAt(x, y), want) {
							t.Fatalf("%v %v max %d: pixel (%d,%d) = %v, want %v", ratio, b, maxW, x, y, got.RGBAAt(x, y), want)
						}
					}
				}
			}
		}
	}
	if Thumbnail(image.NewYCbCr(image.Rect(0, 0, 0, 0), image.YCbCrSubsampleRatio420), 480) != nil {
		t.Error("thumbnail of an empty image")
	}
	rgba := image.NewRGBA(image.Rect(0, 0, 4, 2))
	rgba.Set(3, 1, color.RGBA{10, 20, 30, 255})
	if got := Thumbnail(rgba, 4).RGBAAt(3, 1); got != (color.RGBA{10, 20, 30, 255}) {
		t.Errorf("RGBA thumbnail pixel %v, want the source's", got)
	}
}

// BenchmarkThumbnail is one camera frame (640×480 4:2:0) made into the
// window's preview; Slow is the per-pixel image/color version it replaced.
func BenchmarkThumbnail(b *testing.B) {
	img := media.TestPicture(640, 480, 1500*time.Millisecond)
	b.Run("Fast", func(b *testing.B) {
		for b.Loop() {
			Thumbnail(img, 480)
		}
	})
	b.Run("Slow", func(b *testing.B) {
		for b.Loop() {
			thumbnailSlow(img, 480)
		}
	})
}

// TestLevelRedrawsWithoutPreview: with no camera, the audio level asks the
// window for redraws itself, about 15 a second (the audio comes in 50
// chunks a second; the status ticker alone would give one).
func TestLevelRedrawsWithoutPreview(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a relay")
	}
	url, dir, key := startRelay(t)
	var changes atomic.Int64
	b := Start(Config{
		PublishConfig: sender.PublishConfig{Relay: url, Stream: "demo", Key: key, CAFile: filepath.Join(dir, "certs", "ca.pem")},
		Audio:         media.Source{Type: media.SourceTest}, Options: small,
		Changed: func() { changes.Add(1) },
	})
	defer b.Stop()
	wait(t, b, "live", func(s Status) bool { return s.State == Live && s.Stats.Audio.Packets > 10 })
	changes.Store(0)
	time.Sleep(2 * time.Second)
	if n := changes.Load(); n < 10 || n > 40 {
		t.Errorf("%d redraws in 2 s of audio without video, want about 30 (15 Hz)", n)
	}
}
