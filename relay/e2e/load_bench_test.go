package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/quicast/quicast/relay/load"
	"github.com/quicast/quicast/relay/relaytest/netem"
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := load.Start(ctx, r.loadConfig(b, viewers), nil)
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

// loadConfig is a load tool configuration for n viewers of r's stream.
func (r *relay) loadConfig(b *testing.B, n int) load.Config {
	pem, err := os.ReadFile(r.caFile())
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return load.Config{Relay: r.base(), Stream: r.stream, User: r.user, Password: r.password,
		TLS: &tls.Config{RootCAs: roots}, Viewers: n}
}

// BenchmarkSlowViewer: 100 viewers of one stream (as in BenchmarkLoad), and
// one more whose link carries 300 kbit/s of the ~1.1 Mbit/s stream (netem
// proxy, 200 ms of queue, drop-tail) for 15 s, then recovers for 15 s.
// While it is limited, the relay resets its stale groups (groups cut) and
// it stays within the relay's lag bound; the others' delay does not
// move. Once its link recovers, it is back to live: whole groups, delay as
// the others'.
func BenchmarkSlowViewer(b *testing.B) {
	for b.Loop() {
		r := startRelay(b)
		r.publish(b, r.stream, r.key, "-video", "test", "-audio", "test", "-status", "5s")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		others, err := load.Start(ctx, r.loadConfig(b, 100), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer others.Close()
		proxy, err := netem.Listen(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.port}, netem.Impairment{},
			netem.Impairment{Rate: 300_000, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer proxy.Close()
		cfg := r.loadConfig(b, 1)
		cfg.Via = proxy.Addr().String()
		cfg.Stalled = 5 * time.Second
		slow, err := load.Start(ctx, cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer slow.Close()
		pause(b, ctx, 5*time.Second) // warm-up

		others.Measure()
		slow.Measure()
		pause(b, ctx, 15*time.Second)
		limitedOthers, limited := others.Result(), slow.Result()
		proxy.SetDown(netem.Impairment{})
		pause(b, ctx, 3*time.Second) // what was queued drains
		others.Measure()
		slow.Measure()
		pause(b, ctx, 15*time.Second)
		afterOthers, after := others.Result(), slow.Result()

		b.Logf("limited to 300 kbit/s: slow viewer %v\nthe 100 others: %v", limited, limitedOthers)
		b.Logf("recovered: slow viewer %v\nthe 100 others: %v", after, afterOthers)
		if limited.GroupsCut == 0 {
			b.Errorf("the slow viewer had no group cut while limited: %v", limited)
		}
		if after.Open != 1 || after.GroupsWhole == 0 {
			b.Errorf("the slow viewer did not recover: %v", after)
		}
		b.ReportMetric(float64(limited.GroupsCut), "slow-groups-cut")
		b.ReportMetric(limited.Mbps, "slow-limited-Mbit/s")
		b.ReportMetric(float64(limited.DelayP95)/1e6, "slow-limited-delay-p95-ms")
		b.ReportMetric(float64(after.DelayP95)/1e6, "slow-recovered-delay-p95-ms")
		b.ReportMetric(float64(after.GroupsWhole), "slow-recovered-groups-whole")
		b.ReportMetric(float64(after.GroupsCut), "slow-recovered-groups-cut")
		b.ReportMetric(float64(limitedOthers.DelayP95)/1e6, "others-delay-p95-ms")
		b.ReportMetric(float64(limitedOthers.Stalled+afterOthers.Stalled), "others-stalled")
		b.ReportMetric(float64(limitedOthers.GroupsCut+afterOthers.GroupsCut), "others-groups-cut")
	}
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
