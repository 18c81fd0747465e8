package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/relay/e2e/browser"
	"github.com/quicast/quicast/relay/load"
	"github.com/quicast/quicast/relay/relaytest"
)

// BenchmarkFourPersonCall: a call of four through one relay on loopback —
// two desktop participants (the window, each on its own Xvfb screen, test
// picture 640×480 at 15 fps and tone) and two browser participants
// (headless Chromium, fake camera at 320×180 and microphone) — for
// $QUICAST_CALL_DURATION (default 10m) after everyone sees and hears
// everyone. Each participant receives the three others. Reported per
// participant: its CPU (every process of it, % of one core) and its peak
// resident memory; per receiving side, how smoothly each other's picture
// was shown (frames shown of those captured, freezes over 200 ms, the
// longest) and how late the sound (browser: mouth-to-ear from the
// player's clocks; window: the playout's capture → speaker delay). The
// relay runs in the benchmark's process: its CPU includes the sampling.
// cpu-pressure-%: the share of the window in which some runnable task of
// the machine waited for a core (Linux's pressure stall information).
// window-fps: the frames a window drew a second (each shows every other's
// latest picture), from its log. Under Xvfb without a GPU, Mesa's EGL hands
// each drawn frame to the X server through its socket (a 1024×720 window:
// 2.9 MB, written in a dozen or so socket-buffer-sized pieces, each waiting
// for Xvfb to be scheduled and read it; strace of a window): on a
// saturated machine a frame then takes hundreds of ms of wall time for the
// 15–20 ms of CPU it needs, and window-fps says so.
// It fails when anyone stops seeing someone. $QUICAST_CALL_WINDOWS (0–2)
// and $QUICAST_CALL_BROWSERS (0–4; default 2 each) change who takes part:
// four browsers compare with relay/e2e BenchmarkWebRTCCall's four
// (QUICAST_CALL_PEOPLE=4), the browser's own WebRTC on the same machine.
// With $QUICAST_PROFILE set to a directory, the first browser's main
// thread is profiled over the first profileFor (NAME.cpuprofile there);
// with $QUICAST_TRACE, a Chrome trace of it is taken instead
// (NAME.trace.json) and its main thread's time summed per task.
const profileFor = 20 * time.Second

func BenchmarkFourPersonCall(b *testing.B) {
	d := 10 * time.Minute
	if s := os.Getenv("QUICAST_CALL_DURATION"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			b.Fatalf("QUICAST_CALL_DURATION: %v", err)
		}
	}
	count := func(env string, most int) int {
		s := os.Getenv(env)
		if s == "" {
			return 2
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > most {
			b.Fatalf("%s=%q: want 0 to %d", env, s, most)
		}
		return n
	}
	windows, browsers := count("QUICAST_CALL_WINDOWS", 2), count("QUICAST_CALL_BROWSERS", 4)
	if windows+browsers < 2 {
		b.Fatalf("a call needs two: %d windows, %d browsers", windows, browsers)
	}
	for b.Loop() {
		fourPersonCall(b, d, windows, browsers)
	}
}

// participant is one of the call's four, and what was seen of it.
type participant struct {
	name    string
	win     *xwin           // a desktop participant
	ctx     context.Context // a browser participant
	dir     string          // its profile: how its processes are found
	cpu0    load.Usage
	peakRSS uint64
	mouth   []float64                // browser: mouth-to-ear samples of everyone heard, ms
	stats0  map[string]browser.Stats // browser: at the start of the measurement
	pub0    map[string]any           // browser: its own sending's figures then
	t0      time.Time                // when cpu0, stats0, pub0 or the window's log were read
}

func (p *participant) usage() load.Usage {
	if p.win != nil {
		u, _ := load.ProcessUsage(p.win.pid)
		return u
	}
	return browser.Usage(p.dir)
}

func fourPersonCall(b *testing.B, d time.Duration, windows, browsers int) {
	bin, display := windowUnderXvfb(b, "xdotool")
	r := relaytest.Start(b)
	r.AddRoom(b, "team")
	people := append([]*participant{{name: "dana"}, {name: "dev"}}[:windows], []*participant{{name: "bria"}, {name: "ben"}, {name: "bo"}, {name: "bea"}}[:browsers]...)
	for i, p := range people {
		r.AddUser(b, p.name, p.name+"'s password")
		if i < windows {
			if i == 1 {
				display = startXvfb(b) // a screen each: the clicks go by position
			}
			p.win = startCallWindow(b, bin, display, r, "en", "team", p.name, p.name+"'s password")
			p.win.startCall(func() bool { return r.Live(b, "team."+p.name) })
			continue
		}
		p.dir = b.TempDir()
		p.ctx = browser.New(b, browser.FakeMedia(), chromedp.UserDataDir(p.dir))
		browser.LogIn(b, p.ctx, r.URL, p.name, p.name+"'s password")
		browser.Run(b, p.ctx, 20*time.Second, chromedp.Navigate(r.URL+"/room/team?size=320x180"))
		browser.Run(b, p.ctx, 20*time.Second, chromedp.Click(chromedp.CSS("#join")))
	}
	others := func(p *participant) []string {
		var o []string
		for _, q := range people {
			if q != p {
				o = append(o, q.name)
			}
		}
		return o
	}
	// Everyone sees and hears everyone else. A window logs what it sees
	// every 10 s, and four participants joining on two cores take a while.
	for _, p := range people {
		sees := poll(2*time.Minute, func() bool {
			if p.win != nil {
				seen := windowParties(p.win.logs.String())
				for _, o := range others(p) {
					if s, ok := seen[o]; !ok || s["connected"] != "true" || s["framesShown"] == "0" {
						return false
					}
				}
				return true
			}
			all := roomStats(p.ctx)
			for _, o := range others(p) {
				if s, ok := all["team."+o]; !ok || s.State != "playing" || s.VideoFramesShown == 0 || s.AudioSamplesPlayed == 0 {
					return false
				}
			}
			return true
		})
		if !sees {
			b.Fatalf("%s does not see and hear everyone within 2 minutes", p.name)
		}
	}
	start0 := map[string]map[string]map[string]string{} // window → party → its figures at the start
	logAt := map[string]int{}                           // window → its log's length at the start
	for _, p := range people {
		// The readings of a saturated browser take a while, one after
		// the other: each participant's rates are over its own window,
		// from the middle of its first readings to that of its last.
		t := time.Now()
		if p.win != nil {
			l := p.win.logs.String()
			start0[p.name], logAt[p.name] = windowParties(l), len(l)
		} else {
			browser.Eval[any](p.ctx, `window.quicastRoomResetStats()`)
			p.stats0 = roomStats(p.ctx)
			p.pub0, _ = browser.Eval[map[string]any](p.ctx, `window.quicastPublishStats()`)
		}
		p.cpu0 = p.usage()
		p.t0 = t.Add(time.Since(t) / 2)
	}
	relay0, _ := load.ProcessUsage(os.Getpid())
	drops0 := relayDrops(b, r)
	b.Logf("%d windows and %d browsers see and hear each other; measuring for %v", windows, browsers, d)
	pressure := load.StartPressure()
	start := time.Now()
	// $QUICAST_PROFILE: the first browser's main thread is profiled over
	// the first profileFor of the window.
	firstBrowser := func() *participant {
		for _, p := range people {
			if p.ctx != nil {
				return p
			}
		}
		return nil
	}
	var profiled *participant
	if dir := os.Getenv("QUICAST_PROFILE"); dir != "" {
		if profiled = firstBrowser(); profiled != nil {
			if err := browser.StartProfile(profiled.ctx); err != nil {
				b.Fatalf("profile: %v", err)
			}
		}
	}
	// $QUICAST_TRACE: a Chrome trace of the first browser over the
	// first profileFor, summed per task on its busiest main thread.
	var trace *browser.Trace
	var traced *participant
	if dir := os.Getenv("QUICAST_TRACE"); dir != "" {
		if traced = firstBrowser(); traced != nil {
			var err error
			if trace, err = browser.StartTrace(traced.ctx); err != nil {
				b.Fatalf("trace: %v", err)
			}
		}
	}
	tick := time.NewTicker(5 * time.Second)
	for time.Since(start) < d {
		<-tick.C
		if trace != nil && time.Since(start) >= min(profileFor, d) {
			path := filepath.Join(os.Getenv("QUICAST_TRACE"), traced.name+".trace.json")
			top, err := trace.Stop(path, 40)
			if err != nil {
				b.Fatalf("trace: %v", err)
			}
			b.Logf("%s's main thread, %s (own time):\n%s", traced.name, path, strings.Join(top, "\n"))
			b.Logf("%s's JavaScript and WebAssembly, every thread (V8 samples, own time):\n%s", traced.name, strings.Join(trace.Samples(40), "\n"))
			trace = nil
		}
		if profiled != nil && time.Since(start) >= min(profileFor, d) {
			path := filepath.Join(os.Getenv("QUICAST_PROFILE"), profiled.name+".cpuprofile")
			top, err := browser.StopProfile(profiled.ctx, path, 25)
			if err != nil {
				b.Fatalf("profile: %v", err)
			}
			b.Logf("%s's main thread, %s (own samples): %s", profiled.name, path, strings.Join(top, "; "))
			profiled = nil
		}
		for _, p := range people {
			p.peakRSS = max(p.peakRSS, p.usage().RSS)
			if p.ctx == nil {
				continue
			}
			for _, s := range roomStats(p.ctx) {
				if s.MouthToEarMS > 0 {
					p.mouth = append(p.mouth, s.MouthToEarMS)
				}
			}
		}
		if n := int(time.Since(start) / time.Minute); time.Since(start)%time.Minute < 5*time.Second && n > 0 {
			fmt.Fprintf(os.Stderr, "call of %d: %d min of %v\n", len(people), n, d) // progress; the benchmark's log is kept short
		}
	}
	tick.Stop()
	elapsed := time.Since(start)
	pressurePct, pressureErr := pressure.Percent()
	relay1, _ := load.ProcessUsage(os.Getpid())

	var desktopCPU, browserCPU, longest, windowFPS float64
	var sound []float64 // the windows' sound delays, every 10 s of each party
	var freezes int
	var allMouth []float64
	for _, p := range people {
		t := time.Now()
		u := p.usage()
		var all map[string]browser.Stats
		var pub map[string]any
		if p.ctx != nil {
			all = roomStats(p.ctx)
			pub, _ = browser.Eval[map[string]any](p.ctx, `window.quicastPublishStats()`)
		}
		elapsed := t.Add(time.Since(t) / 2).Sub(p.t0)
		cpu := float64(u.CPU-p.cpu0.CPU) / float64(elapsed) * 100
		kind := "browser"
		var seen []string
		drawn := ""
		if p.win != nil {
			kind = "window"
			desktopCPU += cpu / float64(windows)
			l := p.win.logs.String()
			now, then := windowParties(l), start0[p.name]
			for _, line := range strings.Split(l[logAt[p.name]:], "\n") {
				if f := logFields(line, "call party"); f != nil && f["connected"] == "true" {
					sound = append(sound, float64(atoi(f["soundDelayMs"])))
				}
			}
			fps := logRate(then[""], now[""], "framesDrawn")
			windowFPS += fps / float64(windows)
			drawn = fmt.Sprintf("draws %.1f frames/s; ", fps)
			for _, o := range others(p) {
				n, t := now[o], then[o]
				shown, expected := atoi(n["framesShown"])-atoi(t["framesShown"]), atoi(n["framesExpected"])-atoi(t["framesExpected"])
				f := atoi(n["freezes"]) - atoi(t["freezes"])
				lf := atoi(n["longestFreezeMs"])
				freezes += f
				longest = max(longest, float64(lf))
				if n["connected"] != "true" || shown <= 0 {
					b.Errorf("%s stopped seeing %s: %v", p.name, o, n)
				}
				decoded, thinned := atoi(n["framesDecoded"])-atoi(t["framesDecoded"]), atoi(n["framesThinned"])-atoi(t["framesThinned"])
				seen = append(seen, fmt.Sprintf("%s %d/%d frames (%d decoded, %d non-reference left out), %d freezes, longest %d ms (since joining), sound %s ms behind, %s ms starved",
					o, shown, expected, decoded, thinned, f, lf, n["soundDelayMs"], n["underrunMs"]))
			}
		} else {
			browserCPU += cpu / float64(browsers)
			for _, o := range others(p) {
				s := all["team."+o]
				freezes += s.Freezes
				longest = max(longest, s.LongestFreezeMS)
				if s.State != "playing" || s.VideoFramesShown == 0 {
					b.Errorf("%s stopped seeing %s: %v", p.name, o, s)
				}
				s0 := p.stats0["team."+o]
				per := func(n int) float64 { return float64(n) / elapsed.Seconds() }
				seen = append(seen, fmt.Sprintf("%s %d/%d frames (per s: %.1f complete, %.1f waited for a keyframe, %.1f for the decoder full, %.1f non-reference left out, %.1f decoded, %.1f late for their sound, %.1f lost, %.1f groups lost, %.1f keyframe requests; decoder queue up to %d, gaps in/out over 100 ms %.0f/%.0f, longest %.0f/%.0f ms; players' ticks: gaps over 100 ms %.0f, longest %.0f ms; audio arrivals: %.0f, %.0f ms), %d freezes, longest %.0f ms, %d samples starved; audio packets per s: %.0f decoded, %.0f lost, %.0f late, %.0f dropped unread, %.0f dropped for the decoder behind (%d in it); sound target %.0f ms, buffered %.0f ms, output latency %.0f ms; picture capture → arrival %.0f ms",
					o, s.VideoFramesShown, s.VideoFramesExpected,
					per(s.VideoFramesAssembled-s0.VideoFramesAssembled), per(s.VideoFramesAwaitKey-s0.VideoFramesAwaitKey), per(s.VideoDecoderFull-s0.VideoDecoderFull), per(s.VideoFramesThinned-s0.VideoFramesThinned),
					per(s.VideoFramesDecoded-s0.VideoFramesDecoded), per(s.VideoFramesDropped-s0.VideoFramesDropped), per(s.VideoFramesLost-s0.VideoFramesLost), per(s.VideoGroupsLost-s0.VideoGroupsLost), per(s.KeyframeRequests-s0.KeyframeRequests),
					s.VideoDecodeQueueMax, s.Stalls.VideoIn[1], s.Stalls.VideoOut[1], s.Stalls.VideoIn[2], s.Stalls.VideoOut[2], s.Stalls.Tick[1], s.Stalls.Tick[2], s.Stalls.Arrival[1], s.Stalls.Arrival[2],
					s.Freezes, s.LongestFreezeMS, s.AudioSamplesStarved,
					per(s.AudioFramesDecoded-s0.AudioFramesDecoded), per(s.PacketsLost-s0.PacketsLost), per(s.PacketsLate-s0.PacketsLate), per(s.DatagramsDropped-s0.DatagramsDropped), per(s.AudioDecoderBehind-s0.AudioDecoderBehind), s.AudioDecodeQueue,
					s.TargetDelayMS, s.PlayoutDelayMS, s.OutputLatencyMS, s.LatencyNetworkMS))
			}
			for _, s := range all { // one Go runtime runs every player of the page: any one says
				seen = append(seen, fmt.Sprintf("players' Go runtime %v", s.GoRuntime))
				break
			}
			sent := func(k string) float64 {
				a, _ := pub[k].(float64)
				b, _ := p.pub0[k].(float64)
				return (a - b) / elapsed.Seconds()
			}
			seen = append(seen, fmt.Sprintf("sends per s %.0f audio packets (%.0f dropped: %.0f for the encoder behind, %.0f too old to send, %.0f for the datagram queue full), %.1f video frames",
				sent("audioPackets"), sent("audioSkipped"), sent("audioSkippedEncoder"), sent("audioSkippedLate"), sent("audioSkippedQueue"), sent("videoFrames")))
			allMouth = append(allMouth, p.mouth...)
			seen = append(seen, fmt.Sprintf("mouth-to-ear p50 %.0f / p95 %.0f ms", load.Percentile(p.mouth, 50), load.Percentile(p.mouth, 95)))
		}
		b.Logf("%s (%s): %.0f %% of a core, peak %.0f MB; %ssees %s", p.name, kind, cpu, float64(p.peakRSS)/1e6, drawn, strings.Join(seen, "; "))
	}
	drops := relayDrops(b, r)
	var ds []string
	for _, k := range slices.Sorted(maps.Keys(drops)) {
		ds = append(ds, fmt.Sprintf("%s %.1f", k, (drops[k]-drops0[k])/elapsed.Seconds()))
	}
	b.Logf("relay, per s: %s", strings.Join(ds, ", "))
	b.ReportMetric(desktopCPU, "window-cpu-%")
	if windows > 0 {
		b.ReportMetric(windowFPS, "window-fps")
	}
	b.ReportMetric(browserCPU, "browser-cpu-%")
	b.ReportMetric(float64(relay1.CPU-relay0.CPU)/float64(elapsed)*100, "relay-cpu-%")
	if pressureErr == nil {
		b.ReportMetric(pressurePct, "cpu-pressure-%") // of the window, some task waited for a core
	}
	b.ReportMetric(float64(freezes), "freezes")
	b.ReportMetric(longest, "longest-freeze-ms")
	b.ReportMetric(load.Percentile(allMouth, 50), "browser-mouth-to-ear-p50-ms")
	b.ReportMetric(load.Percentile(allMouth, 95), "browser-mouth-to-ear-p95-ms")
	b.ReportMetric(load.Percentile(sound, 50), "window-sound-delay-p50-ms")
	b.ReportMetric(load.Percentile(sound, 95), "window-sound-delay-p95-ms")
}

// relayDrops is what the relay has dropped so far of what it sends
// viewers (video groups and audio packets, by reason) and the gaps in the
// sound it received and sent (quicast_audio_gaps_total).
func relayDrops(b *testing.B, r *relaytest.Relay) map[string]float64 {
	out := map[string]float64{}
	for _, m := range []struct{ name, what string }{{"viewer_groups_dropped_total", "groups dropped"}, {"viewer_audio_dropped_total", "audio packets dropped"}, {"audio_gaps_total", "audio gaps"}} {
		for labels, v := range r.Metrics(b, m.name) {
			out[m.what+" "+strings.NewReplacer("{", "", "}", "", `"`, "").Replace(labels)] = v
		}
	}
	return out
}

// roomStats is what a browser's room page plays of each participant, by
// stream.
func roomStats(ctx context.Context) map[string]browser.Stats {
	m, _ := browser.Eval[map[string]browser.Stats](ctx, `window.quicastRoomStats ? window.quicastRoomStats() : {}`)
	return m
}

// windowParties reads a window's log (-v) for the latest "call party"
// line of each other participant — its figures by name — and the latest
// "call window" line, under "".
func windowParties(log string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, line := range strings.Split(log, "\n") {
		if f := logFields(line, "call party"); f != nil {
			out[f["user"]] = f
		}
		if f := logFields(line, "call window"); f != nil {
			out[""] = f
		}
	}
	return out
}

// logRate is how fast the count key grew, per second, from the log line
// a to the log line b (logFields; their time fields), 0 without both.
func logRate(a, b map[string]string, key string) float64 {
	ta, errA := time.Parse(time.RFC3339Nano, a["time"])
	tb, errB := time.Parse(time.RFC3339Nano, b["time"])
	if errA != nil || errB != nil || !tb.After(ta) {
		return 0
	}
	return float64(atoi(b[key])-atoi(a[key])) / tb.Sub(ta).Seconds()
}

// logFields are the key=value pairs of a log line whose message is msg,
// nil for another line.
func logFields(line, msg string) map[string]string {
	if !strings.Contains(line, `msg="`+msg+`"`) {
		return nil
	}
	f := map[string]string{}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			f[k] = v
		}
	}
	return f
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
