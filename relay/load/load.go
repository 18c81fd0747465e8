// Package load opens many viewer sessions on a quicast relay, as browsers
// do — log in, take a ticket, open a WebTransport session, say hello on
// the control stream, read the video groups and audio datagrams — and
// checks what arrives: whole or cleanly cut groups, RTP sequence gaps, and
// how long each packet took from capture to arrival (the sender's capture
// clock, mapped through the RTCP sender reports the relay forwards: exact
// when the sender runs on the same machine as the load). quicast-load is
// its command; the relay's load benchmark uses it too.
package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/watch"
)

// Config says what to load.
type Config struct {
	Relay    string // https://host:port
	Stream   string
	User     string
	Password string
	TLS      *tls.Config // trusts the relay (RootCAs); nil: the system's roots
	Viewers  int
	// OpenRate paces session opening (sessions per second; default 50).
	// Chromium allows at most 64 pending WebTransport sessions per page,
	// so browsers never open hundreds at once either.
	OpenRate float64
	// Stalled is how long a viewer may go without video before it counts
	// as stalled (default 2 s).
	Stalled time.Duration
	// Via, when set, is the UDP address ("host:port") the sessions' QUIC
	// connections go to instead of the relay's own — a network emulator
	// in front of it, say. TLS still checks the relay's name.
	Via string
}

// Result is what the viewers received over a measurement window.
type Result struct {
	Viewers, Open int // asked for, and with a session open at the end
	Failed        int // sessions that could not be opened or ended early
	Stalled       int // viewers with no video for Config.Stalled at the end of the window
	Window        time.Duration
	Bytes         uint64  // RTP bytes received (video and audio), in all
	Mbps          float64 // Bytes over Window, in Mbit/s
	GroupsWhole   uint64  // video groups received to their end
	GroupsCut     uint64  // video groups the relay reset (a slow viewer's)
	SeqGaps       uint64  // RTP packets missing inside groups and between audio datagrams (a viewer behind also misses the non-reference frames the relay thins out)
	Bundles       uint64  // audio datagrams that carried several packets (a busy relay catching up)
	BadDatagrams  uint64  // audio datagrams that could not be parsed
	DelayP50      time.Duration
	DelayP95      time.Duration
	DelayMax      time.Duration
	DelaySamples  uint64
}

func (r Result) String() string {
	return fmt.Sprintf("%d/%d viewers open (%d failed, %d stalled); %.1f Mbit/s over %v; groups %d whole, %d cut; %d sequence gaps; audio bundles %d, bad datagrams %d; capture→arrival p50 %v, p95 %v, max %v (%d packets)",
		r.Open, r.Viewers, r.Failed, r.Stalled, r.Mbps, r.Window.Round(time.Millisecond), r.GroupsWhole, r.GroupsCut, r.SeqGaps, r.Bundles, r.BadDatagrams,
		r.DelayP50.Round(100*time.Microsecond), r.DelayP95.Round(100*time.Microsecond), r.DelayMax.Round(time.Millisecond), r.DelaySamples)
}

// Load is a set of viewers on one stream.
type Load struct {
	cfg     Config
	client  *watch.Client
	hist    histogram
	viewers []*viewer
	failed  atomic.Int64

	mu      sync.Mutex
	measure bool
	base    counters
	from    time.Time
}

type counters struct {
	bytes, whole, cut, gaps, bundles, bad uint64
}

// Start logs in and opens cfg.Viewers sessions at cfg.OpenRate, calling
// progress (if not nil) after each. It returns when all are open or ctx
// ends; sessions keep receiving until ctx ends.
func Start(ctx context.Context, cfg Config, progress func(opened, failed int)) (*Load, error) {
	if cfg.OpenRate <= 0 {
		cfg.OpenRate = 50
	}
	if cfg.Stalled <= 0 {
		cfg.Stalled = 2 * time.Second
	}
	l := &Load{cfg: cfg, client: watch.NewClient(watch.Config{Relay: cfg.Relay, TLS: cfg.TLS, Via: cfg.Via})}
	if err := l.client.Login(ctx, cfg.User, cfg.Password); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	lim := rate.NewLimiter(rate.Limit(cfg.OpenRate), 1)
	var wg sync.WaitGroup
	var opened atomic.Int64
	for range cfg.Viewers {
		if err := lim.Wait(ctx); err != nil {
			break
		}
		wg.Go(func() {
			v, err := l.open(ctx)
			if err != nil {
				l.failed.Add(1)
			} else {
				l.mu.Lock()
				l.viewers = append(l.viewers, v)
				l.mu.Unlock()
				opened.Add(1)
			}
			if progress != nil {
				progress(int(opened.Load()), int(l.failed.Load()))
			}
		})
	}
	wg.Wait()
	if len(l.viewers) == 0 {
		return l, errors.New("load: no viewer session could be opened")
	}
	return l, ctx.Err()
}

// Measure starts the measurement window: counters and delays from now on.
func (l *Load) Measure() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hist.reset()
	l.base = l.totalsLocked()
	l.from = time.Now()
	l.measure = true
}

func (l *Load) totalsLocked() counters {
	var c counters
	for _, v := range l.viewers {
		c.bytes += v.bytes.Load()
		c.whole += v.whole.Load()
		c.cut += v.cut.Load()
		c.gaps += v.gaps.Load()
		c.bundles += v.bundles.Load()
		c.bad += v.badDatagrams.Load()
	}
	return c
}

// Result reports the window since Measure.
func (l *Load) Result() Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	t := l.totalsLocked()
	r := Result{Viewers: l.cfg.Viewers, Failed: int(l.failed.Load()), Window: now.Sub(l.from),
		Bytes: t.bytes - l.base.bytes, GroupsWhole: t.whole - l.base.whole, GroupsCut: t.cut - l.base.cut, SeqGaps: t.gaps - l.base.gaps,
		Bundles: t.bundles - l.base.bundles, BadDatagrams: t.bad - l.base.bad}
	for _, v := range l.viewers {
		if v.sess.Context().Err() != nil {
			r.Failed++
			continue
		}
		r.Open++
		if now.Sub(time.Unix(0, v.lastVideo.Load())) > l.cfg.Stalled {
			r.Stalled++
		}
	}
	if r.Window > 0 {
		r.Mbps = float64(r.Bytes) * 8 / r.Window.Seconds() / 1e6
	}
	r.DelayP50, r.DelayP95, r.DelayMax, r.DelaySamples = l.hist.summary()
	return r
}

// Close ends every session.
func (l *Load) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.viewers {
		_ = v.sess.Close()
	}
}

// viewer is one session.
type viewer struct {
	l    *Load
	sess *watch.Session

	mu     sync.Mutex
	clocks map[uint32]*protocol.RTPClock // by SSRC, from the catalog and sender reports

	bytes, whole, cut, gaps atomic.Uint64
	bundles, badDatagrams   atomic.Uint64
	lastVideo               atomic.Int64 // unix ns
}

func (l *Load) open(ctx context.Context) (*viewer, error) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	sess, err := l.client.Dial(dctx, l.cfg.Stream, "quicast-load")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	v := &viewer{l: l, sess: sess, clocks: map[uint32]*protocol.RTPClock{}}
	v.lastVideo.Store(time.Now().UnixNano())
	sctx := sess.Context()
	go v.control()
	go v.audio(sctx)
	go v.groups(sctx)
	return v, nil
}

// control reads the control stream: the catalog's clock rates and the
// sender reports that map RTP time to the sender's wall clock.
func (v *viewer) control() {
	for {
		m, err := v.sess.ReadControl()
		if err != nil {
			return
		}
		v.mu.Lock()
		switch m.Type {
		case protocol.MsgCatalog:
			for _, t := range m.Tracks {
				if v.clocks[t.SSRC] == nil {
					v.clocks[t.SSRC] = &protocol.RTPClock{ClockRate: t.ClockRate}
				}
			}
		case protocol.MsgSync:
			if c := v.clocks[m.Sync.SSRC]; c != nil {
				c.Update(m.Sync.NTPTime, m.Sync.RTPTime)
			}
		}
		v.mu.Unlock()
	}
}

// arrived records one RTP packet received at now.
func (v *viewer) arrived(pkt []byte, now time.Time) {
	v.bytes.Add(uint64(len(pkt)))
	if len(pkt) < 12 {
		return
	}
	ssrc := uint32(pkt[8])<<24 | uint32(pkt[9])<<16 | uint32(pkt[10])<<8 | uint32(pkt[11])
	ts := uint32(pkt[4])<<24 | uint32(pkt[5])<<16 | uint32(pkt[6])<<8 | uint32(pkt[7])
	v.mu.Lock()
	c := v.clocks[ssrc]
	var at time.Time
	if c != nil && c.Synced() {
		at = c.WallTime(ts)
	}
	v.mu.Unlock()
	if !at.IsZero() {
		v.l.hist.add(now.Sub(at))
	}
}

func seqOf(pkt []byte) uint16 { return uint16(pkt[2])<<8 | uint16(pkt[3]) }

func (v *viewer) audio(ctx context.Context) {
	var last uint16
	first := true
	for {
		bundle, err := v.sess.ReadAudio(ctx, func(pkt []byte) {
			v.arrived(pkt, time.Now())
			s := seqOf(pkt)
			if !first {
				if d := s - last - 1; d > 0 && d < 0x8000 {
					v.gaps.Add(uint64(d))
				}
			}
			last, first = s, false
		})
		switch {
		case errors.Is(err, watch.ErrBadDatagram):
			v.badDatagrams.Add(1)
		case err != nil:
			return
		case bundle:
			v.bundles.Add(1)
		}
	}
}

func (v *viewer) groups(ctx context.Context) {
	for {
		s, err := v.sess.AcceptGroup(ctx)
		if err != nil {
			return
		}
		go v.group(s)
	}
}

func (v *viewer) group(s io.Reader) {
	gr, err := protocol.NewGroupReader(s)
	if err != nil {
		v.cut.Add(1)
		return
	}
	var buf []byte
	var last uint16
	first := true
	for {
		pkt, err := gr.ReadPacket(buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				v.whole.Add(1)
			} else {
				v.cut.Add(1)
			}
			return
		}
		buf = pkt
		now := time.Now()
		v.lastVideo.Store(now.UnixNano())
		v.arrived(pkt, now)
		if len(pkt) >= 12 {
			s := seqOf(pkt)
			if !first && s != last+1 {
				v.gaps.Add(uint64(s - last - 1))
			}
			last, first = s, false
		}
	}
}

// histogram of delays in 100 µs buckets up to 10 s, safe for concurrent use.
type histogram struct {
	buckets [100_000]atomic.Uint64
	over    atomic.Uint64
	max     atomic.Int64
}

const bucket = 100 * time.Microsecond

func (h *histogram) add(d time.Duration) {
	if d < 0 {
		d = 0 // clocks a hair apart
	}
	i := int(d / bucket)
	if i >= len(h.buckets) {
		h.over.Add(1)
	} else {
		h.buckets[i].Add(1)
	}
	for m := h.max.Load(); int64(d) > m && !h.max.CompareAndSwap(m, int64(d)); m = h.max.Load() {
	}
}

func (h *histogram) reset() {
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
	h.over.Store(0)
	h.max.Store(0)
}

func (h *histogram) summary() (p50, p95, max time.Duration, n uint64) {
	counts := make([]uint64, len(h.buckets))
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		n += counts[i]
	}
	n += h.over.Load()
	if n == 0 {
		return 0, 0, 0, 0
	}
	pct := func(p float64) time.Duration {
		want := uint64(p * float64(n))
		var sum uint64
		for i := range counts {
			sum += counts[i]
			if sum > want {
				return time.Duration(i)*bucket + bucket/2
			}
		}
		return time.Duration(h.max.Load())
	}
	return pct(0.50), pct(0.95), time.Duration(h.max.Load()), n
}
