package player

import (
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/rtph264"
	"github.com/quicast/quicast/protocol/rtpvp8"
)

// Broadcast is what the player knows of one broadcast, from its catalog:
// the tracks, their clocks (from the sender reports), the RTP timestamp
// unwrappers, the frame assembler, the group gate and the audio timeline.
// A sender that publishes again starts a new broadcast with new SSRCs,
// sequence numbers and RTP timestamps, so the player replaces all of it on
// each catalog instead of carrying state across.
type Broadcast struct {
	Video, Audio             *protocol.TrackInfo // nil: no such track
	VideoClock, AudioClock   protocol.RTPClock
	VideoUnwrap, AudioUnwrap Unwrapper
	Assembler                protocol.VideoAssembler // by the video codec: rtpvp8 or rtph264
	Gate                     VideoGate
	Timeline                 AudioTimeline
}

// NewBroadcast starts the broadcast a catalog describes.
func NewBroadcast(tracks []protocol.TrackInfo) *Broadcast {
	b := &Broadcast{}
	for _, t := range tracks {
		switch t.Kind {
		case "video":
			if b.Video == nil {
				b.Video = &t
				b.VideoClock = protocol.RTPClock{ClockRate: t.ClockRate}
				b.Assembler = &rtpvp8.Assembler{}
				if protocol.CatalogCodec(t.Codec) == protocol.CodecH264 {
					b.Assembler = &rtph264.Assembler{}
				}
			}
		case "audio":
			if b.Audio == nil {
				b.Audio = &t
				b.AudioClock = protocol.RTPClock{ClockRate: t.ClockRate}
			}
		}
	}
	b.Gate.NeedKeyframe()
	return b
}

// VideoSSRC and AudioSSRC return the tracks' SSRCs, 0 without the track.
func (b *Broadcast) VideoSSRC() uint32 {
	if b == nil || b.Video == nil {
		return 0
	}
	return b.Video.SSRC
}

func (b *Broadcast) AudioSSRC() uint32 {
	if b == nil || b.Audio == nil {
		return 0
	}
	return b.Audio.SSRC
}

// Sync applies a forwarded sender report to the track it is about; it
// reports false for a report of another broadcast.
func (b *Broadcast) Sync(r protocol.SyncReport) bool {
	switch {
	case b.Video != nil && r.SSRC == b.Video.SSRC:
		b.VideoClock.Update(r.NTPTime, r.RTPTime)
	case b.Audio != nil && r.SSRC == b.Audio.SSRC:
		b.AudioClock.Update(r.NTPTime, r.RTPTime)
	default:
		return false
	}
	return true
}

// VideoGate decides what of the video goes to the decoder. Groups (one per
// unidirectional stream, protocol/README.md §3.3) are taken in order: a
// packet of an older group is late and dropped, a group ID that skips
// counts as lost groups. Frames go to the decoder from a keyframe on; after
// a loss, a decode error or an overflow, only from the next keyframe.
type VideoGate struct {
	group      uint64
	have       bool
	needKey    bool
	LostGroups uint64 // groups never received (gaps in the group IDs)
}

// Packet reports whether a packet of group (start: the group's first
// packet) belongs to the group in progress; a start of a newer group makes
// it the group in progress.
func (g *VideoGate) Packet(group uint64, start bool) bool {
	if start {
		if g.have && group < g.group {
			return false // a late start of an older group
		}
		if g.have && group > g.group+1 {
			g.LostGroups += group - g.group - 1
		}
		g.group, g.have = group, true
		return true
	}
	return g.have && group == g.group
}

// Frame reports whether a complete frame goes to the decoder.
func (g *VideoGate) Frame(keyframe bool) bool {
	if g.needKey && !keyframe {
		return false
	}
	g.needKey = false
	return true
}

// NeedKeyframe makes the gate wait for the next keyframe.
func (g *VideoGate) NeedKeyframe() { g.needKey = true }

// WaitingForKeyframe reports whether only a keyframe passes now.
func (g *VideoGate) WaitingForKeyframe() bool { return g.needKey }
