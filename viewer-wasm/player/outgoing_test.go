package player

import (
	"bytes"
	"testing"
	"time"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/rtpvp8"
)

// TestOutgoingVP8: a browser participant's encoded frames come back whole
// from the viewer's reassembler, with the catalog's SSRC and payload type,
// consecutive sequence numbers across frames, the marker on each frame's
// last packet and the capture time on the 90 kHz clock.
func TestOutgoingVP8(t *testing.T) {
	tr := OutTrack{SSRC: 0xdeadbeef, PayloadType: protocol.PayloadTypeVP8, ClockRate: protocol.ClockRateVideo, Base: 1000}
	tr.SetSequence(65534) // wraps within the test
	key := append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}, bytes.Repeat([]byte{7}, 3000)...)
	delta := append([]byte{0x31}, bytes.Repeat([]byte{9}, 500)...)
	var a rtpvp8.Assembler
	seq := uint16(65534)
	for i, f := range [][]byte{key, delta} {
		us := int64(1_000_000 + i*33_333)
		pkts := tr.VP8(f, us, protocol.MTU, false)
		if i == 0 && len(pkts) != 3 {
			t.Fatalf("a %d-byte keyframe in %d packets, want 3 of ≤ %d bytes", len(f), len(pkts), protocol.MTU)
		}
		for j, pkt := range pkts {
			h, _, err := protocol.ParseRTP(pkt)
			if err != nil || len(pkt) > protocol.MTU {
				t.Fatalf("frame %d packet %d: %v, %d bytes", i, j, err, len(pkt))
			}
			if h.SSRC != tr.SSRC || h.PayloadType != protocol.PayloadTypeVP8 || h.SequenceNumber != seq ||
				h.Marker != (j == len(pkts)-1) || h.Timestamp != 1000+uint32(us*9/100) {
				t.Errorf("frame %d packet %d header %+v", i, j, h)
			}
			seq++
			fr, done, err := a.Push(pkt)
			if err != nil {
				t.Fatal(err)
			}
			if done && (!bytes.Equal(fr.Data, f) || fr.Keyframe != (i == 0)) {
				t.Errorf("frame %d reassembled as %d bytes (keyframe %v)", i, len(fr.Data), fr.Keyframe)
			}
		}
		if i == 0 && !rtpvp8.KeyframeStart(pkts[0][12:]) {
			t.Error("the relay would not see the keyframe start a group")
		}
	}
	if tr.Packets != 4 {
		t.Errorf("%d packets counted, want 4", tr.Packets)
	}
}

// TestOutgoingSync: the sender report maps the newest capture time to the
// wall clock through the least-delayed frame of the window, and a new
// window lets a clock that moved on take over.
func TestOutgoingSync(t *testing.T) {
	tr := OutTrack{SSRC: 5, PayloadType: protocol.PayloadTypeOpus, ClockRate: protocol.ClockRateOpus, Base: 7}
	if _, ok := tr.Sync(); ok {
		t.Fatal("a sender report before anything was sent")
	}
	// Capture times are µs since some origin; the page sees each frame
	// 3–9 ms later, on a wall clock 1000 s ahead of that origin.
	origin := time.Unix(1000, 0)
	for i, delay := range []time.Duration{9, 3, 5, 7} {
		us := int64(i) * 10_000
		tr.Captured(us, origin.Add(time.Duration(us)*time.Microsecond+delay*time.Millisecond))
		tr.Opus([]byte{0xfc}, us)
	}
	r, ok := tr.Sync()
	if !ok {
		t.Fatal("no sender report")
	}
	want := time.UnixMicro(30_000).Add(origin.Sub(time.UnixMicro(0)) + 3*time.Millisecond)
	if got := protocol.NTPToTime(r.NTPTime); got.Sub(want).Abs() > time.Microsecond {
		t.Errorf("report wall clock %v, want %v (the 3 ms frame's offset)", got, want)
	}
	if r.RTPTime != 7+30_000*48/1000 || r.Packets != 4 || r.Octets != 4 || r.SSRC != 5 {
		t.Errorf("report %+v", r)
	}
	// The page's clock jumps 50 ms ahead: within two windows the offset
	// follows.
	for i := 4; i < 4+2*int(offsetWindow/(10*time.Millisecond))+2; i++ {
		us := int64(i) * 10_000
		tr.Captured(us, origin.Add(time.Duration(us)*time.Microsecond+53*time.Millisecond))
		tr.Opus([]byte{0xfc}, us)
	}
	r, _ = tr.Sync()
	us := int64(tr.lastTS)
	want = time.UnixMicro(us).Add(origin.Sub(time.UnixMicro(0)) + 53*time.Millisecond)
	if got := protocol.NTPToTime(r.NTPTime); got.Sub(want).Abs() > time.Microsecond {
		t.Errorf("after the clock moved: %v, want %v", got, want)
	}
}
