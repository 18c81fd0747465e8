package receive

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quicast/quicast/gio-ui/internal/calltest"
	"github.com/quicast/quicast/relay/relaytest"
)

// BenchmarkCall: one direction of a desktop call through a relay on this
// machine — the test source at 1280×720, 30 fps, VP8 1 Mbit/s and Opus,
// published by the sender engine, relayed, received, decoded, the picture
// handed over in lip-sync and the sound played by miniaudio's null device
// (its own 10 ms clock; no sound card here). Over a 20 s window after 3 s
// of warm-up it reports the sound's mouth-to-ear delay (capture on the
// sender's clock → read by the output device, without that device's own
// latency), the picture's capture → shown delay, the A/V skew between
// them, frames shown, and the process's CPU and resident memory (sender,
// receiver and the test's relay: one participant's both halves, plus the
// relay).
func BenchmarkCall(b *testing.B) {
	for b.Loop() {
		benchCall(b)
	}
}

func benchCall(b *testing.B) {
	r := relaytest.Start(b)
	key := r.AddStream(b, "them")
	r.AddUser(b, "viewer", "watch it live")
	calltest.Publish(b, r, "them", key, 1280, 720, 30)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc := receiver(b, ctx, r, "them")
	sp, err := OpenSpeaker(rc.Playout(), BackendNull)
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()

	var video, audio, skew []time.Duration
	measuring := false
	warm := time.After(3 * time.Second)
	var end <-chan time.Time
	var cpu0 time.Duration
	var start time.Time
	var st0 Stats
	var pl0 PlayoutStats
	for end == nil || !measuring || len(video) == 0 || func() bool {
		select {
		case <-end:
			return false
		default:
			return true
		}
	}() {
		select {
		case <-warm:
			measuring, end, start, cpu0 = true, time.After(20*time.Second), time.Now(), processCPU()
			st0, pl0 = rc.Stats(), rc.Playout().Stats()
		case f := <-rc.Frames():
			if !measuring || f.Capture.IsZero() || f.AudioDelay == 0 {
				continue
			}
			v := f.Due.Sub(f.Capture)
			video, audio, skew = append(video, v), append(audio, f.AudioDelay), append(skew, (v-f.AudioDelay).Abs())
		case <-ctx.Done():
			b.Fatalf("no frames: %+v", rc.Stats())
		}
	}
	window := time.Since(start)
	cpu := processCPU() - cpu0
	st, pl := rc.Stats(), rc.Playout().Stats()
	shown := len(video)
	b.Logf("%d frames shown in %v; picture capture→shown p50 %v p95 %v; sound mouth→ear p50 %v p95 %v; skew p95 %v; receiver %+v; playout %+v; CPU %.0f %% of a core",
		shown, window.Round(time.Millisecond), pct(video, 50), pct(video, 95), pct(audio, 50), pct(audio, 95), pct(skew, 95), st, pl,
		100*cpu.Seconds()/window.Seconds())
	b.ReportMetric(float64(shown)/window.Seconds(), "frames-shown/s")
	b.ReportMetric(ms(pct(audio, 50)), "mouth-to-ear-p50-ms")
	b.ReportMetric(ms(pct(audio, 95)), "mouth-to-ear-p95-ms")
	b.ReportMetric(ms(pct(video, 50)), "picture-delay-p50-ms")
	b.ReportMetric(ms(pct(video, 95)), "picture-delay-p95-ms")
	b.ReportMetric(ms(pct(skew, 95)), "av-skew-p95-ms")
	b.ReportMetric(float64(pl.Underrun-pl0.Underrun)/SampleRate*1000, "audio-underrun-ms")
	b.ReportMetric(float64(st.FramesDropped-st0.FramesDropped), "frames-dropped")
	b.ReportMetric(100*cpu.Seconds()/window.Seconds(), "cpu-%")
	b.ReportMetric(residentMB(), "rss-MB")
}

// residentMB is this process's resident memory (Linux), in MB; 0 elsewhere.
func residentMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// processCPU is the CPU time this process has used (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
