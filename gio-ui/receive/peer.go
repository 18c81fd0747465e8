package receive

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/rtph264"
	"github.com/quicast/quicast/protocol/rtpvp8"
	"github.com/quicast/quicast/sender/peercall"
)

// StartPeer receives the other side of a direct call (sender/peercall):
// its SRTP (RFC 3711) on conn, this side's UDP socket, with the keys and
// SSRCs in m. Keyframe requests go back as RTCP PLI (RFC 4585 §6.3.1) to
// where its packets come from. The receiver owns conn from now on.
//
// The media go through the same pipeline as a relay's (reassembly, libvpx,
// jitter buffer, libopus, lip-sync from the sender reports): the socket is
// made to look like a viewer session — the catalog from m, a group per
// keyframe, the audio packets, the sender reports as sync messages. There
// is no relay to repair losses: a lost video packet waits for the next
// keyframe (asked for at once), a lost audio packet is concealed.
func StartPeer(ctx context.Context, conn *net.UDPConn, m peercall.Media, log *slog.Logger) (*Receiver, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	src, err := newPeerSource(conn, m)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return start(ctx, src, log.With("component", "receive", "peer", conn.LocalAddr().String())), nil
}

const (
	peerGroupLen = 2048 // packets a group holds for the decoder before it is cut
	peerAudioLen = 256
	peerCtrlLen  = 64
)

// peerSource is a direct call's UDP socket as a receiver's source.
type peerSource struct {
	conn     *net.UDPConn
	rx       *srtp.Context // the reader goroutine's
	tx       *srtp.Context // under mu
	m        peercall.Media
	ssrc     uint32 // ours, for RTCP
	keyStart func([]byte) bool

	ctx    context.Context
	cancel context.CancelFunc
	ctrl   chan *protocol.Message
	groups chan *peerGroup
	audio  chan []byte

	mu    sync.Mutex
	from  *net.UDPAddr                       // where the other side's packets come from
	stats map[uint32]*protocol.ReceiverStats // by the other side's SSRC: for the receiver reports

	dropped, badPackets atomic.Uint64
}

func srtpProfile(name string) (srtp.ProtectionProfile, error) {
	switch name {
	case protocol.ProfileAEADAES128GCM:
		return srtp.ProtectionProfileAeadAes128Gcm, nil
	case protocol.ProfileAES128CMHMACSHA1_80, "":
		return srtp.ProtectionProfileAes128CmHmacSha1_80, nil
	}
	return 0, fmt.Errorf("unsupported SRTP profile %q", name)
}

func newPeerSource(conn *net.UDPConn, m peercall.Media) (*peerSource, error) {
	prof, err := srtpProfile(m.Profile)
	if err != nil {
		return nil, err
	}
	rx, err := srtp.CreateContext(m.Key, m.Salt, prof, srtp.SRTPReplayProtection(1024), srtp.SRTCPReplayProtection(1024))
	if err != nil {
		return nil, fmt.Errorf("the other side's SRTP keys: %w", err)
	}
	tx, err := srtp.CreateContext(m.Key, m.Salt, prof)
	if err != nil {
		return nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	s := &peerSource{conn: conn, rx: rx, tx: tx, m: m, ssrc: binary.BigEndian.Uint32(b[:]) | 1,
		ctrl: make(chan *protocol.Message, peerCtrlLen), groups: make(chan *peerGroup, 8), audio: make(chan []byte, peerAudioLen),
		keyStart: rtpvp8.KeyframeStart}
	if m.VideoPT == protocol.PayloadTypeH264 {
		s.keyStart = rtph264.KeyframeStart
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.stats = map[uint32]*protocol.ReceiverStats{}
	if m.VideoSSRC != 0 {
		s.stats[m.VideoSSRC] = &protocol.ReceiverStats{Jitter: protocol.Jitter{ClockRate: protocol.ClockRateVideo}}
	}
	if m.AudioSSRC != 0 {
		s.stats[m.AudioSSRC] = &protocol.ReceiverStats{Jitter: protocol.Jitter{ClockRate: protocol.ClockRateOpus}}
	}
	var tracks []protocol.TrackInfo
	if m.VideoSSRC != 0 {
		codec := m.Codec
		if codec == "" {
			codec = protocol.WebCodecsVP8
		}
		tracks = append(tracks, protocol.TrackInfo{Kind: "video", Codec: codec, PayloadType: m.VideoPT, SSRC: m.VideoSSRC,
			ClockRate: protocol.ClockRateVideo, Width: m.Width, Height: m.Height})
	}
	if m.AudioSSRC != 0 {
		tracks = append(tracks, protocol.TrackInfo{Kind: "audio", Codec: "opus", PayloadType: m.AudioPT, SSRC: m.AudioSSRC,
			ClockRate: protocol.ClockRateOpus, Channels: max(m.Channels, 1)})
	}
	s.ctrl <- &protocol.Message{Type: protocol.MsgCatalog, Tracks: tracks}
	go s.read()
	go s.report()
	return s, nil
}

// reportInterval is how often a direct call's receiver sends its
// receiver report: the other side's round trip, loss and jitter (its
// window shows them) follow the network within a second or two.
const reportInterval = time.Second

// report sends an RTCP receiver report (RFC 3550 §6.4.2) every
// reportInterval with a block per track received so far, until the
// source closes.
func (s *peerSource) report() {
	t := time.NewTicker(reportInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		rr := &rtcp.ReceiverReport{SSRC: s.ssrc}
		s.mu.Lock()
		for ssrc, st := range s.stats {
			if !st.Received() {
				continue
			}
			b := st.Report(now)
			rr.Reports = append(rr.Reports, rtcp.ReceptionReport{SSRC: ssrc, FractionLost: b.FractionLost, TotalLost: b.TotalLost,
				LastSequenceNumber: b.ExtendedHighestSeq, Jitter: b.Jitter, LastSenderReport: b.LastSenderReport, Delay: b.Delay})
		}
		s.mu.Unlock()
		if len(rr.Reports) > 0 {
			_ = s.sendRTCP(rr)
		}
	}
}

// read takes the socket's datagrams until it closes.
func (s *peerSource) read() {
	defer s.cancel()
	buf := make([]byte, 1500)
	var cur *peerGroup
	var groupID uint64
	defer func() {
		if cur != nil {
			cur.end(false)
		}
	}()
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		pkt := buf[:n]
		if n < 12 || protocol.Classify(pkt[0]) != protocol.ClassRTP {
			s.badPackets.Add(1)
			continue
		}
		if protocol.IsRTCP(pkt) {
			plain, err := s.rx.DecryptRTCP(nil, pkt, nil)
			if err != nil {
				s.badPackets.Add(1)
				continue
			}
			s.latch(from)
			if s.rtcp(plain) {
				return // BYE: the other side stopped sending
			}
			continue
		}
		var hdr rtp.Header
		plain, err := s.rx.DecryptRTP(nil, pkt, &hdr)
		if err != nil {
			s.badPackets.Add(1)
			continue
		}
		s.arrived(from, &hdr)
		switch hdr.SSRC {
		case s.m.AudioSSRC:
			select {
			case s.audio <- plain:
			default:
				s.dropped.Add(1)
			}
		case s.m.VideoSSRC:
			if s.keyStart(plain[hdr.MarshalSize():]) {
				if cur != nil {
					cur.end(false)
				}
				cur = newPeerGroup(protocol.AppendGroupHeader(nil, protocol.GroupHeader{SSRC: hdr.SSRC, Group: groupID}))
				groupID++
				select {
				case s.groups <- cur:
				default:
					cur.end(true) // the decoder is far behind: this group is lost
					cur = nil
				}
			}
			if cur == nil || !cur.push(protocol.AppendPacket(nil, plain)) {
				if cur != nil {
					cur.end(true)
					cur = nil
				}
				s.dropped.Add(1)
				_ = s.WriteControl(&protocol.Message{Type: protocol.MsgKeyframe})
			}
		default:
			s.badPackets.Add(1)
		}
	}
}

// rtcp handles a compound RTCP packet; it reports a BYE.
func (s *peerSource) rtcp(plain []byte) bool {
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		s.badPackets.Add(1)
		return false
	}
	for _, p := range pkts {
		switch r := p.(type) {
		case *rtcp.SenderReport:
			s.mu.Lock()
			if st := s.stats[r.SSRC]; st != nil {
				st.SenderReport(r.NTPTime, time.Now())
			}
			s.mu.Unlock()
			select {
			case s.ctrl <- &protocol.Message{Type: protocol.MsgSync, Sync: &protocol.SyncReport{SSRC: r.SSRC, NTPTime: r.NTPTime,
				RTPTime: r.RTPTime, Packets: r.PacketCount, Octets: r.OctetCount}}:
			default:
			}
		case *rtcp.Goodbye:
			return true
		}
	}
	return false
}

// latch notes where the other side's packets come from: where RTCP goes.
func (s *peerSource) latch(from *net.UDPAddr) {
	s.mu.Lock()
	s.latchLocked(from)
	s.mu.Unlock()
}

func (s *peerSource) latchLocked(from *net.UDPAddr) {
	if s.from == nil || !s.from.IP.Equal(from.IP) || s.from.Port != from.Port {
		s.from = from
	}
}

// arrived latches from and counts the RTP packet with header hdr for the
// receiver reports, under one lock.
func (s *peerSource) arrived(from *net.UDPAddr, hdr *rtp.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latchLocked(from)
	if st := s.stats[hdr.SSRC]; st != nil {
		st.Update(hdr.SequenceNumber, hdr.Timestamp, time.Now())
	}
}

func (s *peerSource) ReadControl() (*protocol.Message, error) {
	select {
	case m := <-s.ctrl:
		return m, nil
	case <-s.ctx.Done():
		return nil, errPeerClosed
	}
}

var errPeerClosed = errors.New("receive: the direct call's socket closed")

// WriteControl sends a keyframe request as an RTCP PLI; other messages
// have no meaning here.
func (s *peerSource) WriteControl(m *protocol.Message) error {
	if m.Type != protocol.MsgKeyframe || s.m.VideoSSRC == 0 {
		return nil
	}
	return s.sendRTCP(&rtcp.PictureLossIndication{SenderSSRC: s.ssrc, MediaSSRC: s.m.VideoSSRC})
}

// sendRTCP sends p, SRTCP-protected, to where the other side's packets
// come from (nothing before the first came).
func (s *peerSource) sendRTCP(p rtcp.Packet) error {
	raw, err := rtcp.Marshal([]rtcp.Packet{p})
	if err != nil {
		return err
	}
	s.mu.Lock()
	to := s.from
	enc, err := s.tx.EncryptRTCP(nil, raw, nil)
	s.mu.Unlock()
	if err != nil || to == nil {
		return err
	}
	_, err = s.conn.WriteToUDP(enc, to)
	return err
}

func (s *peerSource) AcceptGroup(ctx context.Context) (io.Reader, error) {
	select {
	case g := <-s.groups:
		return g, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.ctx.Done():
		return nil, errPeerClosed
	}
}

func (s *peerSource) ReadAudio(ctx context.Context, fn func(pkt []byte)) (bool, error) {
	select {
	case p := <-s.audio:
		fn(p)
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-s.ctx.Done():
		return false, errPeerClosed
	}
}

func (s *peerSource) Context() context.Context { return s.ctx }

func (s *peerSource) Close() error {
	s.cancel()
	return s.conn.Close()
}

// peerGroup is one video group of a direct call, framed as a relay's group
// stream (protocol README §3.3) for the receiver's group reader.
type peerGroup struct {
	ch     chan []byte
	cur    []byte
	once   sync.Once
	broken atomic.Bool
}

func newPeerGroup(header []byte) *peerGroup {
	g := &peerGroup{ch: make(chan []byte, peerGroupLen)}
	g.ch <- header
	return g
}

// push hands the reader one framed packet; false when it is too far
// behind (the group is then cut).
func (g *peerGroup) push(b []byte) bool {
	select {
	case g.ch <- b:
		return true
	default:
		return false
	}
}

// end ends the group: cleanly, or cut (broken).
func (g *peerGroup) end(broken bool) {
	g.once.Do(func() {
		g.broken.Store(broken)
		close(g.ch)
	})
}

func (g *peerGroup) Read(p []byte) (int, error) {
	for len(g.cur) == 0 {
		b, ok := <-g.ch
		if !ok {
			if g.broken.Load() {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, io.EOF
		}
		g.cur = b
	}
	n := copy(p, g.cur)
	g.cur = g.cur[n:]
	return n, nil
}
