package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/relay/e2e/browser"
	"github.com/quicast/quicast/relay/load"
)

// BenchmarkBrowserCall: two people in a room, each in a browser of their
// own (headless Chromium, fake camera and microphone at callSize, or
// $QUICAST_CALL_SIZE), through the relay on loopback. After 10 s of
// warm-up, each side's player of the other is sampled every 250 ms for
// benchWindow: mouth-to-ear (the other side's capture of the sound heard
// now → now), glass-to-glass of the picture, the A/V skew from the
// player's clocks, the audio target; and each browser's CPU (every process
// of it: encoding its camera and microphone, decoding and playing the
// other) and memory, and the relay's CPU. Chromium's fake microphone beeps
// and its camera draws a clock, so the test source's flash-and-beep skew
// is not available here: the skew is the clocks'. With $QUICAST_PROFILE set
// to a directory, alice's main thread is profiled over the window
// (alice.cpuprofile there) and its busiest functions logged; with
// $QUICAST_TRACE, a Chrome trace of alice's browser is taken over the
// window instead (alice.trace.json) and the JavaScript and WebAssembly of
// each of its threads (main thread and workers) summed per function. Each
// side also logs the gaps on the way of the sound (sender, relay, player,
// decoding worker) and what the same arrivals would have starved at fixed
// playout targets (path-buffer-1pct-ms: the least of them that starved 1 %
// of the time or less, on the worse side). cpu-pressure-% is the share of
// the window in which some runnable task of the machine waited for a core
// (Linux's pressure stall information; not reported where there is none).
// Each browser's CPU is also logged by process type and thread
// (browser.Threads), as BenchmarkWebRTCCall logs its own. Run it with -v:
// Go keeps ten lines of a benchmark's log without.
func BenchmarkBrowserCall(b *testing.B) {
	size := callSize
	if s := os.Getenv("QUICAST_CALL_SIZE"); s != "" {
		size = s
	}
	for b.Loop() {
		old := callSize
		callSize = size
		r := startRelay(b)
		r.addRoom(b, "team")
		people := []string{"alice", "bob"}
		ctxs := map[string]context.Context{}
		dirs := map[string]string{}
		for _, who := range people {
			r.addUser(b, who, who+"'s password")
			// The profile directory is on every one of the browser's
			// command lines: browser.Usage finds its processes by it.
			dir := b.TempDir()
			dirs[who] = dir
			ctxs[who] = joinRoom(b, browser.New(b, browser.FakeMedia(), chromedp.UserDataDir(dir)), r, "team", who, who+"'s password")
		}
		callSize = old
		for _, who := range people {
			ctx := ctxs[who]
			if err := waitFor(ctx, 60*time.Second, func() (bool, error) {
				_, s, err := otherStats(ctx)
				return err == nil && s.State == "playing" && s.MouthToEarMS > 0, err
			}); err != nil {
				b.Fatalf("%s does not hear the other: %v", who, err)
			}
		}
		// Warm-up: each side has played 10 s of the other, time for the
		// latency controllers to settle.
		for _, who := range people {
			ctx := ctxs[who]
			if err := waitFor(ctx, 60*time.Second, func() (bool, error) {
				_, s, err := otherStats(ctx)
				return err == nil && s.AudioSamplesPlayed >= 10*48000, err
			}); err != nil {
				b.Fatalf("%s: no 10 s of the other's sound: %v", who, err)
			}
		}
		for _, who := range people {
			eval[any](ctxs[who], `window.quicastRoomResetStats()`)
		}
		cpu0 := map[string]load.Usage{}
		threads0 := map[string]browser.Threads{}
		pub0 := map[string]publishStats{}
		heard0 := map[string]playerStats{}
		out0 := map[string]audioOutput{}
		for _, who := range people {
			cpu0[who] = browser.Usage(dirs[who])
			threads0[who] = browser.ThreadUsage(dirs[who])
			out0[who], _ = eval[audioOutput](ctxs[who], `window.quicastAudioOutput()`)
			pub0[who], _ = eval[publishStats](ctxs[who], `window.quicastPublishStats()`)
			_, heard0[who], _ = otherStats(ctxs[who])
		}
		relay0, _ := load.ProcessUsage(r.proc.cmd.Process.Pid)
		gaps0 := r.metrics(b, "audio_gaps_total")
		for _, who := range people {
			// The main thread's long tasks (W3C Long Tasks: over 50 ms),
			// each a stall of everything the page does.
			eval[any](ctxs[who], `window.quicastLongTasks = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.quicastLongTasks.push(e.duration); }).observe({type: 'longtask'}); 1`)
			// And its gaps: a 10 ms timer that ran more than 50 ms after
			// the one before. Long tasks are one cause; a main thread
			// not scheduled at all (the machine's cores busy with
			// everything else) is another, which no long task shows.
			eval[any](ctxs[who], `window.quicastGaps = []; { let last = performance.now(); setInterval(() => { const n = performance.now(); if (n - last > 50) window.quicastGaps.push(n - last); last = n; }, 10); } 1`)
		}
		profile := os.Getenv("QUICAST_PROFILE")
		if profile != "" {
			if err := browser.StartProfile(ctxs["alice"]); err != nil {
				b.Fatalf("profile: %v", err)
			}
		}
		var trace *browser.Trace
		if dir := os.Getenv("QUICAST_TRACE"); dir != "" {
			var err error
			if trace, err = browser.StartTrace(ctxs["alice"]); err != nil {
				b.Fatalf("trace: %v", err)
			}
		}
		pressure := load.StartPressure()
		start := time.Now()
		mouth := map[string][]float64{}
		skew := map[string][]float64{}
		series := map[string][]string{} // every sample: mouth-to-ear/target/playout, ms
		tick := time.NewTicker(250 * time.Millisecond)
		for time.Since(start) < benchWindow {
			<-tick.C
			for _, who := range people {
				if _, s, err := otherStats(ctxs[who]); err == nil && s.MouthToEarMS > 0 {
					mouth[who] = append(mouth[who], s.MouthToEarMS)
					skew[who] = append(skew[who], math.Abs(s.AVSkewClockMS))
					series[who] = append(series[who], fmt.Sprintf("%.0f/%.0f/%.0f", s.MouthToEarMS, s.TargetDelayMS, s.PlayoutDelayMS))
				}
			}
		}
		tick.Stop()
		elapsed := time.Since(start)
		pressurePct, pressureErr := pressure.Percent()
		if trace != nil {
			path := filepath.Join(os.Getenv("QUICAST_TRACE"), "alice.trace.json")
			if _, err := trace.Stop(path, 10); err != nil {
				b.Fatalf("trace: %v", err)
			}
			b.Logf("alice's browser, %s: JavaScript and WebAssembly per thread:\n%s", path, strings.Join(trace.Samples(12), "\n"))
		}
		for _, who := range people {
			lt, _ := eval[[]float64](ctxs[who], `window.quicastLongTasks`)
			gaps, _ := eval[[]float64](ctxs[who], `window.quicastGaps`)
			b.Logf("%s's main thread: %d long tasks (over 50 ms), longest %.0f ms; %d gaps of over 50 ms between runs of a 10 ms timer, longest %.0f ms",
				who, len(lt), slices.Max(append(lt, 0)), len(gaps), slices.Max(append(gaps, 0)))
		}
		if profile != "" {
			path := filepath.Join(profile, "alice.cpuprofile")
			top, err := browser.StopProfile(ctxs["alice"], path, 25)
			if err != nil {
				b.Fatalf("profile: %v", err)
			}
			b.Logf("alice's main thread, %s (own samples): %s", path, strings.Join(top, "; "))
		}
		relay1, _ := load.ProcessUsage(r.proc.cmd.Process.Pid)
		gaps := r.metrics(b, "audio_gaps_total")
		gap := func(leg, over string) float64 {
			k := `{leg="` + leg + `",over="` + over + `"}`
			return gaps[k] - gaps0[k]
		}
		b.Logf("the relay's gaps in the audio over 50/100 ms, both streams: %.0f/%.0f between packets from the publishers, %.0f/%.0f between datagrams to the viewers",
			gap("in", "50ms"), gap("in", "100ms"), gap("out", "50ms"), gap("out", "100ms"))
		var all, allSkew []float64
		var pathBuffer float64 // ms of playout buffer the path's arrivals need (fixed targets), the worse side
		var g2g50, g2g95, target, cpuSum float64
		var outUnderrun float64 // ms per s the browser's output itself ran dry, the worse side
		for _, who := range people {
			_, s, _ := otherStats(ctxs[who])
			// Per second of the window: what this side sent, and of the
			// other's sound what it decoded, played, and filled in.
			pub, _ := eval[publishStats](ctxs[who], `window.quicastPublishStats()`)
			p0, h0 := pub0[who], heard0[who]
			per := func(n int) float64 { return float64(n) / elapsed.Seconds() }
			b.Logf("%s sent per s: %.0f audio packets, %.0f microphone chunks dropped, %.1f video frames (%.1f skipped); gaps over 50/100 ms in the window (longest since joining): %s of the microphone, %s out of the encoder, %s of audio sent; of the other's sound per s: %.0f frames decoded, %.0f ms played, %.0f ms starved, %.0f ms concealed",
				who, per(pub.AudioPackets-p0.AudioPackets), per(pub.AudioSkipped-p0.AudioSkipped), per(pub.VideoFrames-p0.VideoFrames), per(pub.FramesSkipped-p0.FramesSkipped),
				stallsIn(pub.CaptureStalls, p0.CaptureStalls), stallsIn(pub.EncodeStalls, p0.EncodeStalls), stallsIn(pub.SendStalls, p0.SendStalls),
				per(s.AudioFramesDecoded-h0.AudioFramesDecoded), per(s.AudioSamplesPlayed-h0.AudioSamplesPlayed)/48,
				per(s.AudioSamplesStarved-h0.AudioSamplesStarved)/48, per(s.AudioSamplesConcealed-h0.AudioSamplesConcealed)/48)
			st, st0 := s.Stalls, h0.Stalls
			b.Logf("%s: gaps on the way of the other's sound (over 50 ms / over 100 ms / longest ms): audio datagrams in %v, player ticks %v, packets to the decoder %v; decoding worker: packets in %d/%d, sound out %d/%d",
				who, st.Arrival, st.Tick, st.Hand, st.DecoderIn[0]-st0.DecoderIn[0], st.DecoderIn[1]-st0.DecoderIn[1], st.DecoderOut[0]-st0.DecoderOut[0], st.DecoderOut[1]-st0.DecoderOut[1])
			var fixed []string
			need := 0.0 // the least fixed target that starved at most 1 %
			for i, v := range s.FixedTargets {
				if i < len(h0.FixedTargets) {
					starved := per(v[1]-h0.FixedTargets[i][1]) / 48
					fixed = append(fixed, fmt.Sprintf("%d ms: %.1f ms/s starved, %d underruns", v[0], starved, v[2]-h0.FixedTargets[i][2]))
					if need == 0 && starved <= 10 {
						need = float64(v[0])
					}
				}
			}
			if need == 0 && len(s.FixedTargets) > 0 {
				need = math.Inf(1) // even the largest starved more
			}
			pathBuffer = max(pathBuffer, need)
			b.Logf("%s over the window, every 250 ms, mouth-to-ear/audio target/playout delay (ms): %s", who, strings.Join(series[who], " "))
			b.Logf("%s: the same arrivals played at fixed targets: %s", who, strings.Join(fixed, "; "))
			o, _ := eval[audioOutput](ctxs[who], `window.quicastAudioOutput()`)
			underrun := (o.UnderrunDuration - out0[who].UnderrunDuration) * 1000 / elapsed.Seconds()
			outUnderrun = max(outUnderrun, underrun)
			b.Logf("%s's sound output: latency %.1f ms (base) + %.1f ms (output); the browser's own underruns %.0f, %.1f ms per s",
				who, o.BaseLatency*1000, o.OutputLatency*1000, o.UnderrunEvents-out0[who].UnderrunEvents, underrun)
			u := browser.Usage(dirs[who])
			logThreads(b, who, threads0[who], browser.ThreadUsage(dirs[who]), elapsed)
			cpu := float64(u.CPU-cpu0[who].CPU) / float64(elapsed) * 100
			cpuSum += cpu
			b.Logf("%s hears the other %.0f/%.0f ms (p50/p95) after they spoke, sees them %.0f/%.0f ms (capture → arrival %.0f, decode %.0f, wait %.0f), skew p95 %.0f ms, audio target %.0f ms (jitter %.1f, underrun margin %.0f, video sync %.0f), playout %.0f ms, starved %d samples; frames shown %d of %d, %d non-reference left out, %d freezes; browser %.0f %% of a core, %.0f MB",
				who, load.Percentile(mouth[who], 50), load.Percentile(mouth[who], 95), s.LatencyP50MS, s.LatencyP95MS, s.LatencyNetworkMS, s.LatencyDecodeMS, s.LatencyPlayoutMS,
				load.Percentile(skew[who], 95), s.TargetDelayMS, s.JitterMS, s.TargetMarginMS, s.TargetSyncMS, s.PlayoutDelayMS, s.AudioSamplesStarved,
				s.VideoFramesShown, s.VideoFramesExpected, s.VideoFramesThinned, s.Freezes, cpu, float64(u.RSS)/1e6)
			all = append(all, mouth[who]...)
			allSkew = append(allSkew, skew[who]...)
			g2g50, g2g95 = max(g2g50, s.LatencyP50MS), max(g2g95, s.LatencyP95MS)
			target = max(target, s.TargetDelayMS)
		}
		b.ReportMetric(load.Percentile(all, 50), "mouth-to-ear-p50-ms")
		b.ReportMetric(load.Percentile(all, 95), "mouth-to-ear-p95-ms")
		b.ReportMetric(g2g50, "latency-p50-ms")
		b.ReportMetric(g2g95, "latency-p95-ms")
		b.ReportMetric(load.Percentile(allSkew, 95), "av-skew-clock-p95-ms")
		b.ReportMetric(target, "audio-target-ms")
		b.ReportMetric(outUnderrun, "output-underrun-ms/s")
		// What the path itself needs, whatever the controller does: the
		// least fixed playout target at which its arrivals starved 1 % of
		// the time or less (static/worklet.js fixed targets).
		b.ReportMetric(pathBuffer, "path-buffer-1pct-ms")
		b.ReportMetric(cpuSum/float64(len(people)), "browser-cpu-%")
		b.ReportMetric(float64(relay1.CPU-relay0.CPU)/float64(elapsed)*100, "relay-cpu-%")
		if pressureErr == nil {
			b.ReportMetric(pressurePct, "cpu-pressure-%") // of the window, some task waited for a core
		}
	}
}

// stallsIn says the gaps counted between two readings of a publisher's
// stalls ([over 50 ms, over 100 ms, longest ms]).
func stallsIn(now, before [3]float64) string {
	return fmt.Sprintf("%.0f/%.0f (%.0f ms)", now[0]-before[0], now[1]-before[1], now[2])
}

// logThreads logs where who's browser spent its CPU between two readings
// of its threads (browser.ThreadUsage), by process type and thread: the
// busiest ten, % of one core over elapsed. The two call benchmarks log the
// same, so a call through the relay and one with the browser's own WebRTC
// compare thread by thread.
func logThreads(b *testing.B, who string, before, after browser.Threads, elapsed time.Duration) {
	top, total := after.Busiest(before, elapsed, 10)
	b.Logf("%s's browser by thread (%% of a core, %.0f in all): %s", who, total, strings.Join(top, ", "))
}

// audioOutput is a room page's sound output (static/room.js
// quicastAudioOutput), in seconds; the underruns are the browser's own
// (W3C Web Audio AudioPlaybackStats), zero where it does not count them.
type audioOutput struct {
	BaseLatency      float64 `json:"baseLatency"`
	OutputLatency    float64 `json:"outputLatency"`
	UnderrunDuration float64 `json:"underrunDuration"`
	UnderrunEvents   float64 `json:"underrunEvents"`
}
