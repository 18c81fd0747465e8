package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/relay/e2e/browser"
	"github.com/quicast/quicast/relay/load"
)

// webrtcPage is a call with nothing but the browser's own WebRTC (W3C
// WebRTC 1.0: RTCPeerConnection, getUserMedia), one peer connection to each
// other participant (a mesh: each encodes its camera once per other
// participant, as such a page does without a server): the same camera size
// and microphone settings as a quicast room page, VP8 and Opus, each
// other's picture in a <video> of its own and their sound played. The test
// carries the offers and answers (ICE gathered first, no trickle).
const webrtcPage = `<!doctype html><meta charset="utf-8"><title>WebRTC reference</title>
<video id="self" muted autoplay playsinline width="320" height="180"></video>
<script>
const pcs = {}; // the other participant's name → the connection to them
let media = null;
async function start(size) {
  if (media) return;
  const [w, h] = size.split('x').map(Number);
  media = await navigator.mediaDevices.getUserMedia({
    video: {width: {ideal: w}, height: {ideal: h}, frameRate: {ideal: 30}},
    audio: {echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: {ideal: 1}}});
  document.getElementById('self').srcObject = new MediaStream(media.getVideoTracks());
}
function connect(peer) {
  const pc = new RTCPeerConnection();
  pcs[peer] = pc;
  const v = document.createElement('video');
  v.autoplay = true; v.playsInline = true; v.width = 640; v.height = 360;
  document.body.append(v);
  pc.ontrack = (e) => { if (v.srcObject !== e.streams[0]) v.srcObject = e.streams[0]; };
  return pc;
}
// send adds the camera and microphone (after the offer on the answering
// side: its transceivers then serve the offer's media sections), VP8 first.
function send(pc) {
  for (const t of media.getTracks()) pc.addTrack(t, media);
  for (const tr of pc.getTransceivers()) {
    if (tr.receiver.track.kind !== 'video') continue;
    const cs = RTCRtpReceiver.getCapabilities('video').codecs;
    tr.setCodecPreferences([...cs.filter(c => c.mimeType === 'video/VP8'), ...cs.filter(c => c.mimeType !== 'video/VP8')]);
  }
}
const gathered = (pc) => pc.iceGatheringState === 'complete' ? Promise.resolve() :
  new Promise(r => pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') r(); }));
async function offer(size, peer) {
  await start(size); const pc = connect(peer); send(pc);
  await pc.setLocalDescription(await pc.createOffer()); await gathered(pc); return pc.localDescription.sdp;
}
async function answer(size, peer, sdp) {
  await start(size); const pc = connect(peer); await pc.setRemoteDescription({type: 'offer', sdp}); send(pc);
  await pc.setLocalDescription(await pc.createAnswer()); await gathered(pc); return pc.localDescription.sdp;
}
async function accept(peer, sdp) { await pcs[peer].setRemoteDescription({type: 'answer', sdp}); return true; }
// The figures of each other participant's sound and picture (W3C WebRTC
// Statistics), by name.
async function figures() {
  const all = {};
  for (const [peer, pc] of Object.entries(pcs)) {
    const o = all[peer] = {};
    (await pc.getStats()).forEach(s => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') Object.assign(o, {aJB: s.jitterBufferDelay, aJBTarget: s.jitterBufferTargetDelay,
        aJBCount: s.jitterBufferEmittedCount, aConcealed: s.concealedSamples, aSamples: s.totalSamplesReceived, aJitter: s.jitter,
        // The capture time of the sound played now, on the sender's NTP clock
        // (RTCP sender reports): the browsers share this machine's clock.
        mouthToEar: s.estimatedPlayoutTimestamp ? Date.now() + 2208988800000 - s.estimatedPlayoutTimestamp : 0});
      if (s.type === 'inbound-rtp' && s.kind === 'video') Object.assign(o, {vJB: s.jitterBufferDelay, vJBCount: s.jitterBufferEmittedCount,
        vDecoded: s.framesDecoded, vFreezes: s.freezeCount, vFreezeS: s.totalFreezesDuration, vWidth: s.frameWidth, vFPS: s.framesPerSecond});
      if (s.type === 'media-playout') Object.assign(o, {playoutDelay: s.totalPlayoutDelay, playoutCount: s.totalSamplesCount});
      if (s.type === 'remote-inbound-rtp' && s.kind === 'audio') o.rtt = s.roundTripTime;
    });
  }
  return all;
}
</script>`

// webrtcFigures is what the page's figures() returns of one other
// participant: the W3C WebRTC Statistics counters (seconds and counts,
// cumulative).
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

// webrtcPeople are the names BenchmarkWebRTCCall's participants take.
var webrtcPeople = []string{"alice", "bob", "carol", "dave"}

// BenchmarkWebRTCCall is the reference for BenchmarkBrowserCall: the same
// two headless Chromiums with the same fake camera (callSize, or
// $QUICAST_CALL_SIZE) and microphone on the same machine, in a call made
// with nothing but the browser's own WebRTC, peer to peer (no relay), its
// jitter buffers (libwebrtc's NetEq for the sound) and its rendering. It
// reports, over benchWindow after 10 s of warm-up, what the browsers'
// statistics say of each side's reception of the others: mouth-to-ear from
// estimatedPlayoutTimestamp (the capture time, on the sender's clock, of
// the sound leaving the jitter buffer now: the output device's latency is
// not in it, as it is in BenchmarkBrowserCall's), the sound's jitter
// buffer delay (mean, jitterBufferDelay / jitterBufferEmittedCount) and
// target, the share of it concealed (lost or late), the picture's jitter
// buffer delay, frames decoded and freezes (W3C: a frame shown more than
// max(3 frame intervals, 1 interval + 150 ms) after the one before — 200
// ms at 20 frames a second, as quicast's player.FreezeThreshold); and each
// browser's CPU, also by process type and thread (logThreads, as
// BenchmarkBrowserCall). What the field's own stack achieves here is what
// quicast's browser call is measured against: the playout buffer the
// machine's scheduling asks for, and what the browsers cost on two cores
// (and cpu-pressure-%, as BenchmarkBrowserCall's).
//
// $QUICAST_CALL_PEOPLE (2–4, default 2) makes it a call of that many, each
// connected to every other: four is the reference for the four-person call
// (gio-ui/cmd/quicast BenchmarkFourPersonCall with four browsers), whether
// this machine runs such a call without freezes with the browser's own
// stack.
func BenchmarkWebRTCCall(b *testing.B) {
	size := callSize
	if s := os.Getenv("QUICAST_CALL_SIZE"); s != "" {
		size = s
	}
	n := 2
	if s := os.Getenv("QUICAST_CALL_PEOPLE"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 2 || n > len(webrtcPeople) {
			b.Fatalf("QUICAST_CALL_PEOPLE=%q: want 2 to %d", s, len(webrtcPeople))
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(webrtcPage))
	}))
	b.Cleanup(srv.Close)
	for b.Loop() {
		people := webrtcPeople[:n]
		ctxs := map[string]context.Context{}
		dirs := map[string]string{}
		for _, who := range people {
			dirs[who] = b.TempDir()
			ctxs[who] = browser.New(b, browser.FakeMedia(), chromedp.UserDataDir(dirs[who]))
			// http://127.0.0.1 is a secure context: getUserMedia works.
			browser.Run(b, ctxs[who], 20*time.Second, chromedp.Navigate(srv.URL))
		}
		// Each pair once: the first of the two offers.
		for i, a := range people {
			for _, c := range people[i+1:] {
				offer, err := eval[string](ctxs[a], `offer('`+size+`', '`+c+`')`)
				if err != nil {
					b.Fatalf("%s's offer to %s: %v", a, c, err)
				}
				answer, err := eval[string](ctxs[c], `answer('`+size+`', '`+a+`', `+jsString(offer)+`)`)
				if err != nil {
					b.Fatalf("%s's answer to %s: %v", c, a, err)
				}
				if _, err := eval[bool](ctxs[a], `accept('`+c+`', `+jsString(answer)+`)`); err != nil {
					b.Fatalf("%s accepting %s's answer: %v", a, c, err)
				}
			}
		}
		figures := func(who string) (map[string]webrtcFigures, error) {
			return eval[map[string]webrtcFigures](ctxs[who], `figures()`)
		}
		for _, who := range people {
			if err := waitFor(ctxs[who], 60*time.Second, func() (bool, error) {
				all, err := figures(who)
				if err != nil || len(all) < n-1 {
					return false, err
				}
				for _, f := range all {
					if f.Samples < 10*48000 || f.Decoded == 0 {
						return false, nil
					}
				}
				return true, nil
			}); err != nil {
				all, _ := figures(who)
				state, _ := eval[string](ctxs[who], `Object.entries(pcs).map(([k, pc]) => k + ': ' + pc.connectionState + ' / ICE ' + pc.iceConnectionState).join(', ')`)
				b.Fatalf("%s: no 10 s of everyone's sound and picture (%s, %+v): %v", who, state, all, err)
			}
		}
		f0 := map[string]map[string]webrtcFigures{}
		cpu0 := map[string]load.Usage{}
		threads0 := map[string]browser.Threads{}
		t0 := map[string]time.Time{}
		// A saturated browser's readings take a while, one after the
		// other: each one's rates are over its own window, from the
		// middle of its first readings to that of its last.
		mid := func(t time.Time) time.Time { return t.Add(time.Since(t) / 2) }
		for _, who := range people {
			t := time.Now()
			f0[who], _ = figures(who)
			cpu0[who] = browser.Usage(dirs[who])
			threads0[who] = browser.ThreadUsage(dirs[who])
			t0[who] = mid(t)
		}
		pressure := load.StartPressure()
		start := time.Now()
		mouth := map[string][]float64{} // "who from whom" → samples
		tick := time.NewTicker(250 * time.Millisecond)
		for time.Since(start) < benchWindow {
			<-tick.C
			for _, who := range people {
				all, err := figures(who)
				if err != nil {
					continue
				}
				for from, f := range all {
					if f.MouthToEarMS > 0 {
						mouth[who+" from "+from] = append(mouth[who+" from "+from], f.MouthToEarMS)
					}
				}
			}
		}
		tick.Stop()
		pressurePct, pressureErr := pressure.Percent()
		var jb, jbTarget, concealed, cpuSum, freezes float64
		var all []float64
		for _, who := range people {
			t := time.Now()
			heard, err := figures(who)
			if err != nil {
				b.Fatalf("%s's figures: %v", who, err)
			}
			u := browser.Usage(dirs[who])
			threads := browser.ThreadUsage(dirs[who])
			elapsed := mid(t).Sub(t0[who])
			logThreads(b, who, threads0[who], threads, elapsed)
			cpu := float64(u.CPU-cpu0[who].CPU) / float64(elapsed) * 100
			ms := func(sum, n, sum0, n0 float64) float64 {
				if n-n0 <= 0 {
					return 0
				}
				return (sum - sum0) / (n - n0) * 1000
			}
			for _, from := range people {
				f, ok := heard[from]
				if !ok {
					continue
				}
				p := f0[who][from]
				m := mouth[who+" from "+from]
				aJB := ms(f.AudioJB, f.AudioJBCount, p.AudioJB, p.AudioJBCount)
				aTarget := ms(f.AudioJBTarget, f.AudioJBCount, p.AudioJBTarget, p.AudioJBCount)
				vJB := ms(f.VideoJB, f.VideoJBCount, p.VideoJB, p.VideoJBCount)
				playout := ms(f.PlayoutDelay, f.PlayoutCount, p.PlayoutDelay, p.PlayoutCount)
				conc := 0.0
				if f.Samples > p.Samples {
					conc = (f.Concealed - p.Concealed) / (f.Samples - p.Samples) * 100
				}
				b.Logf("%s hears %s %.0f/%.0f ms (p50/p95) after they spoke (estimatedPlayoutTimestamp); of their sound, jitter buffer %.0f ms (target %.0f ms), playout delay %.0f ms, %.2f %% concealed, jitter %.1f ms, RTT %.0f ms; of the picture (%.0f px wide), jitter buffer %.0f ms, %.1f frames decoded per s, %.0f freezes (%.1f s)",
					who, from, load.Percentile(m, 50), load.Percentile(m, 95), aJB, aTarget, playout, conc, f.AudioJitter*1000, f.RTT*1000, f.Width, vJB, (f.Decoded-p.Decoded)/elapsed.Seconds(),
					f.Freezes-p.Freezes, f.FreezeS-p.FreezeS)
				jb, jbTarget, concealed = max(jb, aJB), max(jbTarget, aTarget), max(concealed, conc)
				freezes += f.Freezes - p.Freezes
				all = append(all, m...)
			}
			b.Logf("%s's browser: %.0f %% of a core, %.0f MB", who, cpu, float64(u.RSS)/1e6)
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
