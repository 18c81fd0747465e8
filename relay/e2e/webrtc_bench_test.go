package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/relay/e2e/browser"
	"github.com/quicast/quicast/relay/load"
)

// webrtcPage is a two-person call with nothing but the browser's own
// WebRTC (W3C WebRTC 1.0: RTCPeerConnection, getUserMedia): the same
// camera size and microphone settings as a quicast room page, VP8 and
// Opus, the other's picture in a <video> and their sound played. The test
// carries the offer and the answer (ICE gathered first, no trickle).
const webrtcPage = `<!doctype html><meta charset="utf-8"><title>WebRTC reference</title>
<video id="self" muted autoplay playsinline width="320" height="180"></video>
<video id="other" autoplay playsinline width="640" height="360"></video>
<script>
let pc = null, media = null;
async function start(size) {
  const [w, h] = size.split('x').map(Number);
  media = await navigator.mediaDevices.getUserMedia({
    video: {width: {ideal: w}, height: {ideal: h}, frameRate: {ideal: 30}},
    audio: {echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: {ideal: 1}}});
  document.getElementById('self').srcObject = new MediaStream(media.getVideoTracks());
  pc = new RTCPeerConnection();
  pc.ontrack = (e) => { const v = document.getElementById('other'); if (v.srcObject !== e.streams[0]) v.srcObject = e.streams[0]; };
}
// send adds the camera and microphone (after the offer on the answering
// side: its transceivers then serve the offer's media sections), VP8 first.
function send() {
  for (const t of media.getTracks()) pc.addTrack(t, media);
  for (const tr of pc.getTransceivers()) {
    if (tr.receiver.track.kind !== 'video') continue;
    const cs = RTCRtpReceiver.getCapabilities('video').codecs;
    tr.setCodecPreferences([...cs.filter(c => c.mimeType === 'video/VP8'), ...cs.filter(c => c.mimeType !== 'video/VP8')]);
  }
}
const gathered = () => pc.iceGatheringState === 'complete' ? Promise.resolve() :
  new Promise(r => pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') r(); }));
async function offer(size) { await start(size); send(); await pc.setLocalDescription(await pc.createOffer()); await gathered(); return pc.localDescription.sdp; }
async function answer(size, sdp) {
  await start(size); await pc.setRemoteDescription({type: 'offer', sdp}); send();
  await pc.setLocalDescription(await pc.createAnswer()); await gathered(); return pc.localDescription.sdp;
}
async function accept(sdp) { await pc.setRemoteDescription({type: 'answer', sdp}); return true; }
// The figures of the other's sound and picture (W3C WebRTC Statistics).
async function figures() {
  const o = {};
  (await pc.getStats()).forEach(s => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') Object.assign(o, {aJB: s.jitterBufferDelay, aJBTarget: s.jitterBufferTargetDelay,
      aJBCount: s.jitterBufferEmittedCount, aConcealed: s.concealedSamples, aSamples: s.totalSamplesReceived, aJitter: s.jitter,
      // The capture time of the sound played now, on the sender's NTP clock
      // (RTCP sender reports): both browsers share this machine's clock.
      mouthToEar: s.estimatedPlayoutTimestamp ? Date.now() + 2208988800000 - s.estimatedPlayoutTimestamp : 0});
    if (s.type === 'inbound-rtp' && s.kind === 'video') Object.assign(o, {vJB: s.jitterBufferDelay, vJBCount: s.jitterBufferEmittedCount,
      vDecoded: s.framesDecoded, vFreezes: s.freezeCount, vFreezeS: s.totalFreezesDuration, vWidth: s.frameWidth, vFPS: s.framesPerSecond});
    if (s.type === 'media-playout') Object.assign(o, {playoutDelay: s.totalPlayoutDelay, playoutCount: s.totalSamplesCount});
    if (s.type === 'remote-inbound-rtp' && s.kind === 'audio') o.rtt = s.roundTripTime;
  });
  return o;
}
</script>`

// webrtcFigures is what the page's figures() returns: the W3C WebRTC
// Statistics counters (seconds and counts, cumulative).
type webrtcFigures struct {
	AudioJB       float64 `json:"aJB"`
	AudioJBTarget float64 `json:"aJBTarget"`
	AudioJBCount  float64 `json:"aJBCount"`
	Concealed     float64 `json:"aConcealed"`
	Samples       float64 `json:"aSamples"`
	AudioJitter   float64 `json:"aJitter"`
	VideoJB       float64 `json:"vJB"`
	VideoJBCount  float64 `json:"vJBCount"`
	Decoded       float64 `json:"vDecoded"`
	Freezes       float64 `json:"vFreezes"`
	FreezeS       float64 `json:"vFreezeS"`
	Width         float64 `json:"vWidth"`
	PlayoutDelay  float64 `json:"playoutDelay"`
	PlayoutCount  float64 `json:"playoutCount"`
	RTT           float64 `json:"rtt"`
	MouthToEarMS  float64 `json:"mouthToEar"`
}

// BenchmarkWebRTCCall is the reference for BenchmarkBrowserCall: the same
// two headless Chromiums with the same fake camera (callSize, or
// $QUICAST_CALL_SIZE) and microphone on the same machine, in a call made
// with nothing but the browser's own WebRTC, peer to peer (no relay), its
// jitter buffers (libwebrtc's NetEq for the sound) and its rendering. It
// reports, over benchWindow after 10 s of warm-up, what the browsers'
// statistics say of each side's reception of the other: mouth-to-ear from
// estimatedPlayoutTimestamp (the capture time, on the sender's clock, of
// the sound leaving the jitter buffer now: the output device's latency is
// not in it, as it is in BenchmarkBrowserCall's), the sound's jitter
// buffer delay (mean, jitterBufferDelay / jitterBufferEmittedCount) and
// target, the share of it concealed (lost or late), the picture's jitter
// buffer delay, frames decoded and freezes; and each browser's CPU, also
// by process type and thread (logThreads, as BenchmarkBrowserCall). What
// the field's own stack achieves here is what quicast's browser call is
// measured against: the playout buffer the machine's scheduling asks for,
// and what two browsers cost on two cores (and cpu-pressure-%, as
// BenchmarkBrowserCall's).
func BenchmarkWebRTCCall(b *testing.B) {
	size := callSize
	if s := os.Getenv("QUICAST_CALL_SIZE"); s != "" {
		size = s
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(webrtcPage))
	}))
	b.Cleanup(srv.Close)
	for b.Loop() {
		people := []string{"alice", "bob"}
		ctxs := map[string]context.Context{}
		dirs := map[string]string{}
		for _, who := range people {
			dirs[who] = b.TempDir()
			ctxs[who] = browser.New(b, browser.FakeMedia(), chromedp.UserDataDir(dirs[who]))
			// http://127.0.0.1 is a secure context: getUserMedia works.
			browser.Run(b, ctxs[who], 20*time.Second, chromedp.Navigate(srv.URL))
		}
		offer, err := eval[string](ctxs["alice"], `offer('`+size+`')`)
		if err != nil {
			b.Fatalf("alice's offer: %v", err)
		}
		answer, err := eval[string](ctxs["bob"], `answer('`+size+`', `+jsString(offer)+`)`)
		if err != nil {
			b.Fatalf("bob's answer: %v", err)
		}
		if _, err := eval[bool](ctxs["alice"], `accept(`+jsString(answer)+`)`); err != nil {
			b.Fatalf("alice accepting the answer: %v", err)
		}
		for _, who := range people {
			if err := waitFor(ctxs[who], 60*time.Second, func() (bool, error) {
				f, err := eval[webrtcFigures](ctxs[who], `figures()`)
				return err == nil && f.Samples >= 10*48000 && f.Decoded > 0, err
			}); err != nil {
				f, _ := eval[webrtcFigures](ctxs[who], `figures()`)
				state, _ := eval[string](ctxs[who], `pc.connectionState + ' / ICE ' + pc.iceConnectionState`)
				b.Fatalf("%s: no 10 s of the other's sound and picture (%s, %+v): %v", who, state, f, err)
			}
		}
		f0 := map[string]webrtcFigures{}
		cpu0 := map[string]load.Usage{}
		threads0 := map[string]browser.Threads{}
		for _, who := range people {
			f0[who], _ = eval[webrtcFigures](ctxs[who], `figures()`)
			cpu0[who] = browser.Usage(dirs[who])
			threads0[who] = browser.ThreadUsage(dirs[who])
		}
		pressure := load.StartPressure()
		start := time.Now()
		mouth := map[string][]float64{}
		tick := time.NewTicker(250 * time.Millisecond)
		for time.Since(start) < benchWindow {
			<-tick.C
			for _, who := range people {
				if f, err := eval[webrtcFigures](ctxs[who], `figures()`); err == nil && f.MouthToEarMS > 0 {
					mouth[who] = append(mouth[who], f.MouthToEarMS)
				}
			}
		}
		tick.Stop()
		elapsed := time.Since(start)
		pressurePct, pressureErr := pressure.Percent()
		var jb, jbTarget, concealed, cpuSum, freezes float64
		var all []float64
		for _, who := range people {
			f, err := eval[webrtcFigures](ctxs[who], `figures()`)
			if err != nil {
				b.Fatalf("%s's figures: %v", who, err)
			}
			p := f0[who]
			u := browser.Usage(dirs[who])
			logThreads(b, who, threads0[who], dirs[who], elapsed)
			cpu := float64(u.CPU-cpu0[who].CPU) / float64(elapsed) * 100
			ms := func(sum, n, sum0, n0 float64) float64 {
				if n-n0 <= 0 {
					return 0
				}
				return (sum - sum0) / (n - n0) * 1000
			}
			aJB := ms(f.AudioJB, f.AudioJBCount, p.AudioJB, p.AudioJBCount)
			aTarget := ms(f.AudioJBTarget, f.AudioJBCount, p.AudioJBTarget, p.AudioJBCount)
			vJB := ms(f.VideoJB, f.VideoJBCount, p.VideoJB, p.VideoJBCount)
			playout := ms(f.PlayoutDelay, f.PlayoutCount, p.PlayoutDelay, p.PlayoutCount)
			conc := 0.0
			if f.Samples > p.Samples {
				conc = (f.Concealed - p.Concealed) / (f.Samples - p.Samples) * 100
			}
			b.Logf("%s: hears the other %.0f/%.0f ms (p50/p95) after they spoke (estimatedPlayoutTimestamp); of their sound, jitter buffer %.0f ms (target %.0f ms), playout delay %.0f ms, %.2f %% concealed, jitter %.1f ms, RTT %.0f ms; of the picture (%.0f px wide), jitter buffer %.0f ms, %.1f frames decoded per s, %.0f freezes (%.1f s); browser %.0f %% of a core, %.0f MB",
				who, load.Percentile(mouth[who], 50), load.Percentile(mouth[who], 95), aJB, aTarget, playout, conc, f.AudioJitter*1000, f.RTT*1000, f.Width, vJB, (f.Decoded-p.Decoded)/elapsed.Seconds(),
				f.Freezes-p.Freezes, f.FreezeS-p.FreezeS, cpu, float64(u.RSS)/1e6)
			jb, jbTarget, concealed = max(jb, aJB), max(jbTarget, aTarget), max(concealed, conc)
			freezes += f.Freezes - p.Freezes
			all = append(all, mouth[who]...)
			cpuSum += cpu
		}
		b.ReportMetric(load.Percentile(all, 50), "mouth-to-ear-p50-ms")
		b.ReportMetric(load.Percentile(all, 95), "mouth-to-ear-p95-ms")
		b.ReportMetric(jb, "audio-jitter-buffer-ms")
		b.ReportMetric(jbTarget, "audio-target-ms")
		b.ReportMetric(concealed, "audio-concealed-%")
		b.ReportMetric(freezes, "freezes")
		b.ReportMetric(cpuSum/float64(len(people)), "browser-cpu-%")
		if pressureErr == nil {
			b.ReportMetric(pressurePct, "cpu-pressure-%") // of the window, some task waited for a core
		}
	}
}
