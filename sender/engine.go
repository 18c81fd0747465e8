// Package sender is quicast's sending engine: it captures and encodes
// audio and video (package media), packetizes them into RTP (RFC 3550,
// VP8 per RFC 7741, Opus per RFC 7587), protects them with SRTP (RFC 3711,
// RFC 7714) and sends them over UDP to a quicast relay or straight to any
// standard receiver, with RTCP sender reports out and PLI, NACK and
// receiver reports in on the same port (rtcp-mux, RFC 5761).
package sender

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/quicast/quicast/certs"
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/sender/internal/rtpvp8"
	"github.com/quicast/quicast/sender/media"
)

// Errors the engine reports.
var (
	ErrRelayGone = errors.New("relay stopped responding")
	ErrBadKey    = errors.New("relay refused the publish key")
	ErrNoStream  = errors.New("the relay has no stream")
	ErrUntrusted = certs.ErrUntrusted
	ErrNoTracks  = errors.New("nothing to send: video and audio are both none")
)

const (
	srInterval    = time.Second
	relayTimeout  = 6 * time.Second // no RTCP from the relay for this long: it is gone
	historyLen    = 512             // packets kept per track for NACK retransmission
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
	Addr       *net.UDPAddr
	Profile    string // protocol.ProfileAEADAES128GCM or ProfileAES128CMHMACSHA1_80
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
	Packets, Bytes      uint64 // RTP packets and payload+header bytes sent
	Retransmits         uint64
	BitrateKbps         float64 // over the last second
	FPS                 float64 // over the last second
	FractionLost        float64 // from the latest receiver report, 0..1
	CumulativeLost      uint32
	JitterMS            float64
	PLIs, FIRs, NACKs   uint64
	LastMediaTime       time.Duration
	SendErrors          uint64
	width, height       int
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
}

// Engine sends one broadcast. Start it with Start; Close stops it.
type Engine struct {
	sess  Session
	clk   *media.Clock
	log   *slog.Logger
	conn  *net.UDPConn
	prof  srtp.ProtectionProfile
	txMu  sync.Mutex
	tx    *srtp.Context
	rx    *srtp.Context
	video *track
	audio *track

	rtcpIn, rtcpBad atomic.Uint64
	viewers         atomic.Int64 // from the relay's viewer reports; -1 before the first
	lastRTCP        atomic.Int64 // unix ns

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	start  time.Time
}

// track is one outgoing RTP stream.
type track struct {
	e      *Engine
	src    media.Track
	ssrc   uint32
	pt     uint8
	rate   uint32
	tsBase uint32
	vp8    rtpvp8.Encoder

	mu       sync.Mutex
	seq      uint16
	packets  uint32 // for sender reports
	octets   uint32
	history  [historyLen][]byte // encrypted packets by seq % historyLen
	histSeq  [historyLen]uint16
	stats    TrackStats
	lastRate time.Time
}

// Start opens nothing itself: video and audio are opened tracks (nil for
// none) on clk, and sess says where to send. The engine owns the tracks from
// now on and closes them.
func Start(ctx context.Context, sess Session, clk *media.Clock, video, audio media.Track, log *slog.Logger) (*Engine, error) {
	if video == nil && audio == nil {
		return nil, ErrNoTracks
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
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
	conn, err := net.DialUDP("udp", nil, sess.Addr)
	if err != nil {
		return nil, fmt.Errorf("UDP to %v: %w", sess.Addr, err)
	}
	_ = conn.SetWriteBuffer(1 << 20)
	e := &Engine{sess: sess, clk: clk, log: log.With("component", "sender"), conn: conn, prof: prof, tx: tx, rx: rx, start: time.Now()}
	e.ctx, e.cancel = context.WithCancelCause(context.Background())
	e.lastRTCP.Store(time.Now().UnixNano())
	e.viewers.Store(-1)
	if video != nil {
		e.video = e.newTrack(video, sess.VideoSSRC, sess.VideoPT)
	}
	if audio != nil {
		e.audio = e.newTrack(audio, sess.AudioSSRC, sess.AudioPT)
	}
	for _, t := range e.tracks() {
		e.wg.Go(t.run)
	}
	e.wg.Go(e.readRTCP)
	e.wg.Go(e.reports)
	stop := context.AfterFunc(ctx, func() { e.cancel(context.Canceled) })
	e.wg.Go(func() { <-e.ctx.Done(); stop() })
	return e, nil
}

func (e *Engine) newTrack(src media.Track, ssrc uint32, pt uint8) *track {
	var b [6]byte
	rand.Read(b[:])
	return &track{e: e, src: src, ssrc: ssrc, pt: pt, rate: src.Codec().ClockRate,
		tsBase: binary.BigEndian.Uint32(b[:4]), seq: binary.BigEndian.Uint16(b[4:]), lastRate: time.Now()}
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

// Done is closed when the engine stops.
func (e *Engine) Done() <-chan struct{} { return e.ctx.Done() }

// Err returns why the engine stopped: nil after Close or the caller's
// cancellation, ErrRelayGone, a source error.
func (e *Engine) Err() error {
	err := context.Cause(e.ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Close stops the broadcast: an RTCP BYE goes out, the sources are closed
// and every goroutine has ended when it returns.
func (e *Engine) Close() error {
	e.cancel(context.Canceled)
	e.bye()
	for _, t := range e.tracks() {
		t.src.Close()
	}
	e.conn.Close()
	e.wg.Wait()
	return nil
}

// run reads, packetizes, encrypts and sends one track's frames.
func (t *track) run() {
	e := t.e
	defer t.src.Close() // unblocks nothing else; the source is ours
	maxPayload := protocol.MTU - 12 - srtpOverhead(e.prof)
	var payloads [][]byte
	out := make([]byte, 0, protocol.MTU+32)
	for {
		f, err := t.src.ReadFrame(e.ctx)
		if err != nil {
			if e.ctx.Err() == nil {
				e.cancel(&SourceError{Kind: t.src.Kind(), Err: err})
			}
			return
		}
		ts := t.tsBase + uint32(int64(f.MediaTime)*int64(t.rate)/int64(time.Second))
		payloads = payloads[:0]
		if t.src.Kind() == media.KindVideo {
			payloads = t.vp8.Encode(payloads, f.Data, maxPayload)
		} else if len(f.Data) <= maxPayload {
			payloads = append(payloads, f.Data)
		}
		t.mu.Lock()
		t.stats.Frames++
		if f.Keyframe {
			t.stats.Keyframes++
		}
		t.stats.LastMediaTime = f.MediaTime
		t.mu.Unlock()
		for i, p := range payloads {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: t.pt, SSRC: t.ssrc, Timestamp: ts,
				Marker: t.src.Kind() == media.KindVideo && i == len(payloads)-1}, Payload: p}
			t.mu.Lock()
			pkt.SequenceNumber = t.seq
			t.seq++
			t.mu.Unlock()
			raw, err := pkt.Marshal()
			if err != nil {
				continue
			}
			e.txMu.Lock()
			enc, err := e.tx.EncryptRTP(out[:0], raw, &pkt.Header)
			e.txMu.Unlock()
			if err != nil {
				continue
			}
			_, werr := e.conn.Write(enc)
			t.mu.Lock()
			if werr != nil {
				t.stats.SendErrors++
			}
			t.stats.Packets++
			t.stats.Bytes += uint64(len(raw))
			t.packets++
			t.octets += uint32(len(p))
			slot := pkt.SequenceNumber % historyLen
			t.history[slot] = append(t.history[slot][:0], enc...)
			t.histSeq[slot] = pkt.SequenceNumber
			t.mu.Unlock()
		}
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
func (t *track) retransmit(seq uint16) {
	t.mu.Lock()
	slot := seq % historyLen
	var b []byte
	if t.histSeq[slot] == seq && t.history[slot] != nil {
		b = append([]byte(nil), t.history[slot]...)
		t.stats.Retransmits++
	}
	t.mu.Unlock()
	if b != nil {
		_, _ = t.e.conn.Write(b)
	}
}

// senderReport is the RFC 3550 §6.4.1 report of the track at wall time now.
func (t *track) senderReport(now time.Time) *rtcp.SenderReport {
	mt := now.Sub(t.e.clk.Start())
	t.mu.Lock()
	defer t.mu.Unlock()
	return &rtcp.SenderReport{SSRC: t.ssrc, NTPTime: protocol.NTPTime(now),
		RTPTime:     t.tsBase + uint32(int64(mt)*int64(t.rate)/int64(time.Second)),
		PacketCount: t.packets, OctetCount: t.octets}
}

// reports sends sender reports and watches the relay's liveness.
func (e *Engine) reports() {
	tick := time.NewTicker(srInterval)
	defer tick.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case now := <-tick.C:
			var pkts []rtcp.Packet
			for _, t := range e.tracks() {
				pkts = append(pkts, t.senderReport(now))
				t.updateRates(now)
			}
			pkts = append(pkts, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
				Source: e.tracks()[0].ssrc, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "quicast"}}}}})
			e.sendRTCP(pkts)
			last := time.Unix(0, e.lastRTCP.Load())
			if e.sess.ExpectRTCP && now.Sub(last) > relayTimeout {
				e.cancel(fmt.Errorf("%w: no RTCP for %v", ErrRelayGone, now.Sub(last).Round(time.Second)))
				return
			}
		}
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

func (e *Engine) sendRTCP(pkts []rtcp.Packet) {
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		return
	}
	e.txMu.Lock()
	enc, err := e.tx.EncryptRTCP(nil, raw, nil)
	e.txMu.Unlock()
	if err == nil {
		_, _ = e.conn.Write(enc)
	}
}

func (e *Engine) bye() {
	var ssrcs []uint32
	for _, t := range e.tracks() {
		ssrcs = append(ssrcs, t.ssrc)
	}
	e.sendRTCP([]rtcp.Packet{&rtcp.Goodbye{Sources: ssrcs, Reason: "broadcast stopped"}})
}

// readRTCP handles the receiver's RTCP: PLI/FIR ask for a keyframe, NACK
// for retransmissions, receiver reports carry loss and jitter.
func (e *Engine) readRTCP() {
	buf := make([]byte, 1500)
	out := make([]byte, 1500)
	for {
		n, err := e.conn.Read(buf)
		if err != nil {
			if e.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP port unreachable and the like: the liveness timer decides
		}
		if n < 8 || !protocol.IsRTCP(buf[:n]) {
			continue
		}
		plain, err := e.rx.DecryptRTCP(out[:0], buf[:n], nil)
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
		e.lastRTCP.Store(time.Now().UnixNano())
		for _, p := range pkts {
			e.handleRTCP(p)
		}
	}
}

func (e *Engine) bySSRC(ssrc uint32) *track {
	for _, t := range e.tracks() {
		if t.ssrc == ssrc {
			return t
		}
	}
	return nil
}

func (e *Engine) handleRTCP(p rtcp.Packet) {
	switch r := p.(type) {
	case *rtcp.PictureLossIndication:
		if t := e.bySSRC(r.MediaSSRC); t != nil {
			t.mu.Lock()
			t.stats.PLIs++
			t.mu.Unlock()
			t.src.RequestKeyFrame()
		}
	case *rtcp.FullIntraRequest:
		for _, fir := range r.FIR {
			if t := e.bySSRC(fir.SSRC); t != nil {
				t.mu.Lock()
				t.stats.FIRs++
				t.mu.Unlock()
				t.src.RequestKeyFrame()
			}
		}
	case *rtcp.TransportLayerNack:
		if t := e.bySSRC(r.MediaSSRC); t != nil {
			t.mu.Lock()
			t.stats.NACKs++
			t.mu.Unlock()
			for _, pair := range r.Nacks {
				for _, seq := range pair.PacketList() {
					t.retransmit(seq)
				}
			}
		}
	case *rtcp.ApplicationDefined:
		if r.Name == protocol.AppName && r.SubType == protocol.AppSubtypeViewers {
			if n, err := protocol.ParseViewers(r.Data); err == nil {
				e.viewers.Store(int64(n))
			}
		}
	case *rtcp.ReceiverReport:
		for _, rep := range r.Reports {
			if t := e.bySSRC(rep.SSRC); t != nil {
				t.mu.Lock()
				t.stats.FractionLost = float64(rep.FractionLost) / 256
				t.stats.CumulativeLost = rep.TotalLost
				t.stats.JitterMS = float64(rep.Jitter) * 1000 / float64(t.rate)
				t.mu.Unlock()
			}
		}
	}
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	s := Stats{Elapsed: time.Since(e.start), RTCPIn: e.rtcpIn.Load(), RTCPBad: e.rtcpBad.Load(),
		LastRTCP: time.Unix(0, e.lastRTCP.Load()), Viewers: int(e.viewers.Load())}
	if e.video != nil {
		e.video.mu.Lock()
		s.Video = e.video.stats
		e.video.mu.Unlock()
		s.Width, s.Height = e.video.src.Size()
	}
	if e.audio != nil {
		e.audio.mu.Lock()
		s.Audio = e.audio.stats
		e.audio.mu.Unlock()
	}
	return s
}
