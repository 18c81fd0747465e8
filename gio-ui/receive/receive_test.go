package receive

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"image/color"
	"math"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/gio-ui/internal/calltest"
	"github.com/quicast/quicast/protocol/watch"
	"github.com/quicast/quicast/relay/relaytest"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/sender/media"
)

func client(t testing.TB, r *relaytest.Relay) *watch.Client {
	t.Helper()
	pem, err := os.ReadFile(r.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return watch.NewClient(watch.Config{Relay: r.URL, TLS: &tls.Config{RootCAs: roots}})
}

// receiver logs in to r as the test viewer and watches stream until the
// test ends.
func receiver(t testing.TB, ctx context.Context, r *relaytest.Relay, stream string) *Receiver {
	t.Helper()
	c := client(t, r)
	if err := c.Login(ctx, "viewer", "watch it live"); err != nil {
		t.Fatal(err)
	}
	rc, err := Start(ctx, c, stream, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	return rc
}

// The desktop receiver watches a real broadcast (test picture and tone,
// libvpx, SRTP, the relay, WebTransport) and decodes its pictures: the
// right size, the test card's colour bars (but in its sync flashes), and
// a capture time on the sender's clock a moment before.
func TestReceiveBroadcast(t *testing.T) {
	r := relaytest.Start(t)
	key := r.AddStream(t, "demo")
	r.AddUser(t, "viewer", "watch it live")
	calltest.Publish(t, r, "demo", key, 320, 240, 15)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := client(t, r).Login(ctx, "viewer", "wrong password"); !errors.Is(err, watch.ErrLogin) {
		t.Errorf("wrong password: %v, want ErrLogin", err)
	}
	rc := receiver(t, ctx, r, "demo")

	var delays []time.Duration
	frames, barred := 0, 0
	for len(delays) < 30 {
		select {
		case f := <-rc.Frames():
			if got := f.Image.Bounds().Size(); got.X != 320 || got.Y != 240 {
				t.Fatalf("frame of %v, want 320×240", got)
			}
			frames++
			if bars(f) >= 6 {
				barred++ // the others: the test card's white flash, for A/V sync
			}
			if !f.Capture.IsZero() {
				d := f.Decoded.Sub(f.Capture)
				if d < -50*time.Millisecond || d > 5*time.Second {
					t.Fatalf("decoded %v after its capture", d)
				}
				delays = append(delays, d)
			}
		case <-ctx.Done():
			t.Fatalf("%d frames with a capture time; receiver %+v", len(delays), rc.Stats())
		}
	}
	if barred < frames*3/4 {
		t.Errorf("%d of %d frames show the test card's colour bars", barred, frames)
	}
	// The sound: read as a speaker would, 10 ms at a time on the test's
	// clock, until the test tone's 1 kHz beep is heard.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	out := make([]int16, frame10ms*Channels)
	heard := false
	for !heard {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("no beep in the sound; playout %+v, receiver %+v", rc.Playout().Stats(), rc.Stats())
		}
		rc.Playout().Read(out)
		heard = beep(out)
	}
	s := rc.Stats()
	t.Logf("capture → decoded %v; %+v; playout %+v", delays, s, rc.Playout().Stats())
	if s.FramesDecoded < 20 || s.Groups == 0 || s.AudioPackets == 0 {
		t.Errorf("stats %+v", s)
	}
	if s.DecodeErrors != 0 || s.BadGroups != 0 || s.BadDatagrams != 0 || s.AudioDecodeErrors != 0 {
		t.Errorf("errors on a clean loopback: %+v", s)
	}
}

// beep reports whether the left channel of 10 ms of interleaved stereo
// is a loud 1 kHz tone: ~20 zero crossings, RMS above -20 dBFS.
func beep(pcm []int16) bool {
	var sum float64
	crossings := 0
	for i := 0; i+Channels < len(pcm); i += Channels {
		v := float64(pcm[i])
		sum += v * v
		if (pcm[i] < 0) != (pcm[i+Channels] < 0) {
			crossings++
		}
	}
	rms := math.Sqrt(sum / float64(len(pcm)/Channels))
	return rms > 3277 && crossings >= 16 && crossings <= 24
}

// bars counts the distinct colours (3 bits a channel) across the middle of
// the top eighth of the picture.
func bars(f Frame) int {
	b := f.Image.Bounds()
	y := b.Min.Y + b.Dy()/8
	seen := map[[3]uint8]bool{}
	for i := range 64 {
		x := b.Min.X + (2*i+1)*b.Dx()/128
		c := color.RGBAModel.Convert(f.Image.YCbCrAt(x, y)).(color.RGBA)
		seen[[3]uint8{c.R >> 5, c.G >> 5, c.B >> 5}] = true
	}
	return len(seen)
}

// A broadcast in H.264 (the sender's OpenH264, -codec h264) is decoded
// too (libavcodec): pictures of the right size with the test card's colour
// bars and a capture time, no decode error, no codec problem reported,
// and the sound with it.
func TestReceiveH264(t *testing.T) {
	r := relaytest.Start(t)
	key := r.AddStream(t, "demo")
	r.AddUser(t, "viewer", "watch it live")
	b := broadcast.Start(broadcast.Config{
		PublishConfig: sender.PublishConfig{Relay: r.URL, Stream: "demo", Key: key, CAFile: r.CAFile()},
		Video:         media.Source{Type: media.SourceTest}, Audio: media.Source{Type: media.SourceTest},
		Options: media.Options{Width: 320, Height: 240, FPS: 15, VideoCodec: "H264"},
	})
	defer b.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rc := receiver(t, ctx, r, "demo")
	frames, barred, timed := 0, 0, 0
	for frames < 30 {
		select {
		case f := <-rc.Frames():
			if got := f.Image.Bounds().Size(); got.X != 320 || got.Y != 240 {
				t.Fatalf("frame of %v, want 320×240", got)
			}
			frames++
			if bars(f) >= 6 {
				barred++
			}
			if !f.Capture.IsZero() {
				timed++
			}
		case <-ctx.Done():
			t.Fatalf("%d H.264 frames decoded; codec problem %v; receiver %+v", frames, rc.VideoCodecProblem(), rc.Stats())
		}
	}
	s := rc.Stats()
	if barred < frames*3/4 || timed == 0 {
		t.Errorf("%d of %d frames show the test card's colour bars, %d have a capture time", barred, frames, timed)
	}
	if err := rc.VideoCodecProblem(); err != nil {
		t.Errorf("codec problem reported: %v", err)
	}
	if s.DecodeErrors != 0 || s.AudioPackets == 0 {
		t.Errorf("stats %+v", s)
	}
}

// Only VP8 and H.264 have a reassembler and decoder here: a picture in any
// other codec is counted (VideoCodecProblem), not fed to one of them.
func TestOtherCodecs(t *testing.T) {
	for codec, want := range map[string]string{"VP8": "VP8", "vp8": "VP8", "avc1.42E01F": "H.264", "H264": "H.264", "AV1": "", "vp09.00.10.08": "", "": ""} {
		if got := newAssembler(codec) != nil; got != (want != "") {
			t.Errorf("newAssembler(%q): %v, want %v", codec, got, want != "")
		}
		if want == "" {
			continue
		}
		d, err := newVideoDecoder(codec)
		if err != nil {
			t.Fatalf("%s: %v", codec, err)
		}
		got := "VP8"
		if _, ok := d.(h264Decoder); ok {
			got = "H.264"
		}
		d.close()
		if got != want {
			t.Errorf("%s: a %s decoder, want %s", codec, got, want)
		}
	}
}

// A receiver whose decoding falls behind (held here while a second and
// more of video comes) leaves the non-reference frames out until it has
// caught up: some thinned, every one it decodes whole (no decode error,
// no loss, no keyframe asked for), the test card still on them, and it
// decodes every frame again once caught up.
func TestReceiverThinsWhenBehind(t *testing.T) {
	r := relaytest.Start(t)
	key := r.AddStream(t, "demo")
	r.AddUser(t, "viewer", "watch it live")
	calltest.Publish(t, r, "demo", key, 320, 240, 15)

	hold := make(chan struct{})
	var held atomic.Bool
	stall = func() {
		if held.Load() {
			<-hold
		}
	}
	t.Cleanup(func() { stall = nil })

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	rc := receiver(t, ctx, r, "demo")
	// waitFor takes the frames as a window would until ok.
	waitFor := func(what string, ok func(Stats) bool) Frame {
		t.Helper()
		for {
			select {
			case f := <-rc.Frames():
				if ok(rc.Stats()) {
					return f
				}
			case <-ctx.Done():
				t.Fatalf("%s: receiver %+v", what, rc.Stats())
			}
		}
	}
	// (The group the relay caches, sent on joining, may be thinned as it
	// comes in a burst.)
	waitFor("10 frames decoded, caught up", func(s Stats) bool { return s.FramesDecoded >= 10 && len(rc.packets) < 4 })
	before := rc.Stats()
	held.Store(true)
	// Held (at most one frame goes on past it) until over a second of
	// video has come behind.
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for len(rc.packets) < 30 {
		select {
		case <-rc.Frames():
		case <-poll.C:
		case <-ctx.Done():
			t.Fatalf("no packets came while held: %+v", rc.Stats())
		}
	}
	held.Store(false)
	close(hold)
	waitFor("frames left out, and caught up", func(s Stats) bool { return s.FramesThinned > before.FramesThinned && len(rc.packets) < 4 })
	caught := rc.Stats()
	// The pictures after it: the test card, but in its white sync flash
	// (100 ms a second, so one frame in ten or so).
	frames, barred := 0, 0
	waitFor("15 frames decoded after catching up", func(s Stats) bool { return s.FramesDecoded >= caught.FramesDecoded+15 })
	for frames < 15 {
		select {
		case f := <-rc.Frames():
			frames++
			if bars(f) >= 6 {
				barred++
			}
		case <-ctx.Done():
			t.Fatalf("%d frames after catching up: receiver %+v", frames, rc.Stats())
		}
	}
	s := rc.Stats()
	t.Logf("%+v", s)
	if s.DecodeErrors != 0 || s.FramesLost != 0 || s.KeyframeRequests != 0 {
		t.Errorf("thinning cost a frame: %+v", s)
	}
	if s.FramesThinned-caught.FramesThinned >= 5 {
		t.Errorf("%d more frames left out after catching up", s.FramesThinned-caught.FramesThinned)
	}
	if barred < frames*3/4 {
		t.Errorf("%d of %d frames after catching up show the test card's colour bars", barred, frames)
	}
}

// The decoding is behind by the RTP timestamps of the video come, on one
// timeline: across their wrap, and not against a new broadcast's (a
// restarted sender starts at a random timestamp).
func TestBehind(t *testing.T) {
	var r Receiver
	if r.behind(0) {
		t.Error("behind before any packet")
	}
	const ms = 90 // ticks
	for _, c := range []struct {
		came   []uint32
		frame  uint32
		behind bool
	}{
		{[]uint32{1000 * ms}, 950 * ms, false},
		{[]uint32{1000 * ms}, 850 * ms, true},
		{[]uint32{1000 * ms, 700 * ms}, 850 * ms, true},    // an older group's packet: the newest stays
		{[]uint32{50 * ms}, math.MaxUint32 - 100*ms, true}, // across the wrap
		{[]uint32{50 * ms}, math.MaxUint32 - 20*ms, false},
		{[]uint32{2_000_000_000}, 1000 * ms, false},          // another timeline
		{[]uint32{2_000_000_000, 1000 * ms}, 800 * ms, true}, // its packets come: the newest is theirs
	} {
		var r Receiver
		for _, ts := range c.came {
			r.came(ts)
		}
		if got := r.behind(c.frame); got != c.behind {
			t.Errorf("came %v, frame %d: behind %v, want %v", c.came, c.frame, got, c.behind)
		}
	}
}
