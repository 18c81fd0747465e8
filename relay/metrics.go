package relay

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/quicast/quicast/certs"
	"github.com/quicast/quicast/relay/internal/media"
	"github.com/quicast/quicast/relay/internal/web"
)

// collector exports the relay's counters to Prometheus, read at scrape
// time: nothing is added to the per-packet path.
type collector struct {
	hub  *media.Hub
	web  *web.Handler
	cm   *certs.Manager
	tcp  *limitListener
	quic *quicAdmission
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("quicast_"+name, help, labels, nil)
}

var (
	descViewers       = desc("viewers", "Viewer sessions open now.")
	descStreamsLive   = desc("streams_live", "Streams with a publisher now.")
	descPacketsIn     = desc("packets_in_total", "SRTP/SRTCP datagrams received from publishers.")
	descBytesIn       = desc("bytes_in_total", "Bytes received from publishers.")
	descPacketsOut    = desc("packets_out_total", "RTP packets written to viewers (video to group streams, audio as datagrams).")
	descBytesOut      = desc("bytes_out_total", "Bytes written to viewers (RTP and its group framing).")
	descIngestDrops   = desc("ingest_drops_total", "Publisher datagrams dropped, by reason (auth: SRTP authentication failed).", "reason")
	descFramesThinned = desc("viewer_frames_thinned_total", "Non-reference video frames not sent to a viewer whose frames waited over 125 ms (its link slower than the stream): half the frame rate instead of its groups dropped.")
	descViewerDrops   = desc("viewer_groups_dropped_total", "Video groups a viewer lost, by reason (queue: its queue overflowed; late: more than 500 ms behind).", "reason")
	descAudioDrops    = desc("viewer_audio_dropped_total", "Audio packets not sent to a viewer, by reason (queue: its queue overflowed; late: they waited more than 250 ms).", "reason")
	descAudioGaps     = desc("audio_gaps_total", "Gaps in the audio over 50 ms and over 100 ms (a listener's playout buffer runs dry at one longer than it holds), by leg (in: between a stream's packets from its publisher; out: between the datagrams sent to a viewer).", "leg", "over")
	descRepair        = desc("loss_repair_total", "Loss repair on the publisher legs, by outcome.", "outcome")
	descFloodCutoffs  = desc("publishers_cut_off_total", "Publish sessions ended for sending far above -max-publish-rate.")
	descPLIs          = desc("plis_sent_total", "Keyframe requests sent to publishers.")
	descLogins        = desc("logins_refused_total", "Logins refused, by reason.", "reason")
	descCrossOrigin   = desc("cross_origin_refused_total", "State-changing requests from other sites refused.")
	descTickets       = desc("tickets_total", "Viewer tickets, by outcome.", "outcome")
	descConnsRefused  = desc("connections_refused_total", "Connections refused by the per-address or overall caps.", "transport")
	descCertExpiry    = desc("certificate_expiry_timestamp_seconds", "When the served certificate expires (Unix time).")
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	s := c.hub.Stats()
	gauge(descViewers, float64(s.ViewersNow))
	gauge(descStreamsLive, float64(c.hub.LiveStreams()))
	counter(descPacketsIn, s.PacketsIn)
	counter(descBytesIn, s.BytesIn)
	counter(descPacketsOut, s.PacketsOut)
	counter(descBytesOut, s.BytesOut)
	counter(descIngestDrops, s.DropAuth, "auth")
	counter(descIngestDrops, s.DropShort, "short")
	counter(descIngestDrops, s.DropUnknownSSRC, "unknown_ssrc")
	counter(descIngestDrops, s.DropQueueFull, "queue_full")
	counter(descIngestDrops, s.DropNotRTP, "not_rtp")
	counter(descIngestDrops, s.DropFlood, "over_rate_cap")
	counter(descFloodCutoffs, s.FloodCutoffs)
	counter(descViewerDrops, s.GroupsDropped, "queue")
	counter(descViewerDrops, s.GroupsLate, "late")
	counter(descFramesThinned, s.FramesThinned)
	counter(descAudioDrops, s.AudioDropped, "queue")
	counter(descAudioDrops, s.AudioLate, "late")
	counter(descAudioGaps, s.AudioGapsIn50, "in", "50ms")
	counter(descAudioGaps, s.AudioGapsIn100, "in", "100ms")
	counter(descAudioGaps, s.AudioGapsOut50, "out", "50ms")
	counter(descAudioGaps, s.AudioGapsOut100, "out", "100ms")
	counter(descRepair, s.NACKsSent, "nacked")
	counter(descRepair, s.PacketsRepaired, "repaired")
	counter(descRepair, s.PacketsUnrepaired, "unrepaired")
	counter(descPLIs, s.PLIsSent)
	w := &c.web.Counters
	counter(descLogins, w.LoginFailures.Load(), "wrong_password")
	counter(descLogins, w.LoginThrottled.Load(), "throttled")
	counter(descLogins, w.LoginBusy.Load(), "busy")
	counter(descCrossOrigin, w.CrossOrigin.Load())
	counter(descTickets, w.TicketsIssued.Load(), "issued")
	counter(descTickets, w.TicketsRefused.Load(), "refused")
	counter(descConnsRefused, c.tcp.refused.Load(), "tcp")
	counter(descConnsRefused, c.quic.refused.Load(), "quic")
	if leaf := c.cm.Leaf(); leaf != nil {
		gauge(descCertExpiry, float64(leaf.NotAfter.Unix()))
	}
}

// metricsHandler serves /metrics to this machine (loopback) and to anyone
// presenting token as a bearer token; "" allows loopback only.
func metricsHandler(c *collector, token string) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Timeout: 10 * time.Second})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fromLoopback(r) && !bearer(r, token) {
			http.Error(w, "metrics: from this machine, or with -metrics-token's bearer token", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func bearer(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// pprofMux serves Go's profiles under /debug/pprof/.
func pprofMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}
