package player

import (
	"fmt"
	"testing"
	"time"

	"github.com/quicast/quicast/protocol"
)

func TestVideoGate(t *testing.T) {
	var g VideoGate
	g.NeedKeyframe()
	steps := []struct {
		group uint64
		start bool
		want  bool
	}{
		{5, false, false}, // the middle of a group joined late
		{6, true, true},
		{6, false, true},
		{5, true, false}, // a late start of an older group
		{9, true, true},  // 7 and 8 never came
		{9, false, true},
		{6, false, false},
	}
	for i, s := range steps {
		if got := g.Packet(s.group, s.start); got != s.want {
			t.Errorf("step %d: Packet(%d, %v) = %v, want %v", i, s.group, s.start, got, s.want)
		}
	}
	if g.LostGroups != 2 {
		t.Errorf("%d groups lost, want 2", g.LostGroups)
	}
	if g.Frame(false) {
		t.Error("a delta frame passed before any keyframe")
	}
	if !g.Frame(true) || !g.Frame(false) {
		t.Error("frames after the keyframe held back")
	}
	g.NeedKeyframe()
	if g.Frame(false) || !g.WaitingForKeyframe() {
		t.Error("a delta frame passed after a loss")
	}
}

// A sender that publishes again starts a broadcast with new SSRCs,
// sequence numbers, timestamps and group numbers from 0: nothing of the
// previous one carries over.
func TestRepublishStartsOver(t *testing.T) {
	first := NewBroadcast([]protocol.TrackInfo{
		{Kind: "video", Codec: "vp8", SSRC: 11, ClockRate: 90000},
		{Kind: "audio", Codec: "opus", SSRC: 12, ClockRate: 48000, Channels: 2},
	})
	now := time.Unix(1_800_000_000, 0)
	if !first.Sync(protocol.SyncReport{SSRC: 12, NTPTime: protocol.NTPTime(now), RTPTime: 4_000_000_000}) ||
		!first.Sync(protocol.SyncReport{SSRC: 11, NTPTime: protocol.NTPTime(now), RTPTime: 100}) {
		t.Fatal("sender reports of the broadcast not taken")
	}
	first.Gate.Packet(700, true)
	first.AudioUnwrap.Unwrap(4_000_000_000)
	first.Timeline.Add(first.AudioUnwrap.Unwrap(4_000_000_960), 960)

	second := NewBroadcast([]protocol.TrackInfo{
		{Kind: "video", Codec: "vp8", SSRC: 21, ClockRate: 90000},
		{Kind: "audio", Codec: "opus", SSRC: 22, ClockRate: 48000, Channels: 2},
	})
	if second.VideoSSRC() != 21 || second.AudioSSRC() != 22 {
		t.Fatalf("SSRCs %d %d", second.VideoSSRC(), second.AudioSSRC())
	}
	if second.Sync(protocol.SyncReport{SSRC: 12, NTPTime: protocol.NTPTime(now), RTPTime: 1}) {
		t.Error("a sender report of the previous broadcast was applied")
	}
	if second.AudioClock.Synced() || second.VideoClock.Synced() {
		t.Error("clocks carried over")
	}
	if !second.Gate.Packet(0, true) {
		t.Error("group 0 of the new broadcast refused as older than group 700")
	}
	if second.Gate.Frame(false) || !second.Gate.Frame(true) {
		t.Error("the new broadcast does not start at a keyframe")
	}
	if ext := second.AudioUnwrap.Unwrap(1234); ext != 1234 {
		t.Errorf("unwrapper carried over: %d", ext)
	}
	if _, ok := second.Timeline.At(0); ok {
		t.Error("audio timeline carried over")
	}
	var none *Broadcast
	if none.VideoSSRC() != 0 || none.AudioSSRC() != 0 {
		t.Error("a nil broadcast has SSRCs")
	}
	audioOnly := NewBroadcast([]protocol.TrackInfo{{Kind: "audio", Codec: "opus", SSRC: 5, ClockRate: 48000}})
	if audioOnly.Video != nil || audioOnly.VideoSSRC() != 0 || audioOnly.AudioSSRC() != 5 {
		t.Errorf("audio-only broadcast: %+v", audioOnly)
	}
}

// The video codec of the catalog picks the reassembler.
func TestBroadcastAssemblerByCodec(t *testing.T) {
	for codec, want := range map[string]string{"vp8": "*rtpvp8.Assembler", "avc1.42E01F": "*rtph264.Assembler"} {
		b := NewBroadcast([]protocol.TrackInfo{{Kind: "video", Codec: codec, SSRC: 1, ClockRate: 90000}})
		if got := fmt.Sprintf("%T", b.Assembler); got != want {
			t.Errorf("%s: assembler %s, want %s", codec, got, want)
		}
	}
}
