// Package media is the relay's media core: SRTP ingest from publishers,
// the GOP cache, and the fan-out of every stream to its WebTransport viewers
// with a bounded queue each.
package media

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/quic-go/webtransport-go"
	"golang.org/x/time/rate"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/rtph264"
	"github.com/quicast/quicast/protocol/rtpvp8"
)

const (
	ingestQueueLen   = 2048
	maxDatagram      = 1500
	publisherTimeout = 5 * time.Second  // no packet for this long: the publisher is gone
	unusedTimeout    = 30 * time.Second // a publish session that never sent anything expires
	replayWindow     = 1024
	reportInterval   = time.Second
	summaryInterval  = 30 * time.Second
)

// Config configures a Hub.
type Config struct {
	// WriteTo sends a datagram on the relay's UDP socket (RTCP to publishers).
	WriteTo func(b []byte, addr net.Addr) (int, error)
	// Port is the relay's UDP port, announced in PublishResponse.Addr.
	Port int
	// WebTransport upgrades viewer requests.
	WebTransport *webtransport.Server
	// Access, when set, is asked once a second whether each publisher's key
	// and each viewer's account are still valid, so that a key changed or a
	// user or stream removed from the command line takes effect at once.
	Access Access
	Logger *slog.Logger
	Now    func() time.Time
	// MaxPublishRate caps what one publisher may send, in bit/s (default
	// DefaultMaxPublishRate): authenticated packets beyond it are dropped
	// and counted (DropFlood), so one sender cannot take the relay's
	// ingest and every viewer's bandwidth. +Inf: no cap.
	MaxPublishRate float64
}

// DefaultMaxPublishRate is four times a 1080p60 broadcast's bitrate, in bit/s.
const DefaultMaxPublishRate = 20e6

// Access answers what the data directory allows now.
type Access interface {
	// StreamKey returns the ID of stream's current publish key; ok is
	// false when the stream does not exist.
	StreamKey(stream string) (keyID string, ok bool)
	// UserExists reports whether the viewer account exists.
	UserExists(user string) bool
}

// ErrLive refuses a publish request for a stream another sender is live
// on (the web layer answers 409 Conflict).
var ErrLive = protocol.ErrStreamLive

// Stats are the hub's counters since start.
type Stats struct {
	PacketsIn, BytesIn uint64
	// Dropped datagrams, by reason.
	DropQueueFull, DropShort, DropUnknownSSRC, DropAuth, DropNotRTP uint64
	DropFlood                                                       uint64 // beyond MaxPublishRate
	FloodCutoffs                                                    uint64 // publishers ended for staying far above it
	Relatches                                                       uint64
	PublishConflicts                                                uint64 // publish requests refused: the stream was live
	Takeovers                                                       uint64
	ViewersNow                                                      int64
	GroupsDropped, PacketsDropped                                   uint64 // for slow viewers: their queue overflowed
	GroupsLate                                                      uint64 // groups reset: a viewer fell more than maxVideoLag behind
	FramesThinned                                                   uint64 // non-reference frames not sent to a viewer more than thinLag behind
	PacketsOut, BytesOut                                            uint64 // RTP written to viewers
	AudioBundles                                                    uint64 // audio datagrams that carried several packets
	AudioDropped, AudioLate                                         uint64 // audio packets not sent to a viewer: its queue was full; they waited more than maxAudioLag
	PLIsSent                                                        uint64
	// Loss repair on the publisher legs: NACKs sent (one per packet asked
	// for), packets that came back, packets given up on, and packets that
	// came twice or after they were given up.
	NACKsSent, PacketsRepaired, PacketsUnrepaired, PacketsDuplicate uint64
	// Gaps in the audio (audioGap): between a stream's packets coming
	// from its publisher, and between the audio datagrams sent to a
	// viewer; over 50 ms and over 100 ms. A listener's playout buffer
	// runs dry at such a gap unless it holds more than the gap; the two
	// legs say whether the gap was the publisher's (and its network's) or
	// the relay's.
	AudioGapsIn50, AudioGapsIn100, AudioGapsOut50, AudioGapsOut100 uint64
}

type counters struct {
	packetsIn, bytesIn                                          atomic.Uint64
	dropQueueFull, dropShort, dropUnknown, dropAuth, dropNotRTP atomic.Uint64
	dropFlood, floodCutoffs                                     atomic.Uint64
	relatches, groupsDropped, packetsDropped, plisSent          atomic.Uint64
	groupsLate, packetsOut, bytesOut, audioBundles              atomic.Uint64
	framesThinned                                               atomic.Uint64
	audioDropped, audioLate                                     atomic.Uint64
	audioGapsIn, audioGapsOut                                   gapCounters
	conflicts, takeovers                                        atomic.Uint64
	viewers                                                     atomic.Int64
	repair                                                      repairCounters
}

// Hub owns the streams. Deliver feeds it datagrams; a worker goroutine
// decrypts and fans out. Close stops it.
type Hub struct {
	cfg Config
	log *slog.Logger
	c   counters

	queue chan datagram
	pool  sync.Pool

	mu      sync.Mutex
	streams map[string]*stream
	bySSRC  map[uint32]*publisher // under mu; ssrcs is its read-only snapshot
	// ssrcs is what the ingest reads for every packet, without a lock:
	// a copy of bySSRC, replaced whenever a publish session starts or ends.
	ssrcs atomic.Pointer[map[uint32]*publisher]

	// The ingest goroutine's: publishers with a gap open and when to
	// tick their repairers, and scratch slices.
	repairs  map[*publisher]time.Time
	released []release
	nacks    []uint16

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type datagram struct {
	buf  *[]byte
	n    int
	addr net.Addr
}

// NewHub starts a hub.
func NewHub(cfg Config) *Hub {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxPublishRate <= 0 {
		cfg.MaxPublishRate = DefaultMaxPublishRate
	}
	h := &Hub{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "media"),
		queue:   make(chan datagram, ingestQueueLen),
		streams: map[string]*stream{},
		bySSRC:  map[uint32]*publisher{},
		repairs: map[*publisher]time.Time{},
	}
	h.pool.New = func() any { b := make([]byte, maxDatagram); return &b }
	h.ssrcs.Store(&map[uint32]*publisher{})
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.wg.Add(2)
	go h.ingest()
	go h.housekeeping()
	return h
}

// Close stops the hub, ends every viewer session and waits for its
// goroutines.
func (h *Hub) Close() error {
	h.cancel()
	h.wg.Wait()
	return nil
}

// Stats returns a snapshot of the counters.
func (h *Hub) Stats() Stats {
	c := &h.c
	return Stats{
		PacketsIn: c.packetsIn.Load(), BytesIn: c.bytesIn.Load(),
		DropQueueFull: c.dropQueueFull.Load(), DropShort: c.dropShort.Load(), DropUnknownSSRC: c.dropUnknown.Load(),
		DropAuth: c.dropAuth.Load(), DropNotRTP: c.dropNotRTP.Load(), DropFlood: c.dropFlood.Load(), FloodCutoffs: c.floodCutoffs.Load(), Relatches: c.relatches.Load(),
		PublishConflicts: c.conflicts.Load(), Takeovers: c.takeovers.Load(),
		ViewersNow: c.viewers.Load(), GroupsDropped: c.groupsDropped.Load(), PacketsDropped: c.packetsDropped.Load(),
		GroupsLate: c.groupsLate.Load(), FramesThinned: c.framesThinned.Load(), PacketsOut: c.packetsOut.Load(), AudioBundles: c.audioBundles.Load(), BytesOut: c.bytesOut.Load(),
		AudioDropped: c.audioDropped.Load(), AudioLate: c.audioLate.Load(),
		AudioGapsIn50: c.audioGapsIn.over50.Load(), AudioGapsIn100: c.audioGapsIn.over100.Load(),
		AudioGapsOut50: c.audioGapsOut.over50.Load(), AudioGapsOut100: c.audioGapsOut.over100.Load(),
		PLIsSent: c.plisSent.Load(), NACKsSent: c.repair.nacked.Load(), PacketsRepaired: c.repair.repaired.Load(),
		PacketsUnrepaired: c.repair.gaveUp.Load(), PacketsDuplicate: c.repair.duplicates.Load() + c.repair.late.Load(),
	}
}

// Deliver hands the hub one datagram whose first byte is in the RTP range
// (RFC 7983). b is copied; the call never blocks: when the ingest queue is
// full the datagram is dropped and counted.
func (h *Hub) Deliver(b []byte, addr net.Addr) {
	if len(b) > maxDatagram {
		h.c.dropShort.Add(1)
		return
	}
	buf := h.pool.Get().(*[]byte)
	n := copy(*buf, b)
	select {
	case h.queue <- datagram{buf: buf, n: n, addr: addr}:
	default:
		h.pool.Put(buf)
		h.c.dropQueueFull.Add(1)
	}
}

// ingest decrypts and routes the datagrams, and asks the publishers for
// what is missing when the repair timer says so.
func (h *Hub) ingest() {
	defer h.wg.Done()
	out := make([]byte, maxDatagram)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var timerAt time.Time
	for {
		select {
		case <-h.ctx.Done():
			return
		case d := <-h.queue:
			h.handle((*d.buf)[:d.n], d.addr, out)
			h.pool.Put(d.buf)
		case <-timer.C:
			timerAt = time.Time{}
			h.repairTick(h.cfg.Now())
		}
		if due := h.repairDue(); !due.IsZero() && (timerAt.IsZero() || due.Before(timerAt)) {
			timer.Reset(max(due.Sub(h.cfg.Now()), 0))
			timerAt = due
		}
	}
}

// repairDue returns when the earliest publisher with a gap wants its
// repairer ticked, zero for none.
func (h *Hub) repairDue() time.Time {
	var due time.Time
	for _, at := range h.repairs {
		if due.IsZero() || at.Before(due) {
			due = at
		}
	}
	return due
}

// repairTick ticks the repairers that are due: NACKs for what is
// missing, the held video released past what was given up, a keyframe
// asked for when a video packet is lost for good.
func (h *Hub) repairTick(now time.Time) {
	for p, at := range h.repairs {
		if at.After(now) {
			continue
		}
		delete(h.repairs, p)
		if h.publisherOf(p.videoSSRC, p.audioSSRC) != p {
			continue // ended meanwhile
		}
		var next time.Time
		var pkts []rtcp.Packet
		for _, t := range []struct {
			ssrc uint32
			r    *repairer
		}{{p.videoSSRC, p.videoRepair}, {p.audioSSRC, p.audioRepair}} {
			if t.r == nil || !t.r.pending() {
				continue
			}
			nacks, rel, n, lost := t.r.tick(now, p.jitter(t.ssrc), h.nacks[:0], h.released[:0])
			h.nacks, h.released = nacks, rel
			h.fanOut(p, t.ssrc, rel)
			if len(nacks) > 0 {
				pkts = append(pkts, &rtcp.TransportLayerNack{SenderSSRC: p.relaySSRC, MediaSSRC: t.ssrc,
					Nacks: rtcp.NackPairsFromSequenceNumbers(nacks)})
			}
			if lost && t.ssrc == p.videoSSRC {
				h.requestKeyframe(p) // a frame that cannot be repaired
			}
			if !n.IsZero() && (next.IsZero() || n.Before(next)) {
				next = n
			}
		}
		h.sendRTCP(p, pkts)
		if !next.IsZero() {
			h.repairs[p] = next
		}
	}
}

// publisherOf returns the live publisher of either SSRC.
func (h *Hub) publisherOf(ssrcs ...uint32) *publisher {
	m := *h.ssrcs.Load()
	for _, s := range ssrcs {
		if p := m[s]; p != nil {
			return p
		}
	}
	return nil
}

// fanOut hands released packets of ssrc to the stream.
func (h *Hub) fanOut(p *publisher, ssrc uint32, rel []release) {
	for _, r := range rel {
		if ssrc == p.videoSSRC {
			p.stream.video(r.pkt, r.hdrLen, p.keyframeStart, p.nonReference)
		} else {
			p.stream.audio(r.pkt)
		}
	}
}

// handle decrypts one datagram and routes it.
func (h *Hub) handle(b []byte, addr net.Addr, out []byte) {
	h.c.packetsIn.Add(1)
	h.c.bytesIn.Add(uint64(len(b)))
	if len(b) < 12 || b[0]>>6 != 2 {
		h.c.dropShort.Add(1)
		return
	}
	isRTCP := protocol.IsRTCP(b)
	var ssrc uint32
	if isRTCP {
		ssrc = binary.BigEndian.Uint32(b[4:8])
	} else {
		ssrc = binary.BigEndian.Uint32(b[8:12])
	}
	p := (*h.ssrcs.Load())[ssrc]
	if p == nil {
		h.c.dropUnknown.Add(1)
		return
	}
	now := h.cfg.Now()
	if isRTCP {
		plain, err := p.rx.DecryptRTCP(out[:0], b, nil)
		if err != nil {
			h.c.dropAuth.Add(1)
			p.dropAuth.Add(1)
			return
		}
		p.latch(h, addr, now)
		h.handleRTCP(p, plain)
		return
	}
	rep := p.videoRepair
	if ssrc == p.audioSSRC {
		rep = p.audioRepair
	}
	if rep.seen(binary.BigEndian.Uint16(b[2:4])) {
		h.c.repair.duplicates.Add(1) // a retransmission that crossed its original
		return
	}
	var hdr rtp.Header
	plain, err := p.rx.DecryptRTP(out[:0], b, &hdr)
	if err != nil {
		h.c.dropAuth.Add(1)
		p.dropAuth.Add(1)
		return
	}
	p.latch(h, addr, now)
	if !p.flood.AllowN(now, len(b)) {
		h.c.dropFlood.Add(1)
		p.floodBytes.Add(uint64(len(b)))
		if p.floodDrops.Add(1) == 1 {
			h.log.Warn("publisher above the rate cap: packets dropped", "stream", p.stream.name, "capBitPerSec", h.cfg.MaxPublishRate)
		}
		return
	}
	jitter := p.recv(hdr.SSRC, hdr.SequenceNumber, hdr.Timestamp, now)
	pkt := append([]byte(nil), plain...) // shared read-only by the GOP cache and the viewers
	rel := rep.push(hdr.SequenceNumber, pkt, hdr.MarshalSize(), now, jitter, h.released[:0])
	h.released = rel
	h.fanOut(p, hdr.SSRC, rel)
	if rep.pending() {
		if due, ok := h.repairs[p]; !ok || now.Add(rep.wait(jitter)).Before(due) {
			h.repairs[p] = now.Add(rep.wait(jitter))
		}
	}
}

func (h *Hub) handleRTCP(p *publisher, plain []byte) {
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		h.c.dropNotRTP.Add(1)
		return
	}
	for _, pk := range pkts {
		switch r := pk.(type) {
		case *rtcp.SenderReport:
			p.senderReport(r.SSRC, r.NTPTime, h.cfg.Now())
			p.stream.sync(protocol.SyncReport{SSRC: r.SSRC, NTPTime: r.NTPTime, RTPTime: r.RTPTime,
				Packets: r.PacketCount, Octets: r.OctetCount})
		case *rtcp.Goodbye:
			h.endPublisher(p, 0, "the broadcaster stopped")
			return
		}
	}
}

// Publish implements web.Media: it creates a publish session for stream,
// authorized by the publish key keyID, and returns its keys and SSRCs. While
// another session is live on the stream the request is refused with
// ErrLive, unless it asks to take over (the old sender is told
// EndTakenOver) or resumes that very session (req.Resume).
func (h *Hub) Publish(_ context.Context, name, keyID string, req protocol.PublishRequest) (protocol.PublishResponse, error) {
	prof := req.Profile
	if prof == "" {
		prof = protocol.ProfileAEADAES128GCM
	}
	var sp srtp.ProtectionProfile
	switch prof {
	case protocol.ProfileAEADAES128GCM:
		sp = srtp.ProtectionProfileAeadAes128Gcm
	case protocol.ProfileAES128CMHMACSHA1_80:
		sp = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return protocol.PublishResponse{}, fmt.Errorf("unsupported SRTP profile %q (want %s or %s)",
			prof, protocol.ProfileAEADAES128GCM, protocol.ProfileAES128CMHMACSHA1_80)
	}
	keyLen, _ := sp.KeyLen()
	saltLen, _ := sp.SaltLen()
	key, salt := randBytes(keyLen), randBytes(saltLen)
	rx, err := srtp.CreateContext(key, salt, sp, srtp.SRTPReplayProtection(replayWindow), srtp.SRTCPReplayProtection(replayWindow))
	if err != nil {
		return protocol.PublishResponse{}, err
	}
	tx, err := srtp.CreateContext(key, salt, sp)
	if err != nil {
		return protocol.PublishResponse{}, err
	}
	p := &publisher{rx: rx, tx: tx, videoRepair: newRepairer(true, &h.c.repair), audioRepair: newRepairer(false, &h.c.repair)}
	videoPT, _, err := h.register(name, keyID, req, p, "profile", prof)
	if err != nil {
		return protocol.PublishResponse{}, err
	}
	return protocol.PublishResponse{
		Session: p.id, Profile: prof, MasterKey: key, MasterSalt: salt,
		VideoSSRC: p.videoSSRC, AudioSSRC: p.audioSSRC, RelaySSRC: p.relaySSRC,
		VideoPT: videoPT, AudioPT: protocol.PayloadTypeOpus,
		Addr: fmt.Sprintf(":%d", h.cfg.Port),
	}, nil
}

// register makes p, a new publish session of stream name allowed by keyID,
// its publisher: it checks the tracks of req, gives p its SSRCs and
// replaces the stream's current publisher when req may (Takeover, Resume).
// It returns the payload type of the video track and the catalog.
func (h *Hub) register(name, keyID string, req protocol.PublishRequest, p *publisher, logArgs ...any) (uint8, []protocol.TrackInfo, error) {
	if req.Video == nil && req.Audio == nil {
		return 0, nil, errors.New("publish request has no track")
	}
	var videoPT uint8
	var videoCodec string
	if req.Video != nil {
		var ok bool
		if videoPT, videoCodec, ok = protocol.VideoCodec(req.Video.Codec); !ok {
			return 0, nil, fmt.Errorf("unsupported video codec %q (want %s or %s)",
				req.Video.Codec, protocol.CodecVP8, protocol.CodecH264)
		}
	}
	now := h.cfg.Now()
	p.id, p.keyID, p.created = hex.EncodeToString(randBytes(8)), keyID, now
	p.stats = map[uint32]*protocol.ReceiverStats{}
	p.flood = floodLimiter(h.cfg.MaxPublishRate / 8)

	h.mu.Lock()
	s := h.streamLocked(name)
	if cur := s.publisher(); cur != nil && cur.live(now) && !req.Takeover && (req.Resume == "" || req.Resume != cur.id) {
		h.mu.Unlock()
		h.c.conflicts.Add(1)
		last, _ := cur.lastSeen()
		return 0, nil, fmt.Errorf("%w: another sender is publishing %q (last packet %v ago); take it over with -takeover",
			ErrLive, name, now.Sub(last).Round(100*time.Millisecond))
	}
	p.stream = s
	p.relaySSRC = h.freeSSRCLocked()
	h.bySSRC[p.relaySSRC] = nil // reserved
	var tracks []protocol.TrackInfo
	// A session over WebTransport is routed by its session, not by SSRC:
	// its SSRCs are only reserved, so that an SRTP packet cannot reach it.
	route := p
	if p.wt != nil {
		route = nil
	}
	if req.Video != nil {
		p.videoSSRC = h.freeSSRCLocked()
		h.bySSRC[p.videoSSRC] = route
		p.stats[p.videoSSRC] = &protocol.ReceiverStats{Jitter: protocol.Jitter{ClockRate: protocol.ClockRateVideo}}
		p.keyframeStart, p.nonReference = rtpvp8.KeyframeStart, rtpvp8.NonReference
		if videoPT == protocol.PayloadTypeH264 {
			p.keyframeStart, p.nonReference = rtph264.KeyframeStart, nil
		}
		tracks = append(tracks, protocol.TrackInfo{Kind: "video", Codec: videoCodec, PayloadType: videoPT,
			SSRC: p.videoSSRC, ClockRate: protocol.ClockRateVideo, Width: req.Video.Width, Height: req.Video.Height})
	}
	if req.Audio != nil {
		p.audioSSRC = h.freeSSRCLocked()
		h.bySSRC[p.audioSSRC] = route
		p.stats[p.audioSSRC] = &protocol.ReceiverStats{Jitter: protocol.Jitter{ClockRate: protocol.ClockRateOpus}}
		ch := req.Audio.Channels
		if ch == 0 {
			ch = 2
		}
		tracks = append(tracks, protocol.TrackInfo{Kind: "audio", Codec: "opus", PayloadType: protocol.PayloadTypeOpus,
			SSRC: p.audioSSRC, ClockRate: protocol.ClockRateOpus, Channels: ch})
	}
	old := s.setPublisher(p, tracks)
	if old != nil {
		h.forgetLocked(old)
	}
	h.snapshotSSRCsLocked()
	h.mu.Unlock()
	switch {
	case old != nil && req.Resume == old.id:
		h.log.Info("publish session resumed", "stream", name, "session", p.id, "previous", old.id)
	case old != nil:
		h.c.takeovers.Add(1)
		h.sendEnd(old, protocol.EndTakenOver)
		h.log.Info("publish session taken over", "stream", name, "session", p.id, "previous", old.id)
	default:
		h.log.Info("publish session", append([]any{"stream", name, "session", p.id}, logArgs...)...)
	}
	return videoPT, tracks, nil
}

// RoomParticipants implements web.Media: the streams ROOM.USER that have a
// publisher, oldest session first.
func (h *Hub) RoomParticipants(room string) []protocol.Participant {
	h.mu.Lock()
	var ps []*publisher
	for name, s := range h.streams {
		if r, _, err := protocol.SplitRoomStream(name); err == nil && r == room {
			if p := s.publisher(); p != nil {
				ps = append(ps, p)
			}
		}
	}
	h.mu.Unlock()
	slices.SortFunc(ps, func(a, b *publisher) int { return a.created.Compare(b.created) })
	out := make([]protocol.Participant, 0, len(ps))
	for _, p := range ps {
		_, user, _ := protocol.SplitRoomStream(p.stream.name)
		out = append(out, protocol.Participant{User: user, Stream: p.stream.name, Since: p.created.UTC().Format(time.RFC3339)})
	}
	return out
}

// StreamStatus implements web.Media.
func (h *Hub) StreamStatus(name string) (live bool, viewers int) {
	h.mu.Lock()
	s := h.streams[name]
	h.mu.Unlock()
	if s == nil {
		return false, 0
	}
	return s.status()
}

// LiveStreams returns how many streams have a publisher now.
func (h *Hub) LiveStreams() int {
	h.mu.Lock()
	streams := make([]*stream, 0, len(h.streams))
	for _, s := range h.streams {
		streams = append(streams, s)
	}
	h.mu.Unlock()
	n := 0
	for _, s := range streams {
		if live, _ := s.status(); live {
			n++
		}
	}
	return n
}

func (h *Hub) streamLocked(name string) *stream {
	s := h.streams[name]
	if s == nil {
		s = newStream(h, name)
		h.streams[name] = s
	}
	return s
}

func (h *Hub) freeSSRCLocked() uint32 {
	for {
		v := binary.BigEndian.Uint32(randBytes(4))
		if _, used := h.bySSRC[v]; !used && v != 0 {
			return v
		}
	}
}

func (h *Hub) forgetLocked(p *publisher) {
	for _, v := range []uint32{p.videoSSRC, p.audioSSRC, p.relaySSRC} {
		if v != 0 && (h.bySSRC[v] == p || h.bySSRC[v] == nil) {
			delete(h.bySSRC, v)
		}
	}
	h.snapshotSSRCsLocked()
}

// snapshotSSRCsLocked publishes a copy of bySSRC for the ingest.
func (h *Hub) snapshotSSRCsLocked() {
	m := make(map[uint32]*publisher, len(h.bySSRC))
	for k, v := range h.bySSRC {
		if v != nil {
			m[k] = v
		}
	}
	h.ssrcs.Store(&m)
}

// endPublisher ends p's session and tells the viewers; a code other than
// 0 tells the sender too (protocol.AppSubtypeEnd).
func (h *Hub) endPublisher(p *publisher, code protocol.EndCode, reason string) {
	if code != 0 {
		h.sendEnd(p, code)
	}
	h.mu.Lock()
	h.forgetLocked(p)
	h.mu.Unlock()
	if p.stream.clearPublisher(p, reason) {
		h.log.Info("publisher gone", "stream", p.stream.name, "session", p.id, "reason", reason)
	}
}

// floodLimiter caps a publisher at bytesPerSec, with a second's worth of
// burst (a keyframe passes whole); +Inf is no cap.
func floodLimiter(bytesPerSec float64) *rate.Limiter {
	if math.IsInf(bytesPerSec, 1) {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(bytesPerSec), int(bytesPerSec))
}

// Flood cut-off: a publisher that has sent more than twice the rate cap
// (so more than the cap was dropped) in floodStrikes housekeeping periods
// in a row is ended with EndFlood. A keyframe burst, or a sender briefly
// above the cap, only loses what is beyond it.
const floodStrikes = 3

// flooding reports whether p has been far above the cap for floodStrikes
// periods in a row (housekeeping's goroutine, once per reportInterval).
func (h *Hub) flooding(p *publisher) bool {
	capBytes := h.cfg.MaxPublishRate / 8 * reportInterval.Seconds()
	if float64(p.floodBytes.Swap(0)) > capBytes {
		p.floodStrikes++
	} else {
		p.floodStrikes = 0
	}
	return p.floodStrikes >= floodStrikes
}

// sendEnd tells p's sender why its session ends: an RTCP APP end notice
// and a BYE (RFC 3550 §6.6).
func (h *Hub) sendEnd(p *publisher, code protocol.EndCode) {
	h.sendRTCP(p, []rtcp.Packet{
		&rtcp.ReceiverReport{SSRC: p.relaySSRC},
		&rtcp.ApplicationDefined{SubType: protocol.AppSubtypeEnd, SSRC: p.relaySSRC, Name: protocol.AppName,
			Data: protocol.AppendEnd(nil, code)},
		&rtcp.Goodbye{Sources: []uint32{p.relaySSRC}, Reason: code.String()},
	})
}

// housekeeping sends receiver reports, expires publishers and logs a
// summary of the drops once per period.
func (h *Hub) housekeeping() {
	defer h.wg.Done()
	t := time.NewTicker(reportInterval)
	defer t.Stop()
	var lastSummary time.Time
	var last Stats
	for {
		select {
		case <-h.ctx.Done():
			h.mu.Lock()
			streams := make([]*stream, 0, len(h.streams))
			for _, s := range h.streams {
				streams = append(streams, s)
			}
			h.mu.Unlock()
			for _, s := range streams {
				// The senders publish again when the relay is back.
				if p := s.publisher(); p != nil {
					h.sendEnd(p, protocol.EndShutdown)
				}
				s.closeViewers("the relay is shutting down")
			}
			return
		case <-t.C:
		}
		now := h.cfg.Now()
		h.mu.Lock()
		var pubs []*publisher
		streams := make([]*stream, 0, len(h.streams))
		for _, s := range h.streams {
			streams = append(streams, s)
			if p := s.publisher(); p != nil {
				pubs = append(pubs, p)
			}
		}
		h.mu.Unlock()
		h.checkAccess(streams)
		for _, s := range streams {
			s.announceViewers()
		}
		for _, p := range pubs {
			last, latched := p.lastSeen()
			switch {
			case latched && now.Sub(last) > publisherTimeout:
				h.endPublisher(p, protocol.EndExpired, "the broadcaster stopped sending")
			case !latched && now.Sub(p.created) > unusedTimeout:
				h.endPublisher(p, protocol.EndExpired, "the broadcaster never started")
			case h.flooding(p):
				h.log.Warn("publisher cut off: it kept sending far above the rate cap", "stream", p.stream.name,
					"capBitPerSec", h.cfg.MaxPublishRate, "packetsDropped", p.floodDrops.Load())
				h.c.floodCutoffs.Add(1)
				h.endPublisher(p, protocol.EndFlood, "the broadcaster sent far more than the relay allows")
			case latched:
				_, viewers := p.stream.status()
				h.sendRTCP(p, append(p.receiverReport(now), &rtcp.ApplicationDefined{
					SubType: protocol.AppSubtypeViewers, SSRC: p.relaySSRC, Name: protocol.AppName,
					Data: protocol.AppendViewers(nil, uint32(viewers))}))
			}
		}
		if now.Sub(lastSummary) >= summaryInterval {
			st := h.Stats()
			drops := st.DropAuth + st.DropShort + st.DropUnknownSSRC + st.DropQueueFull + st.DropNotRTP + st.DropFlood
			if lastDrops := last.DropAuth + last.DropShort + last.DropUnknownSSRC + last.DropQueueFull + last.DropNotRTP + last.DropFlood; drops != lastDrops {
				h.log.Warn("ingest drops", "auth", st.DropAuth, "short", st.DropShort, "unknownSSRC", st.DropUnknownSSRC,
					"queueFull", st.DropQueueFull, "notRTCP", st.DropNotRTP, "flood", st.DropFlood)
			}
			if st.NACKsSent != last.NACKsSent {
				h.log.Info("loss repair", "nacked", st.NACKsSent, "repaired", st.PacketsRepaired,
					"unrepaired", st.PacketsUnrepaired, "duplicates", st.PacketsDuplicate)
			}
			if st.GroupsDropped != last.GroupsDropped || st.GroupsLate != last.GroupsLate || st.FramesThinned != last.FramesThinned ||
				st.AudioDropped != last.AudioDropped || st.AudioLate != last.AudioLate {
				h.log.Warn("slow viewers", "groupsDropped", st.GroupsDropped, "packetsDropped", st.PacketsDropped, "groupsLate", st.GroupsLate, "framesThinned", st.FramesThinned,
					"audioDropped", st.AudioDropped, "audioLate", st.AudioLate)
			}
			last, lastSummary = st, now
		}
	}
}

// checkAccess ends the sessions the data directory no longer allows: a
// publisher whose key was changed or whose stream was removed, a viewer
// whose account or stream was removed.
func (h *Hub) checkAccess(streams []*stream) {
	a := h.cfg.Access
	if a == nil {
		return
	}
	users := map[string]bool{}
	for _, s := range streams {
		id, exists := a.StreamKey(s.name)
		if p := s.publisher(); p != nil {
			switch {
			case !exists:
				h.endPublisher(p, protocol.EndRemoved, "the stream was removed")
			case id != p.keyID:
				h.endPublisher(p, protocol.EndRevoked, "the stream's publish key was changed")
			}
		}
		for _, v := range s.viewerList() {
			ok, seen := users[v.user]
			if !seen {
				ok = a.UserExists(v.user)
				users[v.user] = ok
			}
			switch {
			case !exists:
				v.close("this stream was removed")
			case !ok:
				v.close("your account was removed")
			}
		}
	}
}

// requestKeyframe sends a PLI (RFC 4585 §6.3.1) to the stream's publisher,
// at most one per pliInterval.
func (h *Hub) requestKeyframe(p *publisher) {
	// Without a latched address there is nowhere to send it yet: keep the
	// rate-limit slot for when there is.
	if p == nil || p.videoSSRC == 0 || p.address() == nil || !p.allowPLI(h.cfg.Now()) {
		return
	}
	h.c.plisSent.Add(1)
	h.sendRTCP(p, []rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: p.relaySSRC, MediaSSRC: p.videoSSRC}})
}

func (h *Hub) sendRTCP(p *publisher, pkts []rtcp.Packet) {
	if p.wt != nil {
		p.wt.rtcp(pkts)
		return
	}
	addr := p.address()
	if addr == nil || len(pkts) == 0 || h.cfg.WriteTo == nil {
		return
	}
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		return
	}
	p.txMu.Lock()
	enc, err := p.tx.EncryptRTCP(nil, raw, nil)
	p.txMu.Unlock()
	if err != nil {
		return
	}
	_, _ = h.cfg.WriteTo(enc, addr)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
