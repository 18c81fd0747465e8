package e2e

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/quicast/quicast/relay/e2e/browser"
)

// openWatch logs in through the form and opens the watch page of stream.
func openWatch(t testing.TB, r *relay, stream string) context.Context {
	t.Helper()
	ctx := newBrowser(t)
	// LogIn waits through the form's navigation (an evaluation during it
	// fails: "Inspected target navigated or closed").
	browser.LogIn(t, ctx, r.base(), r.user, r.password)
	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/watch/"+stream))
	return ctx
}

// TestWatchTestSource is the product's main path: a sender publishes the
// built-in test source (VP8 + Opus, SRTP) to the relay, a person logs in
// and watches it in Chromium (WebTransport, WebCodecs, AudioWorklet).
func TestWatchTestSource(t *testing.T) {
	r := startRelay(t)
	r.publish(t, r.stream, r.key, "-video", "test", "-audio", "test")
	ctx := newBrowser(t)

	login(t, ctx, r, r.user, r.password)
	if err := waitFor(ctx, 10*time.Second, func() (bool, error) { return location(t, ctx) == "/", nil }); err != nil {
		t.Fatalf("after login the browser is at %q, want /", location(t, ctx))
	}
	// The stream list names the stream as live.
	if err := waitFor(ctx, 15*time.Second, func() (bool, error) {
		body, err := eval[string](ctx, `document.body.innerText`)
		return err == nil && strings.Contains(body, r.stream), err
	}); err != nil {
		t.Fatalf("stream list does not show %q: %v", r.stream, err)
	}
	screenshot(t, ctx, "stream-list")

	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/watch/"+r.stream))
	s := waitStats(t, ctx, 60*time.Second, "playing with ≥ 90 frames rendered and ≥ 2 s of audio", func(s playerStats) bool {
		return s.State == "playing" && s.VideoFramesRendered >= 90 && s.AudioSamplesPlayed >= 2*48000
	})
	t.Logf("playing: %v", s)
	if s.VideoCodec != "vp8" || s.AudioCodec != "opus" {
		t.Errorf("codecs = %q, %q; want vp8, opus", s.VideoCodec, s.AudioCodec)
	}
	if s.Width != 1280 || s.Height != 720 {
		t.Errorf("video size = %dx%d, want the default 1280x720", s.Width, s.Height)
	}
	if s.VideoFramesDecoded < s.VideoFramesRendered {
		t.Errorf("rendered %d frames but decoded only %d", s.VideoFramesRendered, s.VideoFramesDecoded)
	}
	// The sender makes every other frame a non-reference frame and says
	// so (RFC 7741 N bit).
	if s.VideoFramesNonRef < s.VideoFramesAssembled/3 {
		t.Errorf("%d of %d frames came with the N bit: want about every other one", s.VideoFramesNonRef, s.VideoFramesAssembled)
	}
	if s.VideoFramesAssembled < s.VideoFramesDecoded {
		t.Errorf("decoded %d frames but only %d came out of reassembly", s.VideoFramesDecoded, s.VideoFramesAssembled)
	}
	if h, _ := s.GoRuntime["heapBytes"].(float64); h <= 0 {
		t.Errorf("the player's Go runtime figures are missing: %v", s.GoRuntime)
	}
	if s.BitrateKbps <= 50 {
		t.Errorf("bitrate = %.0f kbit/s, want a real video stream", s.BitrateKbps)
	}
	if s.Drawing != "worker" {
		t.Errorf("frames drawn %q, want in the render worker", s.Drawing)
	}
	if !s.AudioShared {
		t.Error("the page is not cross-origin isolated: its sound goes to the worklet a message per packet, not through shared memory")
	}
	// Glass-to-glass latency, its stages and the time to the first frame
	// are measured, and plausible on one machine: positive, the stages
	// smaller than the whole, under a few seconds.
	s = waitStats(t, ctx, 20*time.Second, "latency measured", func(s playerStats) bool { return s.LatencyP50MS > 0 })
	t.Logf("latency: last %.0f ms, p50 %.0f, p95 %.0f (capture→arrival %.0f, decode %.0f, waiting and drawing %.0f); first frame %.0f ms after navigation",
		s.LatencyMS, s.LatencyP50MS, s.LatencyP95MS, s.LatencyNetworkMS, s.LatencyDecodeMS, s.LatencyPlayoutMS, s.TimeToFirstFrameMS)
	// A/V skew measured as a person notices it: the test source's flash
	// seen against its beep heard, in sync (within 150 ms) once the player
	// has worked through the group it joined in (the first pairs are off by
	// as long as that takes, more on a loaded machine).
	s = waitStats(t, ctx, 45*time.Second, "flash and beep in sync after three pairs", func(s playerStats) bool {
		return s.AVSkewPairs >= 3 && math.Abs(s.AVSkewMS) <= 150
	})
	t.Logf("A/V skew: last %.1f ms, p95 %.1f ms over %d flash/beep pairs (clocks say %.1f ms)", s.AVSkewMS, s.AVSkewP95MS, s.AVSkewPairs, s.AVSkewClockMS)
	if s.LatencyP50MS > 3000 || s.LatencyP95MS < s.LatencyP50MS || s.LatencyNetworkMS <= 0 ||
		s.LatencyNetworkMS+s.LatencyDecodeMS > s.LatencyP95MS || s.TimeToFirstFrameMS <= 0 || s.TimeToFirstFrameMS > 60000 {
		t.Errorf("implausible latency figures: %+v", s)
	}
	wantPicture(t, ctx, 16, "watch-test-source")

	// Garbage, forged and truncated datagrams at the shared port are dropped
	// and the stream goes on.
	sprayGarbage(t, r.port)
	before := s
	s = waitStats(t, ctx, 20*time.Second, "still playing after garbage", func(s playerStats) bool {
		return s.State == "playing" && s.VideoFramesRendered >= before.VideoFramesRendered+60 &&
			s.AudioSamplesPlayed >= before.AudioSamplesPlayed+48000
	})
	t.Logf("after garbage: %v", s)
}

// sprayGarbage sends datagrams that must all be dropped: RTP headers with
// bad authentication tags, truncated packets, random bytes, and QUIC-looking
// junk.
func sprayGarbage(t testing.TB, port int) {
	t.Helper()
	c, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 300 {
		var b []byte
		switch i % 5 {
		case 0: // RTP with a random SSRC and a bogus tag
			b = make([]byte, 200)
			rand.Read(b)
			b[0], b[1] = 0x80, 96
		case 1: // truncated RTP
			b = []byte{0x80, 96, 0}
		case 2: // SRTCP-looking sender report with a bogus tag
			b = make([]byte, 60)
			rand.Read(b)
			b[0], b[1] = 0x80, 200
		case 3: // random bytes
			b = make([]byte, 1+i%1300)
			rand.Read(b)
		case 4: // a QUIC long header that is not a valid Initial
			b = make([]byte, 1200)
			rand.Read(b)
			b[0] = 0xc0
		}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestWatchFileSource publishes a Y4M video and a WAV audio file. The
// browser opens the relay as "localhost", the name make demo prints, while
// the relay listens on 127.0.0.1 only: Chromium tries ::1 first for it.
func TestWatchFileSource(t *testing.T) {
	dir := t.TempDir()
	y4m := filepath.Join(dir, "clip.y4m")
	wav := filepath.Join(dir, "tone.wav")
	writeY4M(t, y4m, 320, 240, 30, 60)
	writeWAV(t, wav, 44100, 2, 2*time.Second)

	r := startRelay(t)
	r.host = "localhost"
	key := r.addStream(t, "files")
	r.publish(t, "files", key, "-video", "file:"+y4m, "-audio", "file:"+wav)
	ctx := openWatch(t, r, "files")
	s := waitStats(t, ctx, 60*time.Second, "file source playing", func(s playerStats) bool {
		return s.State == "playing" && s.VideoFramesRendered >= 60 && s.AudioSamplesPlayed >= 48000
	})
	t.Logf("file source: %v", s)
	wantPicture(t, ctx, 8, "watch-file-source")
}

// writeY4M writes frames of a moving colour gradient (YUV 4:2:0).
func writeY4M(t testing.TB, path string, w, h, fps, frames int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("YUV4MPEG2 W" + itoa(w) + " H" + itoa(h) + " F" + itoa(fps) + ":1 Ip A1:1 C420jpeg\n"); err != nil {
		t.Fatal(err)
	}
	y := make([]byte, w*h)
	uv := make([]byte, w*h/4)
	for k := range frames {
		for j := range h {
			for i := range w {
				y[j*w+i] = byte(i + j + 4*k)
			}
		}
		for i := range uv {
			uv[i] = byte(64 + i%128)
		}
		f.WriteString("FRAME\n")
		f.Write(y)
		f.Write(uv)
		for i := range uv {
			uv[i] = byte(192 - i%128)
		}
		f.Write(uv)
	}
}

// writeWAV writes a 440 Hz sine as 16-bit PCM.
func writeWAV(t testing.TB, path string, rate, channels int, d time.Duration) {
	t.Helper()
	n := int(d.Seconds() * float64(rate))
	data := make([]byte, n*channels*2)
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		for c := range channels {
			binary.LittleEndian.PutUint16(data[(i*channels+c)*2:], uint16(v))
		}
	}
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(data)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], uint16(channels))
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*channels*2))
	binary.LittleEndian.PutUint16(h[32:], uint16(channels*2))
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(data)))
	if err := os.WriteFile(path, append(h, data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWatchH264: the sender encodes H.264 (OpenH264, constrained baseline,
// RFC 6184 packetization mode 1) and Chromium plays it through WebCodecs
// (avc1.42E01F), keyframes found by the relay and the player alike.
func TestWatchH264(t *testing.T) {
	r := startRelay(t)
	r.publish(t, r.stream, r.key, "-video", "test", "-audio", "test", "-codec", "h264", "-size", "640x360")
	ctx := openWatch(t, r, r.stream)
	s := waitStats(t, ctx, 60*time.Second, "playing H.264 with ≥ 60 frames rendered and ≥ 1 s of audio", func(s playerStats) bool {
		return s.State == "playing" && s.VideoFramesRendered >= 60 && s.AudioSamplesPlayed >= 48000
	})
	t.Logf("playing: %v", s)
	if s.VideoCodec != "avc1.42E01F" || s.Width != 640 || s.Height != 360 {
		t.Errorf("video %s %dx%d, want avc1.42E01F 640x360", s.VideoCodec, s.Width, s.Height)
	}
	if s.DecodeErrors != 0 {
		t.Errorf("%d decode errors", s.DecodeErrors)
	}
	wantPicture(t, ctx, 16, "watch-h264")
}

// wantPicture checks that the canvas shows a real picture (at least
// colours distinct colours) and takes a screenshot named name.
func wantPicture(t *testing.T, ctx context.Context, colours int, name string) {
	t.Helper()
	n, err := canvasColours(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n < colours {
		t.Errorf("canvas shows %d distinct colours, want a real picture (≥ %d)", n, colours)
	}
	screenshot(t, ctx, name)
}
