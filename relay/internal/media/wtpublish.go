package media

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/quic-go/webtransport-go"

	"github.com/quicast/quicast/protocol"
)

// A room participant in a browser publishes over WebTransport (protocol
// README §4.2) instead of SRTP: the same RTP packets, video on one
// unidirectional stream per group and audio in datagrams, sender reports
// as MsgSync on the control stream. The session is the publisher's
// identity, so its packets skip the SRTP ingest and go straight to the
// stream's fan-out; what the relay would say in RTCP (PLI, viewer count,
// end notice) it says on the control stream.

// wtLink is a publisher's WebTransport session.
type wtLink struct {
	sess  *webtransport.Session
	ctrlQ chan *protocol.Message
	// mu orders control against end: the hub's housekeeping may still
	// report to a publisher whose session has just ended, and a send on
	// the closed ctrlQ would panic.
	mu     sync.Mutex
	closed bool // ctrlQ
}

// rtcp says over the control stream what pkts would tell an SRTP sender.
func (l *wtLink) rtcp(pkts []rtcp.Packet) {
	for _, pk := range pkts {
		switch r := pk.(type) {
		case *rtcp.PictureLossIndication:
			l.control(&protocol.Message{Type: protocol.MsgKeyframe})
		case *rtcp.ReceiverReport:
			m := &protocol.Message{Type: protocol.MsgReport}
			for _, b := range r.Reports {
				m.Reports = append(m.Reports, protocol.ReportBlock{SSRC: b.SSRC, ReceptionReport: protocol.ReceptionReport{
					FractionLost: b.FractionLost, TotalLost: b.TotalLost, ExtendedHighestSeq: b.LastSequenceNumber,
					Jitter: b.Jitter, LastSenderReport: b.LastSenderReport, Delay: b.Delay}})
			}
			if len(m.Reports) > 0 {
				l.control(m)
			}
		case *rtcp.ApplicationDefined:
			switch r.SubType {
			case protocol.AppSubtypeViewers:
				if n, err := protocol.ParseViewers(r.Data); err == nil {
					l.control(&protocol.Message{Type: protocol.MsgStats, Stats: &protocol.StatsReport{Viewers: n}})
				}
			case protocol.AppSubtypeEnd:
				code, _ := protocol.ParseEnd(r.Data)
				l.end(code.String())
			}
		}
	}
}

func (l *wtLink) control(m *protocol.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queueLocked(m)
}

// queueLocked queues m unless the queue is closed or full (l.mu held).
func (l *wtLink) queueLocked(m *protocol.Message) {
	if l.closed {
		return
	}
	select {
	case l.ctrlQ <- m:
	default:
	}
}

// end tells the participant why its session ends and closes it; what
// comes for it after that is dropped.
func (l *wtLink) end(reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.queueLocked(&protocol.Message{Type: protocol.MsgEnded, Reason: reason})
	l.closed = true
	close(l.ctrlQ) // the writer sends what is queued, then closes the session
}

// ServePublisher implements web.Media: it upgrades the request to a
// WebTransport session, reads the participant's MsgPublish, answers with
// the catalog and takes its media until the session ends. A participant
// that publishes again (a reload, a second tab) takes its stream over.
func (h *Hub) ServePublisher(w http.ResponseWriter, r *http.Request, name, keyID string) {
	sess, err := h.cfg.WebTransport.Upgrade(w, r)
	if err != nil {
		h.log.Debug("webtransport upgrade failed", "err", err)
		http.Error(w, "webtransport upgrade failed: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()
	stop := context.AfterFunc(h.ctx, func() { _ = sess.CloseWithError(0, protocol.EndShutdown.String()) })
	defer stop()

	actx, acancel := context.WithTimeout(ctx, helloTimeout)
	ctrl, err := sess.AcceptStream(actx)
	acancel()
	if err != nil {
		_ = sess.CloseWithError(1, "no control stream")
		return
	}
	_ = ctrl.SetReadDeadline(time.Now().Add(helloTimeout))
	rd := protocol.NewControlReader(ctrl)
	hello, err := rd.Read()
	if err != nil || hello.Type != protocol.MsgPublish {
		_ = sess.CloseWithError(1, "expected publish on the control stream")
		return
	}
	_ = ctrl.SetReadDeadline(time.Time{})
	req := protocol.PublishRequest{Stream: name, Takeover: true}
	for _, t := range hello.Tracks {
		switch {
		case t.Kind == "video" && req.Video == nil:
			req.Video = &protocol.TrackOffer{Codec: t.Codec, ClockRate: protocol.ClockRateVideo, Width: t.Width, Height: t.Height}
		case t.Kind == "audio" && req.Audio == nil && strings.EqualFold(t.Codec, "opus"):
			req.Audio = &protocol.TrackOffer{Codec: "opus", ClockRate: protocol.ClockRateOpus, Channels: t.Channels}
		}
	}
	link := &wtLink{sess: sess, ctrlQ: make(chan *protocol.Message, controlQueueLen)}
	// Latched from the start (its address is the session's): it counts
	// as sending from now, so housekeeping gives it publisherTimeout
	// for its first packet instead of ending it at once.
	p := &publisher{wt: link, addr: sess.RemoteAddr(), last: h.cfg.Now()}
	_, tracks, err := h.register(name, keyID, req, p, "over", "webtransport", "client", hello.Client, "remote", sess.RemoteAddr())
	if err != nil {
		_ = protocol.WriteMessage(ctrl, &protocol.Message{Type: protocol.MsgError, Reason: err.Error()})
		_ = sess.CloseWithError(1, err.Error())
		return
	}
	link.control(&protocol.Message{Type: protocol.MsgCatalog, Tracks: tracks})

	var wg sync.WaitGroup
	wg.Go(func() {
		defer cancel()
		for m := range link.ctrlQ {
			_ = ctrl.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
			if protocol.WriteMessage(ctrl, m) != nil {
				return
			}
		}
		_ = sess.CloseWithError(0, "ended") // after the end notice
	})
	wg.Go(func() {
		defer cancel()
		h.wtControl(p, rd)
	})
	wg.Go(func() {
		defer cancel()
		h.wtGroups(ctx, p, sess)
	})
	wg.Go(func() {
		defer cancel()
		h.wtDatagrams(ctx, p, sess)
	})
	<-ctx.Done()
	link.end("the session ended")
	_ = sess.CloseWithError(0, "")
	wg.Wait()
	h.endPublisher(p, 0, "the participant left")
}

// wtControl takes the participant's sender reports.
func (h *Hub) wtControl(p *publisher, rd *protocol.ControlReader) {
	for {
		m, err := rd.Read()
		if err != nil {
			return
		}
		if m.Type == protocol.MsgSync && m.Sync != nil && (m.Sync.SSRC == p.videoSSRC || m.Sync.SSRC == p.audioSSRC) {
			p.senderReport(m.Sync.SSRC, m.Sync.NTPTime, h.cfg.Now())
			p.stream.sync(*m.Sync)
		}
	}
}

// wtGroups reads the video groups one after the other, in the order the
// participant opened them: a group is read to its end (or its reset)
// before the next, so the fan-out gets the packets in order.
func (h *Hub) wtGroups(ctx context.Context, p *publisher, sess *webtransport.Session) {
	var buf []byte
	for {
		st, err := sess.AcceptUniStream(ctx)
		if err != nil {
			return
		}
		g, err := protocol.NewGroupReader(st)
		if err != nil || g.Header().SSRC != p.videoSSRC {
			st.CancelRead(errCodeGroupDropped)
			continue
		}
		for {
			pkt, err := g.ReadPacket(buf)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					st.CancelRead(errCodeGroupDropped)
				}
				break
			}
			buf = pkt[:0]
			h.wtPacket(p, pkt)
		}
	}
}

// wtDatagrams reads the audio datagrams: one RTP packet or a bundle
// (protocol.SplitDatagram).
func (h *Hub) wtDatagrams(ctx context.Context, p *publisher, sess *webtransport.Session) {
	for {
		d, err := sess.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		if err := protocol.SplitDatagram(d, func(pkt []byte) { h.wtPacket(p, pkt) }); err != nil {
			h.c.dropShort.Add(1)
		}
	}
}

// wtPacket takes one RTP packet of a WebTransport publisher; pkt is copied.
func (h *Hub) wtPacket(p *publisher, pkt []byte) {
	h.c.packetsIn.Add(1)
	h.c.bytesIn.Add(uint64(len(pkt)))
	var hdr rtp.Header
	n, err := hdr.Unmarshal(pkt)
	if err != nil {
		h.c.dropNotRTP.Add(1)
		return
	}
	if hdr.SSRC != p.videoSSRC && hdr.SSRC != p.audioSSRC {
		h.c.dropUnknown.Add(1)
		return
	}
	now := h.cfg.Now()
	p.touch(now)
	if !p.flood.AllowN(now, len(pkt)) {
		h.c.dropFlood.Add(1)
		p.floodBytes.Add(uint64(len(pkt)))
		p.floodDrops.Add(1)
		return
	}
	p.recv(hdr.SSRC, hdr.SequenceNumber, hdr.Timestamp, now)
	own := append([]byte(nil), pkt...) // shared read-only by the GOP cache and the viewers
	if hdr.SSRC == p.videoSSRC {
		p.stream.video(own, n, p.keyframeStart, p.nonReference)
	} else {
		p.stream.audio(own)
	}
}
