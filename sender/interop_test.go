package sender_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/sender/media"
)

// lockedBuffer is a process's output, written by its copier goroutine and
// read by the test.
type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // signalled (without blocking) after each write
}

// await waits until cond holds for what was written, or d passes; it
// reports whether cond held. Each Write wakes it.
func (l *lockedBuffer) await(d time.Duration, cond func(out string) bool) bool {
	l.mu.Lock()
	if l.written == nil {
		l.written = make(chan struct{}, 1)
	}
	c := l.written
	l.mu.Unlock()
	timeout := time.After(d)
	for !cond(l.String()) {
		select {
		case <-c:
		case <-timeout:
			return false
		}
	}
	return true
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	n, err := l.b.Write(p)
	if l.written == nil {
		l.written = make(chan struct{}, 1)
	}
	c := l.written
	l.mu.Unlock()
	select {
	case c <- struct{}{}:
	default:
	}
	return n, err
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func freeUDPPort(t *testing.T) int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// startPeer sends the real test source (VP8, or the codec named) in peer
// mode.
func startPeer(t *testing.T, sess sender.Session, codec ...string) *sender.Engine {
	t.Helper()
	clk := media.NewClock()
	o := media.Options{Width: 320, Height: 240, KeyframeInterval: time.Second}
	if len(codec) > 0 {
		o.VideoCodec = codec[0]
	}
	v, err := media.Open(context.Background(), clk, media.Source{Type: media.SourceTest}, media.KindVideo, o)
	if err != nil {
		t.Fatal(err)
	}
	e, err := sender.Start(context.Background(), sess, clk, v, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestGStreamerDecodesPeerMode: GStreamer's srtpdec + vp8dec decode what
// quicast-send sends in peer mode, with both SRTP profiles.
func TestGStreamerDecodesPeerMode(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test")
	}
	gst, err := exec.LookPath("gst-launch-1.0")
	if err != nil {
		t.Fatal("gst-launch-1.0 not installed: run scripts/deps.sh (make test does)")
	}
	for _, c := range []struct{ profile, cipher, auth string }{
		{protocol.ProfileAES128CMHMACSHA1_80, "aes-128-icm", "hmac-sha1-80"},
		{protocol.ProfileAEADAES128GCM, "aes-128-gcm", "null"},
	} {
		t.Run(c.profile, func(t *testing.T) {
			port := freeUDPPort(t)
			sess, _, err := sender.PeerSession(fmt.Sprintf("srtp://127.0.0.1:%d", port), c.profile, "VP8", false)
			if err != nil {
				t.Fatal(err)
			}
			caps := fmt.Sprintf("application/x-srtp, media=(string)video, payload=(int)96, clock-rate=(int)90000, "+
				"encoding-name=(string)VP8, ssrc=(uint)%d, srtp-key=(buffer)%s, srtp-cipher=(string)%s, srtp-auth=(string)%s, "+
				"srtcp-cipher=(string)%s, srtcp-auth=(string)%s, roc=(uint)0",
				sess.VideoSSRC, hex.EncodeToString(append(append([]byte{}, sess.Key...), sess.Salt...)), c.cipher, c.auth, c.cipher, c.auth)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, gst, "-v", "udpsrc", fmt.Sprintf("port=%d", port), "address=127.0.0.1", "caps="+caps,
				"!", "srtpdec", "name=dec", "dec.rtp_src", "!", "rtpjitterbuffer", "latency=100", "!", "rtpvp8depay", "!", "vp8dec",
				"!", "fakesink", "name=frames", "silent=false", "sync=false",
				// rtcp-mux: srtpdec hands our sender reports to its RTCP pad.
				"dec.rtcp_src", "!", "fakesink", "name=rtcp", "async=false", "sync=false")
			var out lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cancel(); _ = cmd.Wait() }()
			time.Sleep(500 * time.Millisecond) // udpsrc bound
			startPeer(t, sess)
			chain := regexp.MustCompile(`frames:sink\) \(\d+ bytes`)
			deadline := time.Now().Add(30 * time.Second)
			frames := 0
			for time.Now().Before(deadline) {
				frames = len(chain.FindAllStringIndex(out.String(), -1))
				if frames >= 60 {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Logf("GStreamer decoded %d frames (%s)", frames, c.profile)
			if frames < 60 {
				t.Fatalf("GStreamer decoded %d frames, want ≥ 60\n%s", frames, tail(out.String(), 3000))
			}
			if !strings.Contains(out.String(), "width=(int)320, height=(int)240") {
				t.Errorf("decoded caps do not show 320x240")
			}
		})
	}
}

// TestFFmpegReadsPeerSDP: ffmpeg opens the SDP quicast-send writes and
// decodes the VP8 or H.264 it receives (ffmpeg 5.1 knows
// AES_CM_128_HMAC_SHA1_80 only).
func TestFFmpegReadsPeerSDP(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test")
	}
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg not installed: run scripts/deps.sh (make test does)")
	}
	for _, codec := range []string{"VP8", "H264"} {
		t.Run(codec, func(t *testing.T) { ffmpegDecodes(t, ff, codec) })
	}
}

func ffmpegDecodes(t *testing.T, ff, codec string) {
	port := freeUDPPort(t)
	sess, desc, err := sender.PeerSession(fmt.Sprintf("srtp://127.0.0.1:%d", port), protocol.ProfileAES128CMHMACSHA1_80, codec, false)
	if err != nil {
		t.Fatal(err)
	}
	sdpPath := filepath.Join(t.TempDir(), "peer.sdp")
	os.WriteFile(sdpPath, []byte(desc), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ff, "-hide_banner", "-nostdin", "-protocol_whitelist", "file,udp,rtp,srtp",
		"-i", sdpPath, "-frames:v", "60", "-f", "null", "-")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	startPeer(t, sess, codec)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, tail(out.String(), 3000))
	}
	m := regexp.MustCompile(`frame=\s*(\d+)`).FindAllStringSubmatch(out.String(), -1)
	if len(m) == 0 || m[len(m)-1][1] != "60" {
		t.Fatalf("ffmpeg did not decode 60 frames:\n%s", tail(out.String(), 3000))
	}
	t.Logf("ffmpeg decoded %s %s frames from the peer-mode SDP", m[len(m)-1][1], codec)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestFFplayREADMEPeerMode runs the README's peer-mode commands as written
// (on a free port): quicast-send sends the test source's video and audio,
// ffplay opens the SDP and plays both, in sync (its A-V line). Without a
// sound card or a display here, SDL writes to its dummy drivers.
func TestFFplayREADMEPeerMode(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test")
	}
	ffplay, err := exec.LookPath("ffplay")
	if err != nil {
		t.Fatal("ffplay not installed: run scripts/deps.sh (make test does)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "quicast-send")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/quicast-send").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port := freeUDPPair(t)
	// bin/quicast-send -to srtp://127.0.0.1:5004 -sdp stream.sdp -video test -audio test
	send := exec.Command(bin, "-to", fmt.Sprintf("srtp://127.0.0.1:%d", port), "-sdp", "stream.sdp", "-video", "test", "-audio", "test")
	send.Dir = dir
	var sendOut lockedBuffer
	send.Stdout, send.Stderr = &sendOut, &sendOut
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { send.Process.Kill(); send.Wait() }()
	// It says so once the SDP is written.
	if !sendOut.await(20*time.Second, func(out string) bool { return strings.Contains(out, "receiver SDP written") }) {
		t.Fatalf("no stream.sdp:\n%s", sendOut.String())
	}
	// ffplay -protocol_whitelist file,udp,rtp,srtp stream.sdp
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	play := exec.CommandContext(ctx, ffplay, "-protocol_whitelist", "file,udp,rtp,srtp", "stream.sdp")
	play.Dir = dir
	play.Env = append(os.Environ(), "SDL_AUDIODRIVER=dummy", "SDL_VIDEODRIVER=dummy")
	var out lockedBuffer
	play.Stdout, play.Stderr = &out, &out
	if err := play.Start(); err != nil {
		t.Fatal(err)
	}
	// Stopped before it is waited for, also when the test fails first:
	// ffplay plays until killed.
	defer func() { cancel(); play.Wait() }()
	// ffplay's status line: "  4.25 A-V:  0.004 fd=   0 aq= 2KB vq= 34KB …"
	status := regexp.MustCompile(`(\d+\.\d+) A-V:\s*(-?\d+\.\d+) fd=\s*(\d+)`)
	var last []string
	if !out.await(60*time.Second, func(s string) bool {
		m := status.FindAllStringSubmatch(s, -1)
		if len(m) == 0 {
			return false
		}
		last = m[len(m)-1]
		clock, _ := strconv.ParseFloat(last[1], 64)
		return clock >= 4
	}) {
		t.Fatalf("ffplay did not play audio and video for 4 s:\n%s", tail(out.String(), 3000))
	}
	cancel()
	for _, want := range []string{"Video: vp8", "1280x720", "Audio: opus, 48000 Hz, stereo"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("ffplay did not report %q:\n%s", want, tail(out.String(), 3000))
		}
	}
	if av, _ := strconv.ParseFloat(last[2], 64); av > 0.1 || av < -0.1 {
		t.Errorf("ffplay plays audio and video %.3f s apart", av)
	}
	t.Logf("ffplay after %s s: A-V %s s, %s frames dropped", last[1], last[2], last[3])
}

// freeUDPPair returns a UDP port p on 127.0.0.1 with p+2 free too (video
// and audio in peer mode).
func freeUDPPair(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := freeUDPPort(t)
		if p%2 == 1 || p > 65000 {
			continue
		}
		if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 2}); err == nil {
			c.Close()
			return p
		}
	}
	t.Fatal("no free pair of UDP ports")
	return 0
}
