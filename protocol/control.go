package protocol

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strconv"
)

// MaxControlMessage is the largest control message accepted, in bytes.
const MaxControlMessage = 64 << 10

// Control message types. The viewer opens the control stream (the first
// bidirectional stream of the WebTransport session) and sends MsgHello; the
// relay answers MsgCatalog and then sends MsgSync for every RTCP sender
// report it receives from the publisher.
const (
	MsgHello    = "hello"    // viewer → relay: Client
	MsgCatalog  = "catalog"  // relay → viewer: Tracks
	MsgSync     = "sync"     // relay → viewer: Sync (a forwarded RTCP sender report)
	MsgKeyframe = "keyframe" // viewer → relay: please start a new group (relay sends PLI upstream)
	MsgStats    = "stats"    // viewer → relay: Stats; relay → viewer: Stats (relay-side drops)
	MsgEnded    = "ended"    // relay → viewer: the publisher is gone (Reason)
	MsgError    = "error"    // either way: Reason, then the stream is closed

	// A participant publishing over WebTransport (README §4.2) opens the
	// control stream with MsgPublish (Client, and Tracks it offers:
	// Kind, Codec, Channels, Width, Height); the relay answers MsgCatalog
	// with the SSRCs and payload types to send with, and later MsgKeyframe
	// (a viewer needs one), MsgStats (Viewers), MsgReport and MsgEnded.
	// The participant sends MsgSync for each of its tracks about once a
	// second.
	MsgPublish = "publish"
	// MsgReport: relay → a participant publishing over WebTransport: the
	// reception report blocks (Reports) of the receiver report the relay
	// would send an SRTP sender (RFC 3550 §6.4.2), about once a second —
	// the participant's loss, jitter and, from LSR and DLSR, its
	// round-trip time (§6.4.1).
	MsgReport = "report"
)

var (
	errControlTooLarge = errors.New("protocol: control message too large")
	errControlNoType   = errors.New("protocol: control message without type")
	errControlShort    = errors.New("protocol: control message cut short")
	errControlUnknown  = errors.New("protocol: unknown control message type")
)

// Message is one control message. Only the fields of its Type are set.
//
// On the wire each message is a QUIC varint length (RFC 9000 §16) followed
// by that many bytes: a type byte and the type's fields in order (see
// protocol/README.md §3.2 for each layout). Strings are a varint length and
// UTF-8 bytes; integers are big-endian. A reader ignores bytes after the
// fields it knows (fields are only ever added at the end) and skips
// messages of a type it does not know.
//
//	+----------------+------+----------------------------+
//	| length (varint)| type | fields (length − 1 bytes)  |
//	+----------------+------+----------------------------+
type Message struct {
	Type    string
	Client  string
	Tracks  []TrackInfo
	Sync    *SyncReport
	Stats   *StatsReport
	Reports []ReportBlock
	Reason  string
}

// ReportBlock is one reception report block (RFC 3550 §6.4.1) of a
// MsgReport: the track's SSRC and what the relay received of it.
type ReportBlock struct {
	SSRC uint32
	ReceptionReport
}

// maxReportBlocks bounds a MsgReport's blocks (an RTCP report holds 31).
const maxReportBlocks = 31

// The type byte of each message type.
var wireTypes = map[string]byte{MsgHello: 1, MsgCatalog: 2, MsgSync: 3, MsgKeyframe: 4, MsgStats: 5, MsgEnded: 6, MsgError: 7, MsgPublish: 8, MsgReport: 9}

func typeName(b byte) string {
	for n, t := range wireTypes {
		if t == b {
			return n
		}
	}
	return ""
}

// TrackInfo describes one track of a stream to a viewer.
type TrackInfo struct {
	Kind        string // "video" or "audio"
	Codec       string // W3C WebCodecs codec string: "vp8", "opus"
	PayloadType uint8
	SSRC        uint32
	ClockRate   uint32 // Hz
	Channels    uint16 // audio
	Width       int    // pixels, video, as announced by the sender
	Height      int
}

// SyncReport carries the timing part of an RTCP sender report (RFC 3550
// §6.4.1): the sender's wall clock NTP (64-bit NTP format) at which the track
// SSRC's RTP clock read RTPTime.
type SyncReport struct {
	SSRC    uint32
	NTPTime uint64
	RTPTime uint32
	Packets uint32
	Octets  uint32
}

// StatsReport is a small set of counters exchanged for diagnostics.
type StatsReport struct {
	// Relay → viewer.
	GroupsDropped  uint64
	PacketsDropped uint64
	Viewers        uint32 // watching the stream now, this viewer included
	// Viewer → relay.
	FramesDecoded  uint64
	FramesRendered uint64
	FramesDropped  uint64
	PlayoutDelayMS float64
}

// AppendMessage appends the wire form of m to b.
func AppendMessage(b []byte, m *Message) ([]byte, error) {
	t, ok := wireTypes[m.Type]
	if !ok {
		if m.Type == "" {
			return b, errControlNoType
		}
		return b, Wrap("protocol: encode "+m.Type, errControlUnknown)
	}
	body := []byte{t}
	switch m.Type {
	case MsgHello:
		body = appendString(body, m.Client)
	case MsgCatalog:
		body = appendTracks(body, m.Tracks)
	case MsgPublish:
		body = appendString(body, m.Client)
		body = appendTracks(body, m.Tracks)
	case MsgSync:
		var r SyncReport
		if m.Sync != nil {
			r = *m.Sync
		}
		body = binary.BigEndian.AppendUint32(body, r.SSRC)
		body = binary.BigEndian.AppendUint64(body, r.NTPTime)
		body = binary.BigEndian.AppendUint32(body, r.RTPTime)
		body = binary.BigEndian.AppendUint32(body, r.Packets)
		body = binary.BigEndian.AppendUint32(body, r.Octets)
	case MsgStats:
		var r StatsReport
		if m.Stats != nil {
			r = *m.Stats
		}
		for _, v := range []uint64{r.GroupsDropped, r.PacketsDropped, uint64(r.Viewers), r.FramesDecoded, r.FramesRendered, r.FramesDropped} {
			body = AppendVarint(body, v)
		}
		body = binary.BigEndian.AppendUint64(body, math.Float64bits(r.PlayoutDelayMS))
	case MsgReport:
		n := min(len(m.Reports), maxReportBlocks)
		body = AppendVarint(body, uint64(n))
		for _, r := range m.Reports[:n] {
			body = binary.BigEndian.AppendUint32(body, r.SSRC)
			body = append(body, r.FractionLost)
			for _, v := range []uint32{r.TotalLost, r.ExtendedHighestSeq, r.Jitter, r.LastSenderReport, r.Delay} {
				body = binary.BigEndian.AppendUint32(body, v)
			}
		}
	case MsgEnded, MsgError:
		body = appendString(body, m.Reason)
	}
	if len(body) > MaxControlMessage {
		return b, Wrap("protocol: encode "+m.Type+": "+strconv.Itoa(len(body))+" bytes", errControlTooLarge)
	}
	b = AppendVarint(b, uint64(len(body)))
	return append(b, body...), nil
}

func appendTracks(body []byte, tracks []TrackInfo) []byte {
	body = AppendVarint(body, uint64(len(tracks)))
	for _, tr := range tracks {
		body = appendString(body, tr.Kind)
		body = appendString(body, tr.Codec)
		body = append(body, tr.PayloadType)
		body = binary.BigEndian.AppendUint32(body, tr.SSRC)
		body = binary.BigEndian.AppendUint32(body, tr.ClockRate)
		body = binary.BigEndian.AppendUint16(body, tr.Channels)
		body = AppendVarint(body, uint64(max(tr.Width, 0)))
		body = AppendVarint(body, uint64(max(tr.Height, 0)))
	}
	return body
}

func appendString(b []byte, s string) []byte {
	return append(AppendVarint(b, uint64(len(s))), s...)
}

// WriteMessage writes m to w in one Write call.
func WriteMessage(w io.Writer, m *Message) error {
	b, err := AppendMessage(nil, m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ControlReader reads control messages from a stream.
type ControlReader struct {
	r   *bufio.Reader
	buf []byte
}

// NewControlReader returns a reader of the control messages on r.
func NewControlReader(r io.Reader) *ControlReader {
	return &ControlReader{r: bufio.NewReader(r)}
}

// Read reads the next message, skipping those of types it does not know.
// It returns io.EOF at a clean end of stream, io.ErrUnexpectedEOF for a
// message cut short, and a descriptive error for an oversized or malformed
// message (after which the stream is unusable).
func (c *ControlReader) Read() (*Message, error) {
	for {
		n, err := ReadVarint(c.r)
		if err != nil {
			return nil, err
		}
		if n > MaxControlMessage {
			return nil, Wrap("protocol: "+strconv.FormatUint(n, 10)+" bytes", errControlTooLarge)
		}
		if cap(c.buf) < int(n) {
			c.buf = make([]byte, n)
		}
		c.buf = c.buf[:n]
		if _, err := io.ReadFull(c.r, c.buf); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		m, err := ParseMessage(c.buf)
		if errors.Is(err, errControlUnknown) {
			continue // a newer relay's: its length let us pass it by
		}
		return m, err
	}
}

// ParseMessage decodes the body of one control message (type and fields,
// without the length).
func ParseMessage(body []byte) (*Message, error) {
	if len(body) == 0 {
		return nil, errControlNoType
	}
	m := &Message{Type: typeName(body[0])}
	if m.Type == "" {
		return nil, Wrap("protocol: type "+strconv.Itoa(int(body[0])), errControlUnknown)
	}
	d := decoder{b: body[1:]}
	switch m.Type {
	case MsgHello:
		m.Client = d.string()
	case MsgCatalog:
		m.Tracks = d.tracks()
	case MsgPublish:
		m.Client = d.string()
		m.Tracks = d.tracks()
	case MsgSync:
		m.Sync = &SyncReport{SSRC: d.uint32(), NTPTime: d.uint64(), RTPTime: d.uint32(), Packets: d.uint32(), Octets: d.uint32()}
	case MsgStats:
		m.Stats = &StatsReport{GroupsDropped: d.varint(), PacketsDropped: d.varint(), Viewers: uint32(min(d.varint(), 1<<32-1)),
			FramesDecoded: d.varint(), FramesRendered: d.varint(), FramesDropped: d.varint(),
			PlayoutDelayMS: math.Float64frombits(d.uint64())}
	case MsgReport:
		n := d.varint()
		if n > maxReportBlocks {
			d.err = errControlShort
			break
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			r := ReportBlock{SSRC: d.uint32()}
			r.FractionLost = d.byte()
			r.TotalLost, r.ExtendedHighestSeq, r.Jitter = d.uint32(), d.uint32(), d.uint32()
			r.LastSenderReport, r.Delay = d.uint32(), d.uint32()
			m.Reports = append(m.Reports, r)
		}
	case MsgEnded, MsgError:
		m.Reason = d.string()
	}
	if d.err != nil {
		return nil, Wrap("protocol: "+m.Type+" message", d.err)
	}
	return m, nil
}

// decoder reads fields off a message body; the first short read sets err
// and every later read returns zero.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || n > len(d.b) {
		d.err = errControlShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) tracks() []TrackInfo {
	n := d.varint()
	if n > uint64(len(d.b)) { // every track takes more than a byte
		d.err = errControlShort
		return nil
	}
	var tracks []TrackInfo
	for i := uint64(0); i < n && d.err == nil; i++ {
		t := TrackInfo{Kind: d.string(), Codec: d.string(), PayloadType: d.byte(), SSRC: d.uint32(),
			ClockRate: d.uint32(), Channels: d.uint16()}
		t.Width, t.Height = int(min(d.varint(), 1<<20)), int(min(d.varint(), 1<<20))
		tracks = append(tracks, t)
	}
	return tracks
}

func (d *decoder) byte() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) uint16() uint16 {
	if b := d.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) uint32() uint32 {
	if b := d.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) uint64() uint64 {
	if b := d.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) varint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n, err := ParseVarint(d.b)
	if err != nil {
		d.err = errControlShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.varint()
	if n > uint64(len(d.b)) {
		d.err = errControlShort
		return ""
	}
	return string(d.take(int(n)))
}
