package media

import (
	"encoding/binary"
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
	gop      [][]byte // video RTP packets since the last keyframe, in arrival order
	gopBytes int
	gopValid bool   // gop starts at a keyframe
	group    uint64 // ID of the current group
	groupTS  uint32 // RTP timestamp of its keyframe
	groups   uint64 // groups started so far
	told     int    // the viewer count the viewers were last told
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
	s.gop, s.gopBytes, s.gopValid = s.gop[:0], 0, false
}

// video handles one decrypted video RTP packet whose payload starts at
// hdrLen. The first packet of a keyframe opens a new group for the cache
// and every viewer (once per RTP timestamp: an H.264 keyframe's IDR slice
// follows its SPS and PPS).
func (s *stream) video(pkt []byte, hdrLen int, keyframeStart func([]byte) bool) {
	key := hdrLen < len(pkt) && keyframeStart(pkt[hdrLen:])
	ts := binary.BigEndian.Uint32(pkt[4:8])
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
	if key && s.gopValid && len(s.gop) > 0 && ts == s.groupTS {
		key = false // the same keyframe, further on
	}
	if key {
		s.groupTS = ts
		s.group = s.groups
		s.groups++
		s.gop, s.gopBytes, s.gopValid = s.gop[:0], 0, true
	}
	if s.gopValid {
		if s.gopBytes+len(pkt) > maxGOPBytes {
			s.resetGOPLocked()
			needKey = true
		} else {
			s.gop = append(s.gop, pkt)
			s.gopBytes += len(pkt)
		}
	}
	now := time.Now()
	for v := range s.viewers {
		if !v.video(s.group, key, now, pkt) {
			needKey = true
		}
	}
}

// audio fans one decrypted audio RTP packet out; audio is never cached.
func (s *stream) audio(pkt []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v := range s.viewers {
		v.audio(pkt)
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
	// before its queue (the packets are shared read-only, the slice is the
	// viewer's own): the queue then only ever holds live packets and stays
	// small. Queued now: the cached group is not late for this viewer.
	now := time.Now()
	v.backlog = make([]videoItem, len(s.gop))
	for i, pkt := range s.gop {
		v.backlog[i] = videoItem{group: s.group, start: i == 0, at: now, pkt: pkt}
	}
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
