package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/quicast/quicast/protocol"
)

// TestFFmpegPublishes proves the relay's SRTP ingest against another
// implementation: ffmpeg encodes VP8 and sends it as SRTP
// (AES_CM_128_HMAC_SHA1_80, the only suite ffmpeg 5.1 sends) with the keys
// the relay issued, and Chromium decodes what the relay forwards.
func TestFFmpegPublishes(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg not installed: run scripts/deps.sh (make test does)")
	}
	r := startRelay(t)
	pub := r.publishRequest(t, protocol.PublishRequest{
		Stream:  r.stream,
		Profile: protocol.ProfileAES128CMHMACSHA1_80,
		Video:   &protocol.TrackOffer{Codec: "VP8", ClockRate: protocol.ClockRateVideo, Width: 320, Height: 240},
	})
	params := base64.StdEncoding.EncodeToString(append(append([]byte{}, pub.MasterKey...), pub.MasterSalt...))
	url := fmt.Sprintf("srtp://127.0.0.1:%d?pkt_size=%d&rtcpport=%d", r.port, protocol.MTU, r.port)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "warning", "-nostdin",
		"-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "60",
		"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "600k",
		"-g", "30", "-keyint_min", "30", "-auto-alt-ref", "0", "-lag-in-frames", "0",
		// ffmpeg takes the SSRC as a signed int and sends the same 32 bits.
		"-payload_type", strconv.Itoa(int(pub.VideoPT)), "-ssrc", strconv.Itoa(int(int32(pub.VideoSSRC))),
		"-f", "rtp", "-srtp_out_suite", protocol.ProfileAES128CMHMACSHA1_80, "-srtp_out_params", params, url)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("ffmpeg output:\n%s", out.String())
		}
	}()

	bctx := openWatch(t, r, r.stream)
	s := waitStats(t, bctx, 60*time.Second, "ffmpeg's VP8 decoded in the browser", func(s playerStats) bool {
		return s.VideoFramesDecoded >= 60 && s.VideoFramesRendered >= 30
	})
	t.Logf("ffmpeg publish: %v", s)
	if s.Width != 320 || s.Height != 240 {
		t.Errorf("video size = %dx%d, want ffmpeg's 320x240", s.Width, s.Height)
	}
	screenshot(t, bctx, "watch-ffmpeg")
}

// publishRequest performs the publish handshake as a sender would.
func (r *relay) publishRequest(t testing.TB, req protocol.PublishRequest) protocol.PublishResponse {
	t.Helper()
	c := r.client(t)
	body, _ := json.Marshal(req)
	hr, _ := http.NewRequest(http.MethodPost, r.base()+protocol.PathPublish, bytes.NewReader(body))
	hr.Header.Set("Authorization", "Bearer "+r.key)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(hr)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e protocol.ErrorResponse
		_ = json.NewDecoder(resp.Body).Decode(&e)
		t.Fatalf("publish: %s: %s", resp.Status, e.Error)
	}
	var pub protocol.PublishResponse
	if err := json.NewDecoder(resp.Body).Decode(&pub); err != nil {
		t.Fatal(err)
	}
	if pub.Profile != protocol.ProfileAES128CMHMACSHA1_80 || len(pub.MasterKey) != 16 || len(pub.MasterSalt) != 14 {
		t.Fatalf("publish answer: profile %q, key %d bytes, salt %d bytes", pub.Profile, len(pub.MasterKey), len(pub.MasterSalt))
	}
	return pub
}
