// Package sender is quicast's sending engine: it captures and encodes
// audio and video (package media), packetizes them into RTP (RFC 3550,
// VP8 per RFC 7741, Opus per RFC 7587), protects them with SRTP (RFC 3711,
// RFC 7714) and sends them over UDP to a quicast relay or straight to any
// standard receiver, with RTCP sender reports out and PLI, NACK and
// receiver reports in on the same port (rtcp-mux, RFC 5761).
//
// With a relay the engine outlives the relay: when the relay stops
// answering it publishes again with capped exponential backoff while the
// sources keep capturing, and when the machine's own address changes
// (Wi-Fi to cable) it moves its socket to the new address.
package sender

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/srtp/v3"
	"golang.org/x/time/rate"

	"github.com/quicast/quicast/certs"
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/rtpvp8"
	"github.com/quicast/quicast/sender/media"
)

// Errors the engine reports.
var (
	ErrRelayGone = errors.New("relay stopped responding")
	ErrBadKey    = errors.New("relay refused the publish key")
	ErrNoStream  = errors.New("the relay has no stream")
	ErrUntrusted = certs.ErrUntrusted
	ErrNoTracks  = errors.New("nothing to send: video and audio are both none")
	ErrLive      = protocol.ErrStreamLive
	ErrTakenOver = errors.New("another sender took the stream over")
	ErrRevoked   = errors.New("the relay revoked the publish key")
	ErrTooFast   = errors.New("the relay ended the broadcast: it kept sending far above the relay's rate cap (lower -bitrate, or raise the relay's -max-publish-rate)")
)

// Permanent reports whether err ends a broadcast for good: publishing again
// would be refused (a wrong key, an unknown stream, an untrusted relay, a
// stream another sender has) or would take the stream back from the sender
// that took it over. Everything else (a relay that went away, a network
// that dropped) is worth another attempt.
func Permanent(err error) bool {
	for _, p := range []error{ErrBadKey, ErrNoStream, ErrUntrusted, ErrLive, ErrTakenOver, ErrRevoked, ErrNoTracks} {
		if errors.Is(err, p) {
			return true
		}
	}
	var se *SourceError
	return errors.As(err, &se)
}

const (
	srInterval = time.Second
	// relayTimeout: the relay sends a receiver report every second; three
	// missed in a row mean it is gone.
	relayTimeout = 3 * time.Second
	// refusedGrace: an ICMP port unreachable and no RTCP for this long
	// mean nothing listens at the relay's port any more.
	refusedGrace = time.Second
	historyLen   = 512 // packets kept per track for NACK retransmission
	// Retransmissions may use at most rtxRate bytes/s (2 Mbit/s), in
	// bursts of rtxBurst: a NACK storm cannot starve the live media.
	rtxRate       = 256 << 10
	rtxBurst      = 64 << 10
	statsInterval = time.Second
)

// SourceError ends a broadcast whose camera, microphone or file failed
// (unplugged, taken by another program, unreadable), or ended (io.EOF).
type SourceError struct {
	Kind media.Kind
	Err  error
}

func (e *SourceError) Error() string { return e.Kind.String() + " source: " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// Session is where the engine sends and with which keys.
type Session struct {
	ID         string // the relay's publish session ID; "" in peer mode
	Addr       *net.UDPAddr
	AudioAddr  *net.UDPAddr // audio's own destination (peer mode); nil: Addr
	Profile    string       // protocol.ProfileAEADAES128GCM or ProfileAES128CMHMACSHA1_80
	Key, Salt  []byte
	VideoSSRC  uint32
	AudioSSRC  uint32
	VideoPT    uint8
	AudioPT    uint8
	ExpectRTCP bool // a relay answers with receiver reports; a plain receiver may not
}

// TrackStats are one track's counters.
type TrackStats struct {
	Frames, Keyframes   uint64
	FramesSkipped       uint64        // captured while the relay was unreachable, not sent
	FramesLate          uint64        // left out by the source: the encoder could not keep up with real time
	Packets, Bytes      uint64        // RTP packets and payload+header bytes sent
	Retransmits         uint64        // packets sent again on the relay's NACKs
	RetransmitsRefused  uint64        // NACKed packets not resent: gone from the history, resent less than an RTT ago, or over the rate limit
	RTT                 time.Duration // round trip to the relay, from its receiver reports (RFC 3550 §6.4.1); 0 before the first
	BitrateKbps         float64       // over the last second
	FPS                 float64       // over the last second
	FractionLost        float64       // from the latest receiver report, 0..1
	CumulativeLost      uint32
	JitterMS            float64
	PLIs, FIRs, NACKs   uint64
	LastMediaTime       time.Duration
	SendErrors          uint64
	lastFrames, lastOct uint64
}

// Stats are the engine's counters.
type Stats struct {
	Video, Audio  TrackStats
	Width, Height int
	Elapsed       time.Duration
	RTCPIn        uint64 // RTCP packets received
	RTCPBad       uint64 // RTCP packets that failed to decrypt or parse
	LastRTCP      time.Time
	Viewers       int // watching now, as the relay reports it; -1 when unknown
	Link          LinkStatus
}

// LinkState is whether the engine is sending to its relay.
type LinkState int

const (
	LinkUp           LinkState = iota // sending
	LinkReconnecting                  // relay lost; publishing again
)

func (s LinkState) String() string {
	if s == LinkReconnecting {
		return "reconnecting"
	}
	return "up"
}

// LinkStatus describes the engine's connection to its relay.
type LinkStatus struct {
	State   LinkState
	Session string    // the relay's session ID while up
	Since   time.Time // when State began
	// While reconnecting: the attempt under way or next (from 1), when it
	// starts, and why the relay was lost or the last attempt failed.
	Attempt int
	Next    time.Time
	Err     error
	// Reconnects counts sessions published again after a loss; Moves
	// counts changes of the local address the engine sends from.
	Reconnects, Moves int
}

// Backoff spaces the engine's attempts to publish again.
type Backoff = protocol.Backoff

// Config configures an engine. Session, Clock and at least one of Video
// and Audio are required; the zero value of the rest means the defaults.
type Config struct {
	Session      Session
	Clock        *media.Clock
	Video, Audio media.Track // opened tracks; the engine owns them from now on
	Logger       *slog.Logger
	// Renew, when set, keeps the broadcast alive when the relay is lost
	// (silent, restarting, unreachable): the sources keep capturing, frames
	// are skipped, and Renew is called with the lost session, with Backoff
	// between attempts, until it returns a new session. A Permanent error
	// ends the engine. Without Renew a lost relay ends the engine with
	// ErrRelayGone.
	Renew   func(ctx context.Context, lost Session) (Session, error)
	Backoff Backoff
	// OnLink, when set, is called from the engine's goroutines each time
	// the link status changes.
	OnLink func(LinkStatus)
	// SourceAddr returns the local address the system would now send from
	// to reach remote; the engine moves its socket when it changes.
	// Default: asked of the kernel (a UDP connect, nothing sent).
	SourceAddr func(remote *net.UDPAddr) (netip.Addr, error)
}

// Engine sends one broadcast. Start it with Start or New; Close stops it.
type Engine struct {
	cfg   Config
	clk   *media.Clock
	log   *slog.Logger
	video *track
	audio *track

	mu     sync.Mutex
	link   *link // nil while reconnecting
	status LinkStatus

	lost    chan error    // a link was lost; the reconnect loop takes it
	recheck chan struct{} // a send failed: check the source address now

	rtcpIn, rtcpBad atomic.Uint64
	viewers         atomic.Int64 // from the relay's viewer reports; -1 before the first
	lastRTCP        atomic.Int64 // unix ns, of any link

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	start  time.Time
}

// track is one source and its counters; what it sends with depends on the
// link.
type track struct {
	e    *Engine
	src  media.Track
	kind media.Kind
	rate uint32
	vp8  rtpvp8.Packetizer
	h264 codecs.H264Payloader // RFC 6184 mode 1: SPS and PPS in a STAP-A, FU-A fragments

	mu       sync.Mutex
	stats    TrackStats
	lastRate time.Time
}

// link is one session's transport: the socket, the SRTP contexts and the
// outgoing RTP streams. A new publish session is a new link; a new local
// address only swaps the socket.
type link struct {
	sess     Session
	prof     srtp.ProtectionProfile
	conn     atomic.Pointer[net.UDPConn]
	aconn    atomic.Pointer[net.UDPConn] // audio's own socket when AudioAddr is set
	txMu     sync.Mutex
	tx       *srtp.Context
	rx       *srtp.Context // the reader goroutine's
	out      [2]*outStream // by media.Kind
	rtx      *rate.Limiter // retransmitted bytes per second
	lastRTCP atomic.Int64  // unix ns; the link's start until the first RTCP
	refused  atomic.Int64  // unix ns of the last ICMP port unreachable
	closed   chan struct{}
	once     sync.Once
}

// outStream is one RTP stream of a link (RFC 3550 §3: one SSRC).
type outStream struct {
	ssrc   uint32
	pt     uint8
	rate   uint32
	tsBase uint32

	mu      sync.Mutex
	seq     uint16
	packets uint32 // for sender reports
	octets  uint32
	history [historyLen][]byte // encrypted packets by seq % historyLen
	histSeq [historyLen]uint16
	resent  [historyLen]time.Time // when history[i] was last sent again
}

// Start sends to sess without reconnecting: video and audio are opened
// tracks (nil for none) on clk, owned by the engine from now on.
func Start(ctx context.Context, sess Session, clk *media.Clock, video, audio media.Track, log *slog.Logger) (*Engine, error) {
	return New(ctx, Config{Session: sess, Clock: clk, Video: video, Audio: audio, Logger: log})
}

// New starts an engine. It returns once the first session's socket is
// open; the engine runs until ctx ends, Close is called, a source fails,
// or the relay is lost for good.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Video == nil && cfg.Audio == nil {
		return nil, ErrNoTracks
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SourceAddr == nil {
		cfg.SourceAddr = kernelSourceAddr
	}
	e := &Engine{cfg: cfg, clk: cfg.Clock, log: cfg.Logger.With("component", "sender"), start: time.Now(),
		lost: make(chan error, 1), recheck: make(chan struct{}, 1)}
	if cfg.Video != nil {
		e.video = e.newTrack(cfg.Video)
	}
	if cfg.Audio != nil {
		e.audio = e.newTrack(cfg.Audio)
	}
	l, err := e.newLink(cfg.Session)
	if err != nil {
		return nil, err
	}
	e.ctx, e.cancel = context.WithCancelCause(context.Background())
	e.lastRTCP.Store(time.Now().UnixNano())
	e.viewers.Store(-1)
	e.link = l
	e.status = LinkStatus{State: LinkUp, Session: l.sess.ID, Since: time.Now()}
	e.wg.Go(func() { e.readRTCP(l) })
	for _, t := range e.tracks() {
		e.wg.Go(t.run)
	}
	e.wg.Go(e.watch)
	if cfg.Renew != nil {
		e.wg.Go(e.reconnect)
	}
	stop := context.AfterFunc(ctx, func() { e.cancel(context.Canceled) })
	e.wg.Go(func() { <-e.ctx.Done(); stop() })
	return e, nil
}

func (e *Engine) newTrack(src media.Track) *track {
	return &track{e: e, src: src, kind: src.Kind(), rate: src.Codec().ClockRate, lastRate: time.Now()}
}

// newLink opens the sockets and SRTP contexts of sess, with fresh random
// sequence numbers and timestamp bases (RFC 3550 §5.1).
func (e *Engine) newLink(sess Session) (*link, error) {
	var prof srtp.ProtectionProfile
	switch sess.Profile {
	case protocol.ProfileAEADAES128GCM, "":
		prof = srtp.ProtectionProfileAeadAes128Gcm
	case protocol.ProfileAES128CMHMACSHA1_80:
		prof = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return nil, fmt.Errorf("unsupported SRTP profile %q", sess.Profile)
	}
	tx, err := srtp.CreateContext(sess.Key, sess.Salt, prof)
	if err != nil {
		return nil, fmt.Errorf("SRTP: %w", err)
	}
	rx, err := srtp.CreateContext(sess.Key, sess.Salt, prof, srtp.SRTCPReplayProtection(256))
	if err != nil {
		return nil, fmt.Errorf("SRTP: %w", err)
	}
	conn, err := dialUDP(sess.Addr)
	if err != nil {
		return nil, err
	}
	l := &link{sess: sess, prof: prof, tx: tx, rx: rx, closed: make(chan struct{}),
		rtx: rate.NewLimiter(rtxRate, rtxBurst)}
	l.conn.Store(conn)
	if sess.AudioAddr != nil && e.audio != nil {
		ac, err := dialUDP(sess.AudioAddr)
		if err != nil {
			conn.Close()
			return nil, err
		}
		l.aconn.Store(ac)
	}
	l.lastRTCP.Store(time.Now().UnixNano())
	if e.video != nil {
		l.out[media.KindVideo] = newOutStream(sess.VideoSSRC, sess.VideoPT, e.video.rate)
	}
	if e.audio != nil {
		l.out[media.KindAudio] = newOutStream(sess.AudioSSRC, sess.AudioPT, e.audio.rate)
	}
	return l, nil
}

func dialUDP(addr *net.UDPAddr) (*net.UDPConn, error) { return dialUDPFrom(netip.Addr{}, addr) }

// dialUDPFrom opens a socket to addr sending from local (any when invalid).
func dialUDPFrom(local netip.Addr, addr *net.UDPAddr) (*net.UDPConn, error) {
	var laddr *net.UDPAddr
	if local.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	conn, err := net.DialUDP("udp", laddr, addr)
	if err != nil {
		return nil, fmt.Errorf("UDP to %v: %w", addr, err)
	}
	_ = conn.SetWriteBuffer(1 << 20)
	return conn, nil
}

func newOutStream(ssrc uint32, pt uint8, rate uint32) *outStream {
	var b [6]byte
	rand.Read(b[:])
	return &outStream{ssrc: ssrc, pt: pt, rate: rate,
		tsBase: binary.BigEndian.Uint32(b[:4]), seq: binary.BigEndian.Uint16(b[4:])}
}

// connFor returns the socket a track's packets go out on.
func (l *link) connFor(k media.Kind) *net.UDPConn {
	if k == media.KindAudio {
		if c := l.aconn.Load(); c != nil {
			return c
		}
	}
	return l.conn.Load()
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.closed)
		l.conn.Load().Close()
		if c := l.aconn.Load(); c != nil {
			c.Close()
		}
	})
}

func (e *Engine) tracks() []*track {
	var ts []*track
	for _, t := range []*track{e.video, e.audio} {
		if t != nil {
			ts = append(ts, t)
		}
	}
	return ts
}

func (e *Engine) current() *link {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.link
}

// Done is closed when the engine stops.
func (e *Engine) Done() <-chan struct{} { return e.ctx.Done() }

// Err returns why the engine stopped: nil after Close or the caller's
// cancellation, ErrRelayGone, a Permanent publish error, a source error.
func (e *Engine) Err() error {
	err := context.Cause(e.ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Link returns the state of the connection to the relay.
func (e *Engine) Link() LinkStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// Close stops the broadcast: an RTCP BYE goes out, the sources are closed
// and every goroutine has ended when it returns.
func (e *Engine) Close() error {
	e.cancel(context.Canceled)
	e.mu.Lock()
	l := e.link
	e.mu.Unlock()
	if l != nil {
		e.bye(l)
	}
	for _, t := range e.tracks() {
		t.src.Close()
	}
	if l != nil {
		l.close()
	}
	e.wg.Wait()
	return nil
}

func (e *Engine) setStatus(f func(*LinkStatus)) {
	e.mu.Lock()
	f(&e.status)
	s := e.status
	e.mu.Unlock()
	if e.cfg.OnLink != nil {
		e.cfg.OnLink(s)
	}
}

// run reads, packetizes, encrypts and sends one track's frames.
func (t *track) run() {
	e := t.e
	defer t.src.Close() // unblocks nothing else; the source is ours
	var payloads [][]byte
	raw := make([]byte, 0, protocol.MTU)
	out := make([]byte, 0, protocol.MTU+32)
	for {
		f, err := t.src.ReadFrame(e.ctx)
		if err != nil {
			if e.ctx.Err() == nil {
				e.cancel(&SourceError{Kind: t.kind, Err: err})
			}
			return
		}
		l := e.current()
		t.mu.Lock()
		t.stats.Frames++
		if f.Keyframe {
			t.stats.Keyframes++
		}
		t.stats.LastMediaTime = f.MediaTime
		if l == nil {
			t.stats.FramesSkipped++
		}
		t.mu.Unlock()
		if l == nil {
			continue // reconnecting: capture goes on so that the picture is current when the relay is back
		}
		o := l.out[t.kind]
		maxPayload := protocol.MTU - 12 - srtpOverhead(l.prof)
		ts := o.tsBase + uint32(int64(f.MediaTime)*int64(t.rate)/int64(time.Second))
		payloads = payloads[:0]
		if t.kind == media.KindVideo && t.src.Codec().Name == "H264" {
			payloads = append(payloads, t.h264.Payload(uint16(maxPayload), f.Data)...)
		} else if t.kind == media.KindVideo {
			payloads = append(payloads, t.vp8.PacketizeFrame(f.Data, maxPayload, f.NonReference)...)
		} else if len(f.Data) <= maxPayload {
			payloads = append(payloads, f.Data)
		}
		conn := l.connFor(t.kind)
		for i, p := range payloads {
			var enc []byte
			var seq uint16
			enc, raw, seq, err = l.seal(o, ts, t.kind == media.KindVideo && i == len(payloads)-1, p, raw, out)
			if err != nil {
				continue
			}
			out = enc
			_, werr := conn.Write(enc)
			if werr != nil {
				conn = l.connFor(t.kind) // the socket may have moved meanwhile
				e.poke()
			}
			o.mu.Lock()
			o.packets++
			o.octets += uint32(len(p))
			slot := seq % historyLen
			o.history[slot] = append(o.history[slot][:0], enc...)
			o.histSeq[slot] = seq
			o.resent[slot] = time.Time{}
			o.mu.Unlock()
			t.mu.Lock()
			if werr != nil {
				t.stats.SendErrors++
			}
			t.stats.Packets++
			t.stats.Bytes += uint64(len(raw))
			t.mu.Unlock()
		}
	}
}

// seal makes the next RTP packet of o (RFC 3550 §5.1: o's SSRC and payload
// type, its next sequence number, RTP timestamp ts) around payload in raw
// and protects it into dst (SRTP, RFC 3711), both buffers reused: no
// allocation per packet. It returns the SRTP packet, raw, and the
// sequence number used.
func (l *link) seal(o *outStream, ts uint32, marker bool, payload, raw, dst []byte) (enc, rawOut []byte, seq uint16, err error) {
	h := rtp.Header{Version: 2, PayloadType: o.pt, SSRC: o.ssrc, Timestamp: ts, Marker: marker}
	o.mu.Lock()
	h.SequenceNumber = o.seq
	o.seq++
	o.mu.Unlock()
	n := h.MarshalSize()
	raw = slices.Grow(raw[:0], n+len(payload))[:n+len(payload)]
	if _, err := h.MarshalTo(raw); err != nil {
		return nil, raw, 0, err
	}
	copy(raw[n:], payload)
	l.txMu.Lock()
	enc, err = l.tx.EncryptRTP(dst[:0], raw, &h)
	l.txMu.Unlock()
	return enc, raw, h.SequenceNumber, err
}

// poke asks the watcher to check the local address now.
func (e *Engine) poke() {
	select {
	case e.recheck <- struct{}{}:
	default:
	}
}

func srtpOverhead(p srtp.ProtectionProfile) int {
	n, _ := p.AuthTagRTPLen()
	if n == 0 {
		n, _ = p.AEADAuthTagLen()
	}
	return n
}

// retransmit resends the stored SRTP packet seq (RFC 4585 §6.2.1 NACK).
// The receiver's replay window accepts it because it never got the first.
// A packet resent less than rtt ago is not sent again (the request crossed
// the answer), and retransmissions share the link's rate limit so that a
// burst of NACKs cannot crowd out the live media.
func (l *link) retransmit(k media.Kind, seq uint16, rtt time.Duration, now time.Time) bool {
	o := l.out[k]
	o.mu.Lock()
	slot := seq % historyLen
	var b []byte
	if o.histSeq[slot] == seq && o.history[slot] != nil && now.Sub(o.resent[slot]) >= rtt &&
		l.rtx.AllowN(now, len(o.history[slot])) {
		b = append([]byte(nil), o.history[slot]...)
		o.resent[slot] = now
	}
	o.mu.Unlock()
	if b == nil {
		return false
	}
	_, _ = l.connFor(k).Write(b)
	return true
}

// senderReport is the RFC 3550 §6.4.1 report of one stream at wall time
// now.
func (o *outStream) senderReport(clk *media.Clock, now time.Time) *rtcp.SenderReport {
	mt := now.Sub(clk.Start())
	o.mu.Lock()
	defer o.mu.Unlock()
	return &rtcp.SenderReport{SSRC: o.ssrc, NTPTime: protocol.NTPTime(now),
		RTPTime:     o.tsBase + uint32(int64(mt)*int64(o.rate)/int64(time.Second)),
		PacketCount: o.packets, OctetCount: o.octets}
}

// watch sends sender reports, keeps the rates, notices a lost relay and a
// changed local address.
func (e *Engine) watch() {
	tick := time.NewTicker(srInterval)
	defer tick.Stop()
	for {
		var now time.Time
		select {
		case <-e.ctx.Done():
			return
		case now = <-tick.C:
			for _, t := range e.tracks() {
				t.updateRates(now)
			}
		case <-e.recheck:
			now = time.Now()
		}
		l := e.current()
		if l == nil {
			continue
		}
		e.followSource(l)
		e.sendReports(l, now)
		if !l.sess.ExpectRTCP {
			continue
		}
		silent := now.Sub(time.Unix(0, l.lastRTCP.Load()))
		refused := l.refused.Load() != 0 && now.Sub(time.Unix(0, l.refused.Load())) < relayTimeout
		switch {
		case silent > relayTimeout:
			e.lose(l, fmt.Errorf("%w: no RTCP for %v", ErrRelayGone, silent.Round(time.Second)))
		case refused && silent > refusedGrace:
			e.lose(l, fmt.Errorf("%w: nothing listens at %v", ErrRelayGone, l.sess.Addr))
		}
	}
}

func (e *Engine) sendReports(l *link, now time.Time) {
	// Each RTP stream's report goes where the stream goes (peer mode may
	// send audio to a port of its own).
	byConn := map[*net.UDPConn][]rtcp.Packet{}
	var conns []*net.UDPConn
	for k, o := range l.out {
		if o == nil {
			continue
		}
		c := l.connFor(media.Kind(k))
		if byConn[c] == nil {
			conns = append(conns, c)
		}
		byConn[c] = append(byConn[c], o.senderReport(e.clk, now))
	}
	for _, c := range conns {
		pkts := byConn[c]
		pkts = append(pkts, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
			Source: pkts[0].(*rtcp.SenderReport).SSRC, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "quicast"}}}}})
		e.sendRTCPOn(l, c, pkts)
	}
}

// followSource moves the link's socket when the system would now send from
// another local address (the machine moved from Wi-Fi to cable, a VPN came
// up): the old socket would send from an address that is gone. The relay
// follows the sender to the new address on the first packet that
// authenticates.
func (e *Engine) followSource(l *link) {
	c := l.conn.Load()
	cur := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	want, err := e.cfg.SourceAddr(l.sess.Addr)
	if err != nil || !want.IsValid() || want == cur {
		return // no route at all keeps the socket: it may come back
	}
	nc, err := dialUDPFrom(want, l.sess.Addr)
	if err != nil {
		return
	}
	var nac *net.UDPConn
	if l.sess.AudioAddr != nil && l.aconn.Load() != nil {
		if nac, err = dialUDPFrom(want, l.sess.AudioAddr); err != nil {
			nc.Close()
			return
		}
	}
	select {
	case <-l.closed:
		nc.Close()
		if nac != nil {
			nac.Close()
		}
		return
	default:
	}
	l.conn.Swap(nc).Close()
	if nac != nil {
		l.aconn.Swap(nac).Close()
	}
	e.log.Info("local address changed: sending from the new one", "from", cur, "to", want)
	e.setStatus(func(s *LinkStatus) { s.Moves++ })
}

func kernelSourceAddr(remote *net.UDPAddr) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, remote)
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// lose ends link l, if it is still the current one: with Renew the
// reconnect loop takes over, otherwise (or for a Permanent cause) the
// engine stops with cause.
func (e *Engine) lose(l *link, cause error) {
	e.mu.Lock()
	if e.link != l {
		e.mu.Unlock()
		return
	}
	if e.cfg.Renew == nil || Permanent(cause) {
		e.mu.Unlock()
		e.cancel(cause)
		return
	}
	e.link = nil
	e.status.State, e.status.Session, e.status.Since, e.status.Err = LinkReconnecting, "", time.Now(), cause
	e.status.Attempt, e.status.Next = 0, time.Time{}
	e.mu.Unlock()
	l.close()
	e.log.Warn("relay lost", "err", cause)
	select {
	case e.lost <- cause:
	default:
	}
}

// reconnect publishes again after each loss, with backoff, until it
// succeeds, a Permanent error ends the engine, or the engine stops.
func (e *Engine) reconnect() {
	last := e.cfg.Session
	for {
		var cause error
		select {
		case <-e.ctx.Done():
			return
		case cause = <-e.lost:
		}
		for attempt := 1; ; attempt++ {
			d := e.cfg.Backoff.Delay(attempt, mrand.Float64())
			next := time.Now().Add(d)
			e.setStatus(func(s *LinkStatus) { s.Attempt, s.Next, s.Err = attempt, next, cause })
			e.log.Info("reconnecting", "attempt", attempt, "in", d.Round(10*time.Millisecond), "after", cause)
			t := time.NewTimer(d)
			select {
			case <-e.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			sess, err := e.cfg.Renew(e.ctx, last)
			if err == nil {
				var l *link
				if l, err = e.newLink(sess); err == nil {
					e.bind(l)
					last = sess
					break
				}
			}
			if e.ctx.Err() != nil {
				return
			}
			if Permanent(err) {
				e.cancel(err)
				return
			}
			cause = err
		}
	}
}

// bind makes l the current link and asks for a keyframe, so viewers see a
// picture at once.
func (e *Engine) bind(l *link) {
	e.mu.Lock()
	if e.ctx.Err() != nil {
		e.mu.Unlock()
		l.close()
		return
	}
	e.link = l
	e.status.State, e.status.Session, e.status.Since = LinkUp, l.sess.ID, time.Now()
	e.status.Attempt, e.status.Next, e.status.Err = 0, time.Time{}, nil
	e.status.Reconnects++
	s := e.status
	e.mu.Unlock()
	e.wg.Go(func() { e.readRTCP(l) })
	if e.video != nil {
		e.video.src.RequestKeyFrame()
	}
	e.log.Info("published again", "session", l.sess.ID, "reconnects", s.Reconnects)
	if e.cfg.OnLink != nil {
		e.cfg.OnLink(s)
	}
}

func (t *track) updateRates(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := now.Sub(t.lastRate).Seconds()
	if d <= 0 {
		return
	}
	t.stats.BitrateKbps = float64(t.stats.Bytes-t.stats.lastOct) * 8 / d / 1000
	t.stats.FPS = float64(t.stats.Frames-t.stats.lastFrames) / d
	t.stats.lastOct, t.stats.lastFrames, t.lastRate = t.stats.Bytes, t.stats.Frames, now
}

func (e *Engine) sendRTCP(l *link, pkts []rtcp.Packet) { e.sendRTCPOn(l, l.conn.Load(), pkts) }

func (e *Engine) sendRTCPOn(l *link, c *net.UDPConn, pkts []rtcp.Packet) {
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		return
	}
	l.txMu.Lock()
	enc, err := l.tx.EncryptRTCP(nil, raw, nil)
	l.txMu.Unlock()
	if err == nil {
		_, _ = c.Write(enc)
	}
}

func (e *Engine) bye(l *link) {
	var ssrcs []uint32
	for _, o := range l.out {
		if o != nil {
			ssrcs = append(ssrcs, o.ssrc)
		}
	}
	e.sendRTCP(l, []rtcp.Packet{&rtcp.Goodbye{Sources: ssrcs, Reason: "broadcast stopped"}})
}

// readRTCP handles the receiver's RTCP on l until l is closed: PLI/FIR ask
// for a keyframe, NACK for retransmissions, receiver reports carry loss and
// jitter, the relay's APP packets the viewer count and why it ended the
// session.
func (e *Engine) readRTCP(l *link) {
	buf := make([]byte, 1500)
	out := make([]byte, 1500)
	for {
		n, err := l.conn.Load().Read(buf)
		if err != nil {
			select {
			case <-l.closed:
				return
			default:
			}
			if e.ctx.Err() != nil {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				l.refused.Store(time.Now().UnixNano())
			} else if errors.Is(err, net.ErrClosed) {
				continue // the socket moved: read the new one
			}
			continue // other ICMP errors: the liveness timer decides
		}
		if n < 8 || !protocol.IsRTCP(buf[:n]) {
			continue
		}
		plain, err := l.rx.DecryptRTCP(out[:0], buf[:n], nil)
		if err != nil {
			e.rtcpBad.Add(1)
			continue
		}
		pkts, err := rtcp.Unmarshal(plain)
		if err != nil {
			e.rtcpBad.Add(1)
			continue
		}
		e.rtcpIn.Add(1)
		now := time.Now().UnixNano()
		e.lastRTCP.Store(now)
		l.lastRTCP.Store(now)
		for _, p := range pkts {
			if e.handleRTCP(l, p) {
				break
			}
		}
	}
}

func (l *link) bySSRC(ssrc uint32) (media.Kind, bool) {
	for k, o := range l.out {
		if o != nil && o.ssrc == ssrc {
			return media.Kind(k), true
		}
	}
	return 0, false
}

func (e *Engine) byKind(k media.Kind) *track {
	if k == media.KindAudio {
		return e.audio
	}
	return e.video
}

// handleRTCP acts on one RTCP packet; it reports true when the link ended.
func (e *Engine) handleRTCP(l *link, p rtcp.Packet) bool {
	switch r := p.(type) {
	case *rtcp.PictureLossIndication:
		if k, ok := l.bySSRC(r.MediaSSRC); ok {
			t := e.byKind(k)
			t.mu.Lock()
			t.stats.PLIs++
			t.mu.Unlock()
			t.src.RequestKeyFrame()
		}
	case *rtcp.FullIntraRequest:
		for _, fir := range r.FIR {
			if k, ok := l.bySSRC(fir.SSRC); ok {
				t := e.byKind(k)
				t.mu.Lock()
				t.stats.FIRs++
				t.mu.Unlock()
				t.src.RequestKeyFrame()
			}
		}
	case *rtcp.TransportLayerNack:
		if k, ok := l.bySSRC(r.MediaSSRC); ok {
			t := e.byKind(k)
			t.mu.Lock()
			rtt := t.stats.RTT
			t.mu.Unlock()
			var sent, refused uint64
			now := time.Now()
			for _, pair := range r.Nacks {
				for _, seq := range pair.PacketList() {
					if l.retransmit(k, seq, rtt, now) {
						sent++
					} else {
						refused++
					}
				}
			}
			t.mu.Lock()
			t.stats.NACKs++
			t.stats.Retransmits += sent
			t.stats.RetransmitsRefused += refused
			t.mu.Unlock()
		}
	case *rtcp.ApplicationDefined:
		if r.Name != protocol.AppName {
			return false
		}
		switch r.SubType {
		case protocol.AppSubtypeViewers:
			if n, err := protocol.ParseViewers(r.Data); err == nil {
				e.viewers.Store(int64(n))
			}
		case protocol.AppSubtypeEnd:
			if c, err := protocol.ParseEnd(r.Data); err == nil {
				e.lose(l, endError(c))
				return true
			}
		}
	case *rtcp.Goodbye:
		e.lose(l, fmt.Errorf("%w: it said goodbye (%s)", ErrRelayGone, r.Reason))
		return true
	case *rtcp.ReceiverReport:
		now := time.Now()
		for _, rep := range r.Reports {
			if k, ok := l.bySSRC(rep.SSRC); ok {
				t := e.byKind(k)
				t.mu.Lock()
				if rep.LastSenderReport != 0 {
					t.stats.RTT = protocol.RoundTrip(now, rep.LastSenderReport, rep.Delay)
				}
				t.stats.FractionLost = float64(rep.FractionLost) / 256
				t.stats.CumulativeLost = rep.TotalLost
				t.stats.JitterMS = float64(rep.Jitter) * 1000 / float64(t.rate)
				t.mu.Unlock()
			}
		}
	}
	return false
}

// endError is the error of a session the relay ended with code c.
func endError(c protocol.EndCode) error {
	switch c {
	case protocol.EndTakenOver:
		return ErrTakenOver
	case protocol.EndRevoked:
		return ErrRevoked
	case protocol.EndRemoved:
		return fmt.Errorf("%w: it was removed from the relay", ErrNoStream)
	case protocol.EndFlood:
		return ErrTooFast
	}
	return fmt.Errorf("%w: %v", ErrRelayGone, c)
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	s := Stats{Elapsed: time.Since(e.start), RTCPIn: e.rtcpIn.Load(), RTCPBad: e.rtcpBad.Load(),
		LastRTCP: time.Unix(0, e.lastRTCP.Load()), Viewers: int(e.viewers.Load()), Link: e.Link()}
	if e.video != nil {
		e.video.mu.Lock()
		s.Video = e.video.stats
		e.video.mu.Unlock()
		s.Width, s.Height = e.video.src.Size()
		if sk, ok := e.video.src.(interface{ SkippedFrames() uint64 }); ok {
			s.Video.FramesLate = sk.SkippedFrames()
		}
	}
	if e.audio != nil {
		e.audio.mu.Lock()
		s.Audio = e.audio.stats
		e.audio.mu.Unlock()
	}
	return s
}
