package media

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/webtransport-go"

	"github.com/quicast/quicast/protocol"
)

// Per-viewer queue bounds. A viewer that falls further behind loses the rest
// of its current group and resumes at the next keyframe.
const (
	videoQueueLen   = 64  // live frames, ~2 s at 30 fps: maxVideoLag bounds the lag in time
	audioQueueLen   = 128 // packets, 2.5 s of 20 ms Opus: maxAudioLag bounds the lag in time
	controlQueueLen = 64
	helloTimeout    = 10 * time.Second

	// maxVideoLag bounds, in time, how far behind live a viewer's video
	// may fall: a packet that waited longer in the viewer's queue, or a
	// write that the viewer's connection (congestion, flow control) has
	// not taken by then, ends the group in progress with a stream reset,
	// and the viewer resumes at the next keyframe. Audio, sent apart as
	// datagrams, goes on meanwhile.
	maxVideoLag = 500 * time.Millisecond
	// thinLag: a viewer whose frames wait longer than this (its
	// connection takes less than the stream's bitrate) is sent no
	// non-reference frame (VP8's every other frame, RFC 7741 N bit) until
	// it catches up: half the frame rate rather than its groups reset at
	// maxVideoLag. The RTP sequence numbers it sees then skip; its
	// reassembler knows from the frames' temporal layers that nothing it
	// needs was lost (protocol.FrameLoss.EndLayer).
	thinLag = maxVideoLag / 4
	// maxAudioLag bounds how long an audio packet may wait in a viewer's
	// queue (its connection not taking datagrams: congestion, a starved
	// browser). Later than that it is dropped: no playout holds it (a
	// browser's target is at most 300 ms, the desktop's 40 ms), and sent
	// anyway it only puts the sound after it late as well. Measured in a
	// four-person call on a saturated 2-core machine: browsers heard each
	// other 1-2 s late.
	maxAudioLag = 250 * time.Millisecond
	// controlWriteTimeout: a viewer that takes no control message for this
	// long does not read its control stream and is dropped.
	controlWriteTimeout = 5 * time.Second

	errCodeGroupDropped = 1 // stream reset code: the relay dropped the rest of the group
)

// viewer is one WebTransport session watching a stream. The stream's
// fan-out (under stream.mu) fills the queues without blocking; the viewer's
// own goroutines drain them onto the session.
type viewer struct {
	h    *Hub
	sess *webtransport.Session
	user string

	ctrlQ  chan *protocol.Message
	videoQ chan *frame
	audioQ chan queuedAudio
	send   func(datagram []byte) error // the session's SendDatagram

	// The cached group at join, written before videoQ, and when it was
	// queued (set before the writer starts).
	backlog   []*frame
	backlogAt time.Time
	skipping  bool        // fan-out side, under stream.mu: waiting for a keyframe
	abort     atomic.Bool // ask the writer to reset the group in progress

	groupsDropped, packetsDropped, audioDropped atomic.Uint64
	audioLate                                   atomic.Uint64 // packets dropped for waiting more than maxAudioLag
	lastAudio                                   time.Time     // the last audio datagram sent (audioLoop's)
	groupsLate                                  atomic.Uint64 // groups reset for falling more than maxVideoLag behind
	framesThinned                               atomic.Uint64 // non-reference frames not sent: they waited more than thinLag
}

// video queues one video frame; it reports false when the queue overflowed
// and the viewer now waits for the next keyframe.
func (v *viewer) video(f *frame) bool {
	if v.skipping {
		if !f.start {
			v.packetsDropped.Add(uint64(f.packets))
			v.h.c.packetsDropped.Add(uint64(f.packets))
			return true
		}
		v.skipping = false
	}
	select {
	case v.videoQ <- f:
		return true
	default:
		v.skipping = true
		v.abort.Store(true)
		v.groupsDropped.Add(1)
		v.packetsDropped.Add(uint64(f.packets))
		v.h.c.groupsDropped.Add(1)
		v.h.c.packetsDropped.Add(uint64(f.packets))
		return false
	}
}

// needKeyframe makes the viewer wait for the next group start.
func (v *viewer) needKeyframe() { v.skipping = true }

// queuedAudio is an audio packet in a viewer's queue since at.
type queuedAudio struct {
	pkt []byte
	at  time.Time
}

// audio queues pkt, fanned out at now, for the viewer's audioLoop; a full
// queue drops it.
func (v *viewer) audio(pkt []byte, now time.Time) {
	select {
	case v.audioQ <- queuedAudio{pkt, now}:
	default:
		v.audioDropped.Add(1)
		v.h.c.audioDropped.Add(1)
	}
}

func (v *viewer) control(m *protocol.Message) {
	select {
	case v.ctrlQ <- m:
	default:
	}
}

func (v *viewer) close(reason string) {
	_ = v.sess.CloseWithError(0, reason)
}

// ServeViewer implements web.Media: it upgrades the request to a
// WebTransport session, waits for the viewer's hello on the control stream
// and serves the stream until the session ends.
func (h *Hub) ServeViewer(w http.ResponseWriter, r *http.Request, name, user string) {
	sess, err := h.cfg.WebTransport.Upgrade(w, r)
	if err != nil {
		h.log.Debug("webtransport upgrade failed", "err", err)
		http.Error(w, "webtransport upgrade failed: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()
	stop := context.AfterFunc(h.ctx, func() { _ = sess.CloseWithError(0, "the relay is shutting down") })
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
	if err != nil || hello.Type != protocol.MsgHello {
		_ = sess.CloseWithError(1, "expected hello on the control stream")
		return
	}
	_ = ctrl.SetReadDeadline(time.Time{})

	v := &viewer{h: h, sess: sess, user: user,
		ctrlQ:  make(chan *protocol.Message, controlQueueLen),
		videoQ: make(chan *frame, videoQueueLen),
		audioQ: make(chan queuedAudio, audioQueueLen), send: sess.SendDatagram}
	h.mu.Lock()
	s := h.streamLocked(name)
	h.mu.Unlock()
	h.c.viewers.Add(1)
	defer h.c.viewers.Add(-1)
	h.log.Info("viewer joined", "stream", name, "user", user, "remote", sess.RemoteAddr())
	s.join(v)
	defer s.leave(v)

	// Whichever of its loops ends first (the session closed, a write
	// failed, the viewer stopped reading) ends the viewer: no session stays
	// registered with queues no one drains.
	var wg sync.WaitGroup
	wg.Go(func() {
		defer cancel()
		v.writeLoop(ctx, ctrl)
	})
	wg.Go(func() {
		defer cancel()
		v.audioLoop(ctx)
	})
	wg.Go(func() {
		defer cancel()
		v.readLoop(rd, s)
	})
	<-ctx.Done()
	_ = sess.CloseWithError(0, "")
	wg.Wait()
	h.log.Info("viewer left", "stream", name, "user", user, "groupsDropped", v.groupsDropped.Load(), "groupsLate", v.groupsLate.Load(), "framesThinned", v.framesThinned.Load(), "audioDropped", v.audioDropped.Load(), "audioLate", v.audioLate.Load())
}

// readLoop handles the viewer's control messages until the stream ends.
func (v *viewer) readLoop(rd *protocol.ControlReader, s *stream) {
	for {
		m, err := rd.Read()
		if err != nil {
			return
		}
		switch m.Type {
		case protocol.MsgKeyframe:
			v.h.requestKeyframe(s.publisher())
		case protocol.MsgStats:
			v.control(&protocol.Message{Type: protocol.MsgStats, Stats: &protocol.StatsReport{
				GroupsDropped: v.groupsDropped.Load(), PacketsDropped: v.packetsDropped.Load()}})
		}
	}
}

// writeLoop writes control messages and video groups. Each group goes on
// its own unidirectional stream: header and frames, FIN at the next group,
// reset when the fan-out dropped the rest of it or when the viewer fell more
// than maxVideoLag behind; then it resumes at the next keyframe. Each frame
// is one write of the bytes the fan-out framed for every viewer: quic-go
// fills whole QUIC packets with it and sends them in one system call (GSO).
// It returns when the session ends or a control message cannot be written.
func (v *viewer) writeLoop(ctx context.Context, ctrl *webtransport.Stream) {
	w := groupWriter{v: v, ctx: ctx}
	defer w.endGroup()
	var buf []byte
	writeControl := func(m *protocol.Message) bool {
		b, err := protocol.AppendMessage(buf[:0], m)
		if err != nil {
			return true
		}
		buf = b
		_ = ctrl.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
		_, err = ctrl.Write(b)
		return err == nil
	}
	// The catalog and sender reports queued at join go first, then the
	// cached group, then whatever came meanwhile.
	for len(v.ctrlQ) > 0 {
		if !writeControl(<-v.ctrlQ) {
			return
		}
	}
	for b := v.backlog; len(b) > 0; b = b[min(len(b), maxWriteBatch):] {
		if !w.write(b[:min(len(b), maxWriteBatch)], v.backlogAt) {
			return
		}
	}
	v.backlog = nil
	batch := make([]*frame, 0, maxWriteBatch)
	for {
		if v.abort.Swap(false) {
			w.dropGroup()
		}
		select {
		case <-ctx.Done():
			return
		case m := <-v.ctrlQ:
			if !writeControl(m) {
				return
			}
		case f := <-v.videoQ:
			batch = append(batch[:0], f)
		more:
			for len(batch) < maxWriteBatch {
				select {
				case f := <-v.videoQ:
					batch = append(batch, f)
				default:
					break more
				}
			}
			ok := w.write(batch, time.Time{})
			clear(batch)
			if !ok {
				return
			}
		}
	}
}

// maxWriteBatch bounds the frames written at once by a viewer that is
// behind: taking what waits in one write keeps a saturated relay's cost
// per byte down instead of up.
const maxWriteBatch = 8

// groupWriter writes one viewer's video groups (writeLoop's goroutine).
type groupWriter struct {
	v        *viewer
	ctx      context.Context
	cur      *webtransport.SendStream
	curGroup uint64
	late     bool // waiting for a keyframe queued after falling behind

	pend     []*frame  // frames of the current group not written yet
	deadline time.Time // of the oldest of them
	buf      []byte    // pend's data together, when there are several
}

func (w *groupWriter) endGroup() {
	if w.cur != nil {
		_ = w.cur.Close()
		w.cur = nil
	}
}

func (w *groupWriter) dropGroup() {
	clear(w.pend)
	w.pend = w.pend[:0]
	if w.cur != nil {
		w.cur.CancelWrite(errCodeGroupDropped)
		w.cur = nil
	}
}

func (w *groupWriter) fallBehind() {
	w.dropGroup()
	w.late = true
	w.v.groupsLate.Add(1)
	w.v.h.c.groupsLate.Add(1)
}

// write writes a batch of frames queued for this viewer (at when, or
// each at its fan-out time when at is zero), giving up on the group
// (fallBehind) when a frame waited, or the connection does not take it,
// beyond maxVideoLag; false when the session ended.
func (w *groupWriter) write(batch []*frame, at time.Time) bool {
	now := time.Now()
	for _, f := range batch {
		queued := at
		if queued.IsZero() {
			queued = f.at
		}
		deadline := queued.Add(maxVideoLag)
		if now.After(deadline) {
			if !w.late {
				w.fallBehind()
			}
			continue // stale: waiting for a keyframe queued in time
		}
		if f.nonRef && now.Sub(queued) > thinLag {
			w.v.framesThinned.Add(1)
			w.v.h.c.framesThinned.Add(1)
			continue
		}
		if f.start {
			w.flush()
			w.late = false
			w.endGroup()
			octx, cancel := context.WithDeadline(w.ctx, deadline)
			s, err := w.v.sess.OpenUniStreamSync(octx)
			cancel()
			if err != nil {
				if w.ctx.Err() != nil {
					return false
				}
				w.fallBehind() // the viewer's stream limit: it holds too many groups open
				continue
			}
			w.cur, w.curGroup = s, f.group
		} else if w.late || w.cur == nil || f.group != w.curGroup {
			continue // the rest of a dropped group
		}
		if len(w.pend) == 0 {
			w.deadline = deadline
		}
		w.pend = append(w.pend, f)
	}
	w.flush()
	return true
}

// flush writes the pending frames to the current group's stream in one
// write — a lone frame's shared data as it is — giving up (fallBehind)
// when the connection has not taken them by the deadline of the oldest.
func (w *groupWriter) flush() {
	if len(w.pend) == 0 || w.cur == nil {
		clear(w.pend)
		w.pend = w.pend[:0]
		return
	}
	data, packets := w.pend[0].data, w.pend[0].packets
	if len(w.pend) > 1 {
		w.buf = w.buf[:0]
		packets = 0
		for _, f := range w.pend {
			w.buf = append(w.buf, f.data...)
			packets += f.packets
		}
		data = w.buf
	}
	clear(w.pend)
	w.pend = w.pend[:0]
	_ = w.cur.SetWriteDeadline(w.deadline)
	n, err := w.cur.Write(data)
	if cap(w.buf) > maxKeptBuffer {
		w.buf = nil // a keyframe's worth is not kept by every viewer
	}
	w.v.h.c.packetsOut.Add(uint64(packets))
	w.v.h.c.bytesOut.Add(uint64(n))
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.fallBehind()
		} else {
			w.dropGroup()
		}
	}
}

// maxKeptBuffer bounds the batch buffer a writer keeps between writes.
const maxKeptBuffer = 32 << 10

// audioLoop sends audio packets as datagrams, apart from the video writes so
// that audio never waits behind a large keyframe. Packets that have waited
// in the queue meanwhile (a busy relay) go together in one bundle datagram
// (protocol.DatagramBundle), up to maxBundle bytes: one datagram, one QUIC
// packet and one system call instead of several, and none held back.
// Packets that waited more than maxAudioLag are dropped.
func (v *viewer) audioLoop(ctx context.Context) {
	var bundle []byte
	var pkts [][]byte
	send := func() bool {
		d := pkts[0]
		if len(pkts) > 1 {
			bundle = protocol.AppendBundle(bundle[:0], pkts...)
			d = bundle
		}
		ok := v.sendAudio(ctx, d, len(pkts))
		clear(pkts)
		pkts = pkts[:0]
		return ok
	}
	fresh := func(a queuedAudio, now time.Time) bool {
		if now.Sub(a.at) <= maxAudioLag {
			return true
		}
		v.audioLate.Add(1)
		v.h.c.audioLate.Add(1)
		return false
	}
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-v.audioQ:
			if !fresh(a, time.Now()) {
				continue
			}
			pkts = append(pkts, a.pkt)
		}
		size := 1 + 2 + len(pkts[0])
		now := time.Now()
	more:
		for {
			select {
			case a := <-v.audioQ:
				if !fresh(a, now) {
					continue
				}
				next := a.pkt
				if size+2+len(next) > maxBundle {
					if !send() {
						return
					}
					size = 1
				}
				pkts = append(pkts, next)
				size += 2 + len(next)
			default:
				break more
			}
		}
		if !send() {
			return
		}
	}
}

// maxBundle keeps a bundle datagram within what every path carries in one
// QUIC packet (a browser sees ~1200 bytes of datagram).
const maxBundle = 1000

// sendAudio sends one audio datagram of n packets; false when the session
// ended.
func (v *viewer) sendAudio(ctx context.Context, d []byte, n int) bool {
	v.h.c.audioGapsOut.add(&v.lastAudio, time.Now())
	if err := v.send(d); err != nil {
		return ctx.Err() == nil
	}
	v.h.c.packetsOut.Add(uint64(n))
	v.h.c.bytesOut.Add(uint64(len(d)))
	if n > 1 {
		v.h.c.audioBundles.Add(1)
	}
	return true
}

func ssrcOf(pkt []byte) uint32 {
	if len(pkt) < 12 {
		return 0
	}
	return uint32(pkt[8])<<24 | uint32(pkt[9])<<16 | uint32(pkt[10])<<8 | uint32(pkt[11])
}
