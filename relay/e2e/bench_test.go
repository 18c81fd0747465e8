package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quicast/quicast/relay/relaytest/netem"
)

// The end-to-end benchmarks run the product as a person does — relay,
// test-source sender at 1280×720, 30 fps, headless Chromium — once each
// (-benchtime 1x: `make bench`), and report what the viewer measured.
// Binaries are built without -race when the benchmark is.

const benchWindow = 20 * time.Second

// BenchmarkGlassToGlass: latency from capture to the canvas, its stages,
// the time to the first frame and the A/V skew, on loopback; VP8 and
// H.264, and VP8 without audio (video then waits for no audio clock: the
// video path alone).
func BenchmarkGlassToGlass(b *testing.B) {
	for _, c := range []struct {
		name  string
		extra []string
	}{{"vp8", nil}, {"h264", []string{"-codec", "h264"}}, {"vp8-video-only", []string{"-audio", "none"}}} {
		b.Run(c.name, func(b *testing.B) { glassToGlass(b, c.extra) })
	}
}

func glassToGlass(b *testing.B, extra []string) {
	for b.Loop() {
		s := watchSession(b, nil, extra...)
		m := s.measure(b, 60*time.Second, benchWindow)
		report(b, m, "latency-p50-ms", "latency-p95-ms", "capture-to-arrival-ms", "decode-ms", "playout-ms", "first-frame-ms", "av-skew-p95-ms", "audio-target-ms", "frames-shown-%")
		b.Logf("%v", m)
	}
}

// BenchmarkImpairedNetwork: random loss with 30 ms of jitter on the sender
// → relay leg (seeded, netem), at 0, 5, 10 and 20 % loss.
func BenchmarkImpairedNetwork(b *testing.B) {
	for _, loss := range []float64{0, 0.05, 0.10, 0.20} {
		b.Run(fmt.Sprintf("loss=%g%%", loss*100), func(b *testing.B) {
			for b.Loop() {
				up := netem.Impairment{Loss: loss, Jitter: 30 * time.Millisecond, Seed: 1}
				s := watchSession(b, &up)
				m := s.measure(b, 60*time.Second, benchWindow)
				report(b, m, "frames-shown-%", "longest-freeze-ms", "freezes", "audio-starved-%", "av-skew-p95-ms", "latency-p50-ms", "latency-p95-ms", "resent")
				b.Logf("%s: %v", up, m)
			}
		})
	}
}

// BenchmarkViewerSize reports the size of the viewer the relay serves.
func BenchmarkViewerSize(b *testing.B) {
	root, err := moduleRoot()
	if err != nil {
		b.Fatal(err)
	}
	var raw, gz os.FileInfo
	for b.Loop() {
		if raw, err = os.Stat(filepath.Join(root, "viewer-wasm/web/static/main.wasm")); err != nil {
			b.Fatal(err)
		}
		if gz, err = os.Stat(filepath.Join(root, "viewer-wasm/web/static/main.wasm.gz")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(raw.Size())/1e6, "wasm-MB")
	b.ReportMetric(float64(gz.Size())/1e6, "wasm-gzip-MB")
}

// BenchmarkLongRun watches for QUICAST_LONG_RUN (a duration, e.g. 10m) and
// reports the A/V skew and latency over its last minute: lip-sync must hold
// after clock drift has had time to build up. Skipped without it (make
// bench stays short).
func BenchmarkLongRun(b *testing.B) {
	d, err := time.ParseDuration(os.Getenv("QUICAST_LONG_RUN"))
	if err != nil || d < 2*time.Minute {
		b.Skip("set QUICAST_LONG_RUN=10m (at least 2m) to run")
	}
	for b.Loop() {
		s := watchSession(b, nil)
		select {
		case <-time.After(d - time.Minute): // the run's own length
		case <-s.ctx.Done():
			b.Fatal(s.ctx.Err())
		}
		m := s.measure(b, time.Minute, time.Minute)
		report(b, m, "av-skew-p95-ms", "latency-p50-ms", "latency-p95-ms", "frames-shown-%", "audio-starved-%")
		b.Logf("after %v: %v", d, m)
	}
}

// report reports the figures of m named (the benchmark units).
func report(b *testing.B, m measurement, names ...string) {
	e := m.end
	figures := map[string]float64{
		"latency-p50-ms": e.LatencyP50MS, "latency-p95-ms": e.LatencyP95MS,
		"capture-to-arrival-ms": e.LatencyNetworkMS, "decode-ms": e.LatencyDecodeMS, "playout-ms": e.LatencyPlayoutMS,
		"first-frame-ms": e.TimeToFirstFrameMS, "av-skew-p95-ms": e.AVSkewP95MS, "audio-target-ms": e.TargetDelayMS,
		"frames-shown-%": m.framesPct, "longest-freeze-ms": e.LongestFreezeMS, "freezes": float64(e.Freezes),
		"audio-starved-%": m.starvedPct, "resent": float64(m.resent),
	}
	for _, n := range names {
		v, ok := figures[n]
		if !ok {
			b.Fatalf("no figure %q", n)
		}
		b.ReportMetric(v, n)
	}
}
