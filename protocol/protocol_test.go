package protocol

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

var varintCases = []struct {
	v    uint64
	wire []byte
}{
	// RFC 9000 Appendix A.1 examples.
	{37, []byte{0x25}},
	{15293, []byte{0x7b, 0xbd}},
	{494878333, []byte{0x9d, 0x7f, 0x3e, 0x7d}},
	{151288809941952652, []byte{0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c}},
	{0, []byte{0x00}},
	{63, []byte{0x3f}},
	{64, []byte{0x40, 0x40}},
	{MaxVarint, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
}

func TestVarint(t *testing.T) {
	for _, c := range varintCases {
		got := AppendVarint(nil, c.v)
		if !bytes.Equal(got, c.wire) {
			t.Errorf("AppendVarint(%d) = %x, want %x", c.v, got, c.wire)
		}
		if n := VarintLen(c.v); n != len(c.wire) {
			t.Errorf("VarintLen(%d) = %d, want %d", c.v, n, len(c.wire))
		}
		v, n, err := ParseVarint(c.wire)
		if err != nil || v != c.v || n != len(c.wire) {
			t.Errorf("ParseVarint(%x) = %d, %d, %v; want %d, %d", c.wire, v, n, err, c.v, len(c.wire))
		}
		v, err = ReadVarint(bytes.NewReader(c.wire))
		if err != nil || v != c.v {
			t.Errorf("ReadVarint(%x) = %d, %v", c.wire, v, err)
		}
		if len(c.wire) > 1 {
			if _, _, err := ParseVarint(c.wire[:len(c.wire)-1]); err == nil {
				t.Errorf("ParseVarint(%x) of a cut varint: no error", c.wire[:len(c.wire)-1])
			}
			if _, err := ReadVarint(bytes.NewReader(c.wire[:1])); err != io.ErrUnexpectedEOF {
				t.Errorf("ReadVarint of a cut varint: %v, want io.ErrUnexpectedEOF", err)
			}
		}
	}
}

func FuzzVarint(f *testing.F) {
	for _, c := range varintCases {
		f.Add(c.wire)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := ParseVarint(b)
		if err != nil {
			return
		}
		// Re-serialising gives the shortest form, which is never longer.
		re := AppendVarint(nil, v)
		if len(re) > n {
			t.Fatalf("%x: re-encoded %d as %x, longer than %d bytes", b, v, re, n)
		}
		if v2, _, _ := ParseVarint(re); v2 != v {
			t.Fatalf("round trip %d -> %x -> %d", v, re, v2)
		}
	})
}

func TestControlRoundTrip(t *testing.T) {
	msgs := []*Message{
		{Type: MsgHello, Client: "quicast-viewer"},
		{Type: MsgCatalog, Tracks: []TrackInfo{
			{Kind: "video", Codec: "vp8", PayloadType: PayloadTypeVP8, SSRC: 1, ClockRate: ClockRateVideo, Width: 640, Height: 480},
			{Kind: "audio", Codec: "opus", PayloadType: PayloadTypeOpus, SSRC: 2, ClockRate: ClockRateOpus, Channels: 2},
		}},
		{Type: MsgSync, Sync: &SyncReport{SSRC: 1, NTPTime: 1 << 40, RTPTime: 12345, Packets: 7, Octets: 9000}},
		{Type: MsgKeyframe},
		{Type: MsgStats, Stats: &StatsReport{GroupsDropped: 1, PacketsDropped: 300, Viewers: 4, FramesDecoded: 1 << 40,
			FramesRendered: 5, FramesDropped: 6, PlayoutDelayMS: 42.5}},
		{Type: MsgEnded, Reason: "publisher left"},
		{Type: MsgError, Reason: "ticket expired"},
		{Type: MsgPublish, Client: "quicast-browser", Tracks: []TrackInfo{
			{Kind: "video", Codec: "VP8", Width: 1280, Height: 720}, {Kind: "audio", Codec: "opus", Channels: 1}}},
		{Type: MsgReport, Reports: []ReportBlock{
			{SSRC: 1, ReceptionReport: ReceptionReport{FractionLost: 26, TotalLost: 1 << 23, ExtendedHighestSeq: 70000, Jitter: 450, LastSenderReport: 0xdeadbeef, Delay: 65536 / 4}},
			{SSRC: 2, ReceptionReport: ReceptionReport{ExtendedHighestSeq: 3}}}},
	}
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := WriteMessage(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	r := NewControlReader(&buf)
	for i, want := range msgs {
		got, err := r.Read()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("message %d = %+v, want %+v", i, got, want)
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Errorf("after the last message: %v, want io.EOF", err)
	}

	if _, err := AppendMessage(nil, &Message{}); err == nil {
		t.Error("message without type: no error")
	}
	big := AppendVarint(nil, MaxControlMessage+1)
	if _, err := NewControlReader(bytes.NewReader(big)).Read(); err == nil {
		t.Error("oversized length: no error")
	}
	cut, _ := AppendMessage(nil, msgs[0])
	if _, err := NewControlReader(bytes.NewReader(cut[:len(cut)-1])).Read(); err != io.ErrUnexpectedEOF {
		t.Errorf("cut message: %v, want io.ErrUnexpectedEOF", err)
	}
	// A sync message whose fields stop early is malformed.
	short := AppendVarint(nil, 5)
	short = append(short, 3, 0, 0, 0, 1)
	if _, err := NewControlReader(bytes.NewReader(short)).Read(); err == nil {
		t.Error("sync message cut inside its fields: no error")
	}
	// A report claiming more blocks than its bytes hold, or than an RTCP
	// report can, is malformed.
	for _, n := range []uint64{2, maxReportBlocks + 1} {
		body, _ := AppendMessage(nil, &Message{Type: MsgReport, Reports: []ReportBlock{{SSRC: 1}}})
		body = body[1:]   // its length
		body[1] = byte(n) // the block count (one varint byte)
		if _, err := ParseMessage(body); err == nil {
			t.Errorf("report of %d blocks with one block's bytes: no error", n)
		}
	}
}

// A newer relay may send message types and fields this reader does not
// know: unknown types are skipped, fields after the known ones ignored.
func TestControlForwardCompatible(t *testing.T) {
	var b []byte
	b = append(AppendVarint(b, 4), 200, 1, 2, 3) // type 200, unknown
	ended, _ := AppendMessage(nil, &Message{Type: MsgEnded, Reason: "bye"})
	ended[0]++ // one byte longer...
	ended = append(ended, 0xff)
	b = append(b, ended...)
	m, err := NewControlReader(bytes.NewReader(b)).Read()
	if err != nil || m.Type != MsgEnded || m.Reason != "bye" {
		t.Fatalf("got %+v, %v; want the ended message past the unknown one", m, err)
	}
}

func FuzzControl(f *testing.F) {
	b, _ := AppendMessage(nil, &Message{Type: MsgSync, Sync: &SyncReport{SSRC: 9, NTPTime: 3, RTPTime: 4}})
	f.Add(b)
	f.Add([]byte{0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := NewControlReader(bytes.NewReader(b)).Read()
		if err != nil {
			return
		}
		re, err := AppendMessage(nil, m)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", m, err)
		}
		m2, err := NewControlReader(bytes.NewReader(re)).Read()
		if err != nil || m2.Type != m.Type {
			t.Fatalf("round trip %+v -> %+v, %v", m, m2, err)
		}
	})
}

func TestGroupStream(t *testing.T) {
	pkts := [][]byte{{0x80, 96, 0, 1}, bytes.Repeat([]byte{0xaa}, MaxPacket), {0x80, 96, 0, 3}}
	b := AppendGroupHeader(nil, GroupHeader{SSRC: 0xdeadbeef, Group: 70000})
	for _, p := range pkts {
		b = AppendPacket(b, p)
	}
	g, err := NewGroupReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if h := g.Header(); h.SSRC != 0xdeadbeef || h.Group != 70000 {
		t.Errorf("header = %+v", h)
	}
	var buf []byte
	for i, want := range pkts {
		got, err := g.ReadPacket(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("packet %d = %x, want %x", i, got, want)
		}
		buf = got
	}
	if _, err := g.ReadPacket(buf); err != io.EOF {
		t.Errorf("end of group: %v, want io.EOF", err)
	}

	for name, bad := range map[string][]byte{
		"empty":       {},
		"wrong type":  {0x02, 0, 0},
		"cut header":  {0x01, 0x40},
		"zero length": append(AppendGroupHeader(nil, GroupHeader{}), 0),
		"too long":    AppendVarint(AppendGroupHeader(nil, GroupHeader{}), MaxPacket+1),
		"cut packet":  append(AppendGroupHeader(nil, GroupHeader{}), 5, 1, 2),
	} {
		g, err := NewGroupReader(bytes.NewReader(bad))
		if err == nil {
			_, err = g.ReadPacket(nil)
		}
		if err == nil || err == io.EOF {
			t.Errorf("%s: err = %v, want a protocol error", name, err)
		}
	}
}

func FuzzGroupStream(f *testing.F) {
	f.Add(AppendPacket(AppendGroupHeader(nil, GroupHeader{SSRC: 1, Group: 2}), []byte{0x80, 0x60}))
	f.Add([]byte{0x01, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := NewGroupReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		re := AppendGroupHeader(nil, g.Header())
		for {
			p, err := g.ReadPacket(nil)
			if err != nil {
				break
			}
			if len(p) == 0 || len(p) > MaxPacket {
				t.Fatalf("packet of %d bytes accepted", len(p))
			}
			re = AppendPacket(re, p)
		}
		g2, err := NewGroupReader(bytes.NewReader(re))
		if err != nil || g2.Header() != g.Header() {
			t.Fatalf("re-encoded header: %+v, %v", g2, err)
		}
	})
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		b    byte
		want PacketClass
	}{
		{0, ClassSTUN}, {3, ClassSTUN}, {10, ClassUnknown}, {20, ClassDTLS}, {63, ClassDTLS},
		{64, ClassQUICShort}, {127, ClassQUICShort}, {128, ClassRTP}, {191, ClassRTP},
		{192, ClassQUICLong}, {255, ClassQUICLong},
	} {
		if got := Classify(c.b); got != c.want {
			t.Errorf("Classify(%d) = %d, want %d", c.b, got, c.want)
		}
	}
	if !IsRTCP([]byte{0x80, 200}) || IsRTCP([]byte{0x80, 96}) || IsRTCP([]byte{0x80}) {
		t.Error("IsRTCP misclassifies")
	}
}

func TestNTPAndRTPClock(t *testing.T) {
	ts := time.Date(2026, 11, 24, 12, 0, 0, 123_456_789, time.UTC)
	back := NTPToTime(NTPTime(ts))
	if d := back.Sub(ts); d < -time.Nanosecond || d > time.Nanosecond {
		t.Errorf("NTP round trip off by %v", d)
	}
	// 2^32 fraction units are one second: 0x80000000 is half a second.
	if got := NTPToTime(uint64(ntpEpochOffset)<<32 | 0x80000000); !got.Equal(time.Unix(0, 5e8)) {
		t.Errorf("NTPToTime(1970 + 0.5 s) = %v", got)
	}

	c := RTPClock{ClockRate: 90000}
	if !c.WallTime(5).IsZero() || c.Synced() {
		t.Error("unsynced clock maps a timestamp")
	}
	base := uint32(0xffffff00) // just before the 32-bit wrap
	c.Update(NTPTime(ts), base)
	if got := c.WallTime(base + 90000); !got.Equal(ts.Add(time.Second)) {
		t.Errorf("one second after the report, across the wrap: %v, want %v", got, ts.Add(time.Second))
	}
	if got := c.WallTime(base - 45000); !got.Equal(ts.Add(-500 * time.Millisecond)) {
		t.Errorf("half a second before: %v", got)
	}
}

func TestValidStreamName(t *testing.T) {
	for _, ok := range []string{"demo", "a", "Class_7-b", strings.Repeat("x", 64)} {
		if err := ValidStreamName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "../x", "é", strings.Repeat("x", 65), "a/b", "a?b"} {
		if err := ValidStreamName(bad); !errors.Is(err, ErrBadStreamName) {
			t.Errorf("%q: %v, want ErrBadStreamName", bad, err)
		}
	}
}

func TestRoomStream(t *testing.T) {
	name := RoomStream("team", "alice")
	room, user, err := SplitRoomStream(name)
	if err != nil || room != "team" || user != "alice" {
		t.Fatalf("SplitRoomStream(%q) = %q, %q, %v", name, room, user, err)
	}
	if ValidStreamName(name) == nil {
		t.Errorf("%q is also a plain stream's name: a participant could shadow a stream", name)
	}
	for _, bad := range []string{"demo", "team.", ".alice", "a.b.c", "team.al ice", ""} {
		if _, _, err := SplitRoomStream(bad); !errors.Is(err, ErrNotRoomStream) {
			t.Errorf("SplitRoomStream(%q): %v, want ErrNotRoomStream", bad, err)
		}
	}
}

func BenchmarkGroupPacketRoundTrip(b *testing.B) {
	pkt := bytes.Repeat([]byte{0x80}, 1100)
	wire := AppendPacket(AppendGroupHeader(nil, GroupHeader{SSRC: 1}), pkt)
	buf := make([]byte, MaxPacket)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	rd := bytes.NewReader(wire)
	for b.Loop() {
		rd.Reset(wire)
		g, err := NewGroupReader(rd)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := g.ReadPacket(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	sent := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	lsr := uint32(NTPTime(sent) >> 16)
	held := 30 * time.Millisecond
	dlsr := uint32(held * 65536 / time.Second)
	got := RoundTrip(sent.Add(42*time.Millisecond), lsr, dlsr)
	if d := got - 12*time.Millisecond; d < -100*time.Microsecond || d > 100*time.Microsecond {
		t.Errorf("RoundTrip = %v, want 12ms (42 ms in all, 30 ms held)", got)
	}
	if got := RoundTrip(sent, lsr, dlsr); got != 0 {
		t.Errorf("a report answered before it was held: %v, want 0", got)
	}
}

// ParseRTP agrees with pion/rtp on every packet pion can marshal, and
// refuses what is not RTP.
func TestParseRTP(t *testing.T) {
	ext := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, SSRC: 9}, Payload: []byte{5, 6}}
	if err := ext.SetExtension(1, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []rtp.Packet{ext,
		{Header: rtp.Header{Version: 2, Marker: true, PayloadType: 96, SequenceNumber: 65535, Timestamp: 1 << 31, SSRC: 7}, Payload: []byte{1, 2, 3}},
		{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 9, Timestamp: 5, SSRC: 8, CSRC: []uint32{1, 2}}, Payload: []byte{4}},
		{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 2, SSRC: 9, Padding: true, PaddingSize: 3}, Payload: []byte{7, 8}},
	} {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		h, payload, err := ParseRTP(b)
		if err != nil {
			t.Fatalf("%v: %v", p.Header, err)
		}
		want := RTPHeader{Marker: p.Marker, PayloadType: p.PayloadType, SequenceNumber: p.SequenceNumber, Timestamp: p.Timestamp, SSRC: p.SSRC}
		if h != want || !bytes.Equal(payload, p.Payload) {
			t.Errorf("ParseRTP = %+v %x, want %+v %x", h, payload, want, p.Payload)
		}
	}
	for _, b := range [][]byte{nil, {0x80, 96}, make([]byte, 12), {0x90, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 9}, {0xa0, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 40}} {
		if _, _, err := ParseRTP(b); err == nil {
			t.Errorf("ParseRTP(%x): no error", b)
		}
	}
}

func FuzzParseRTP(f *testing.F) {
	f.Add([]byte{0x80, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := ParseRTP(b)
		var p rtp.Packet
		perr := p.Unmarshal(b)
		if err == nil && perr == nil && (h.SequenceNumber != p.SequenceNumber || h.SSRC != p.SSRC || !bytes.Equal(payload, p.Payload)) {
			t.Fatalf("ParseRTP %+v %x, pion %+v %x", h, payload, p.Header, p.Payload)
		}
	})
}

func TestSplitDatagram(t *testing.T) {
	rtpPkt := func(seq byte, n int) []byte {
		p := make([]byte, n)
		p[0], p[3] = 0x80, seq
		return p
	}
	a, b, c := rtpPkt(1, 12), rtpPkt(2, 100), rtpPkt(3, 300)
	for _, tc := range []struct {
		name string
		d    []byte
		want [][]byte
		err  bool
	}{
		{"one packet", a, [][]byte{a}, false},
		{"bundle", AppendBundle(nil, a, b, c), [][]byte{a, b, c}, false},
		{"bundle of one", AppendBundle(nil, b), [][]byte{b}, false},
		{"empty bundle", []byte{DatagramBundle}, nil, false},
		{"empty", nil, nil, true},
		{"short RTP", a[:11], nil, true},
		{"unknown type", []byte{0x40, 1, 2}, nil, true},
		{"cut", AppendBundle(nil, a, b)[:50], [][]byte{a}, true},
		{"too short inside", append([]byte{DatagramBundle, 5}, a[:5]...), nil, true},
		{"cut varint", []byte{DatagramBundle, 0x40}, nil, true},
	} {
		var got [][]byte
		err := SplitDatagram(tc.d, func(p []byte) { got = append(got, p) })
		if (err != nil) != tc.err {
			t.Errorf("%s: err %v, want error %v", tc.name, err, tc.err)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d packets, want %d", tc.name, len(got), len(tc.want))
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i], tc.want[i]) {
				t.Errorf("%s: packet %d differs", tc.name, i)
			}
		}
	}
}

func FuzzSplitDatagram(f *testing.F) {
	f.Add(AppendBundle(nil, make([]byte, 12), make([]byte, 40)))
	f.Add([]byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, d []byte) {
		n := 0
		err := SplitDatagram(d, func(p []byte) {
			if len(p) < 12 || len(p) > MaxPacket {
				t.Fatalf("packet of %d bytes", len(p))
			}
			n += len(p)
		})
		if err == nil && n > len(d) {
			t.Fatalf("%d packet bytes from a %d-byte datagram", n, len(d))
		}
	})
}
