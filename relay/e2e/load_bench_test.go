package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/quicast/quicast/relay/load"
)

// BenchmarkLoad: one stream (test source, 1280×720 VP8 at 1 Mbit/s + Opus)
// from a relay to 100, 500 and 1000 viewer sessions opened by the load
// tool (quicast-load's package) on this machine, at 50 sessions/s. It
// reports what the viewers received and what the relay spent: CPU, CPU
// seconds per delivered GB, memory per viewer, delivered Mbit/s, stalled
// viewers, cut groups, and capture → arrival delay.
//
// At 500 viewers it also runs the relay's other socket modes: SRTP on a
// port of its own (QUIC alone on its socket), and the one-port
// demultiplexer without batched I/O — what the default one-port
// demultiplexer costs or saves.
func BenchmarkLoad(b *testing.B) {
	for _, c := range []struct {
		viewers int
		socket  string
	}{{100, "one"}, {500, "one"}, {1000, "one"}, {500, "separate"}, {500, "one-plain"}} {
		b.Run(fmt.Sprintf("viewers=%d/socket=%s", c.viewers, c.socket), func(b *testing.B) {
			for b.Loop() {
				benchLoad(b, c.viewers, c.socket)
			}
		})
	}
}

func benchLoad(b *testing.B, viewers int, socket string) {
	r := startRelay(b, "-socket", socket)
	r.publish(b, r.stream, r.key, "-video", "test", "-audio", "test", "-status", "5s")
	pem, err := os.ReadFile(r.caFile())
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := load.Start(ctx, load.Config{Relay: r.base(), Stream: r.stream, User: r.user, Password: r.password,
		TLS: &tls.Config{RootCAs: roots}, Viewers: viewers}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	pause(b, ctx, 5*time.Second) // warm-up
	before, err := load.ProcessUsage(r.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	l.Measure()
	pause(b, ctx, 20*time.Second) // the measurement window
	res := l.Result()
	after, err := load.ProcessUsage(r.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	cost := load.RelayCost(before, after, res)
	b.Logf("%v\n%v", res, cost)
	b.ReportMetric(float64(res.Open), "viewers-open")
	b.ReportMetric(float64(res.Stalled), "viewers-stalled")
	b.ReportMetric(res.Mbps, "delivered-Mbit/s")
	b.ReportMetric(cost.CPUPercent, "relay-cpu-%")
	b.ReportMetric(cost.CPUSecondsPerGB, "relay-cpu-s/GB")
	b.ReportMetric(cost.RSSPerViewerMB, "relay-MB/viewer")
	b.ReportMetric(float64(res.GroupsCut), "groups-cut")
	b.ReportMetric(float64(res.SeqGaps), "seq-gaps")
	b.ReportMetric(float64(res.DelayP50)/1e6, "delay-p50-ms")
	b.ReportMetric(float64(res.DelayP95)/1e6, "delay-p95-ms")
}

// pause lets d pass — the benchmark's own schedule (warm-up, window), not a
// synchronisation — unless ctx ends first.
func pause(b *testing.B, ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		b.Fatal(ctx.Err())
	}
}
