package media

import (
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"github.com/quicast/quicast/protocol"
)

// maxGOPBytes bounds the GOP cache of one stream. A group larger than this
// is not cached; a keyframe is requested instead.
const maxGOPBytes = 8 << 20

// stream is one named stream: its current publisher, the GOP cache and the
// viewers. The ingest goroutine feeds it; viewers register and leave.
type stream struct {
	h    *Hub
	name string

	mu       sync.Mutex
	pub      *publisher
	tracks   []protocol.TrackInfo
	syncs    map[uint32]protocol.SyncReport
	viewers  map[*viewer]struct{}
	gop      []*frame // video frames since the last keyframe
	gopBytes int
	gopValid bool   // gop starts at a keyframe
	group    uint64 // ID of the current group
	groupTS  uint32 // RTP timestamp of its keyframe
	groups   uint64 // groups started so far
	told     int    // the viewer count the viewers were last told

	// The video frame in progress: its packets, framed, and what the
	// fan-out needs to know of it.
	pending     []byte
	pendingN    int
	pendingTS   uint32
	pendingSSRC uint32
	pendingKey  bool
	// pendingNonRef: the frame's first packet says no other frame is
	// predicted from it.
	pendingNonRef bool
	lastFrame     int // bytes of the last frame: the next one's first guess

	lastAudio time.Time // when the last audio packet came (audioGap)
}

func newStream(h *Hub, name string) *stream {
	return &stream{h: h, name: name, syncs: map[uint32]protocol.SyncReport{}, viewers: map[*viewer]struct{}{}}
}

func (s *stream) status() (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pub != nil, len(s.viewers)
}

func (s *stream) publisher() *publisher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pub
}

// setPublisher installs a new publish session and announces its tracks; it
// returns the session it replaced.
func (s *stream) setPublisher(p *publisher, tracks []protocol.TrackInfo) *publisher {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.pub
	s.pub, s.tracks = p, tracks
	clear(s.syncs)
	s.resetGOPLocked()
	cat := &protocol.Message{Type: protocol.MsgCatalog, Tracks: tracks}
	for v := range s.viewers {
		v.control(cat)
		v.needKeyframe()
	}
	return old
}

// clearPublisher ends p's session if it is still the stream's publisher.
func (s *stream) clearPublisher(p *publisher, reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != p {
		return false
	}
	s.pub, s.tracks = nil, nil
	s.resetGOPLocked()
	end := &protocol.Message{Type: protocol.MsgEnded, Reason: reason}
	for v := range s.viewers {
		v.control(end)
	}
	return true
}

func (s *stream) resetGOPLocked() {
	clear(s.gop)
	s.gop, s.gopBytes, s.gopValid = s.gop[:0], 0, false
	s.pending, s.pendingN = nil, 0
}

// frame is one video frame as it goes on a viewer's group stream: its RTP
// packets, each length-prefixed (protocol.AppendPacket), after the group
// stream header when the frame starts a group (protocol §group streams).
// The fan-out builds it once; the GOP cache and every viewer's writer share
// it read-only, and a writer hands data to its stream in one write.
type frame struct {
	group   uint64
	start   bool      // a keyframe: data begins with the group header
	nonRef  bool      // no other frame is predicted from it: a viewer behind may go without (groupWriter.write)
	at      time.Time // when it was fanned out
	packets int
	data    []byte
}

// video handles one decrypted video RTP packet whose payload starts at
// hdrLen. Packets are gathered into their frame (one RTP timestamp); the
// frame is fanned out at its last packet (marker bit, RFC 7741 §4.1, RFC
// 6184 §5.1), or when a packet of the next frame comes first (the last one
// was lost). A sender sends a frame's packets back to back and a decoder
// needs the whole frame, so waiting for it costs a viewer nothing, and it
// lets every viewer take the frame in one write instead of one per packet.
// A keyframe opens a new group for the cache and every viewer;
// nonReference (nil: none) tells the packets of a frame no other is
// predicted from.
func (s *stream) video(pkt []byte, hdrLen int, keyframeStart, nonReference func([]byte) bool) {
	ts := binary.BigEndian.Uint32(pkt[4:8])
	marker := pkt[1]&0x80 != 0
	key := hdrLen < len(pkt) && keyframeStart(pkt[hdrLen:])
	// A keyframe request is written to the network after the lock is
	// released: no socket write while the stream's viewers wait on it.
	var needKey bool
	var pub *publisher
	defer func() {
		if needKey {
			s.h.requestKeyframe(pub)
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	pub = s.pub
	if s.pendingN > 0 && ts != s.pendingTS {
		needKey = !s.flushFrameLocked()
	}
	if s.pendingN == 0 {
		s.pendingTS, s.pendingSSRC, s.pendingKey = ts, ssrcOf(pkt), false
		s.pendingNonRef = nonReference != nil && hdrLen < len(pkt) && nonReference(pkt[hdrLen:])
		// The frame's own buffer, with room in front for a group header:
		// it becomes the frame's data without another copy.
		s.pending = make([]byte, maxGroupHeader, maxGroupHeader+max(s.lastFrame, 4<<10))
	}
	s.pending = protocol.AppendPacket(s.pending, pkt)
	s.pendingN++
	s.pendingKey = s.pendingKey || key
	if marker {
		if !s.flushFrameLocked() {
			needKey = true
		}
	}
}

// flushFrameLocked fans the frame in progress out to the cache and the
// viewers. It reports false when a keyframe should be asked for: the group
// outgrew the cache, or a viewer's queue overflowed.
func (s *stream) flushFrameLocked() bool {
	ok := true
	key := s.pendingKey
	if key && s.gopValid && len(s.gop) > 0 && s.pendingTS == s.groupTS {
		key = false // the same keyframe, further on
	}
	f := &frame{start: key, nonRef: s.pendingNonRef && !key, at: time.Now(), packets: s.pendingN, data: s.pending[maxGroupHeader:]}
	if key {
		s.groupTS = s.pendingTS
		s.group = s.groups
		s.groups++
		clear(s.gop)
		s.gop, s.gopBytes, s.gopValid = s.gop[:0], 0, true
		var h [maxGroupHeader]byte
		hdr := protocol.AppendGroupHeader(h[:0], protocol.GroupHeader{SSRC: s.pendingSSRC, Group: s.group})
		off := maxGroupHeader - len(hdr)
		copy(s.pending[off:], hdr)
		f.data = s.pending[off:]
	}
	f.group = s.group
	s.lastFrame = len(f.data)
	s.pending, s.pendingN = nil, 0
	if s.gopValid {
		if s.gopBytes+len(f.data) > maxGOPBytes {
			s.resetGOPLocked()
			ok = false
		} else {
			s.gop = append(s.gop, f)
			s.gopBytes += len(f.data)
		}
	}
	for v := range s.viewers {
		if !v.video(f) {
			ok = false
		}
	}
	return ok
}

// maxGroupHeader is the largest group stream header: its type and two
// 8-byte varints.
const maxGroupHeader = 17

// audio fans one decrypted audio RTP packet out; audio is never cached.
func (s *stream) audio(pkt []byte) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h.c.audioGapsIn.add(&s.lastAudio, now)
	for v := range s.viewers {
		v.audio(pkt, now)
	}
}

// sync forwards an RTCP sender report to the viewers and keeps it for
// viewers that join later.
func (s *stream) sync(r protocol.SyncReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncs[r.SSRC] = r
	m := &protocol.Message{Type: protocol.MsgSync, Sync: &r}
	for v := range s.viewers {
		v.control(m)
	}
}

// join registers v and queues, atomically with respect to the live
// fan-out, the catalog, the latest sender reports and the GOP cache, so the
// viewer starts decoding at once.
func (s *stream) join(v *viewer) {
	var needKey *publisher // asked for after the lock is released
	defer func() {
		if needKey != nil {
			s.h.requestKeyframe(needKey)
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.viewers[v] = struct{}{}
	defer s.announceViewersLocked() // after the catalog
	if s.pub == nil {
		return
	}
	v.control(&protocol.Message{Type: protocol.MsgCatalog, Tracks: s.tracks})
	for _, r := range s.syncs {
		v.control(&protocol.Message{Type: protocol.MsgSync, Sync: &r})
	}
	if !s.gopValid {
		needKey = s.pub
		return
	}
	// The cached group goes to the viewer's writer as a backlog it writes
	// before its queue (the frames are shared read-only, the slice is the
	// viewer's own): the queue then only ever holds live frames and stays
	// small. Queued now: the cached group is not late for this viewer.
	v.backlog = slices.Clone(s.gop)
	v.backlogAt = time.Now()
}

// announceViewers tells every viewer how many watch, when that changed.
func (s *stream) announceViewers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.announceViewersLocked()
}

func (s *stream) announceViewersLocked() {
	if len(s.viewers) == s.told {
		return
	}
	s.told = len(s.viewers)
	m := &protocol.Message{Type: protocol.MsgStats, Stats: &protocol.StatsReport{Viewers: uint32(s.told)}}
	for v := range s.viewers {
		v.control(m)
	}
}

func (s *stream) leave(v *viewer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.viewers, v)
}

func (s *stream) viewerList() []*viewer {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := make([]*viewer, 0, len(s.viewers))
	for v := range s.viewers {
		vs = append(vs, v)
	}
	return vs
}

func (s *stream) closeViewers(reason string) {
	for _, v := range s.viewerList() {
		v.close(reason)
	}
}
