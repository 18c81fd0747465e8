package protocol

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
)

var (
	errControlTooLarge = errors.New("protocol: control message too large")
	errControlNoType   = errors.New("protocol: control message without type")
)

// Message is one control message. Only the fields of its Type are set.
//
// On the wire each message is a QUIC varint length (RFC 9000 §16) followed
// by that many bytes of UTF-8 JSON:
//
//	+-------------------+---------------------------+
//	| length (varint)   | JSON object (length bytes)|
//	+-------------------+---------------------------+
type Message struct {
	Type   string       `json:"type"`
	Client string       `json:"client,omitempty"`
	Tracks []TrackInfo  `json:"tracks,omitempty"`
	Sync   *SyncReport  `json:"sync,omitempty"`
	Stats  *StatsReport `json:"stats,omitempty"`
	Reason string       `json:"reason,omitempty"`
}

// TrackInfo describes one track of a stream to a viewer.
type TrackInfo struct {
	Kind        string `json:"kind"`  // "video" or "audio"
	Codec       string `json:"codec"` // W3C WebCodecs codec string: "vp8", "opus"
	PayloadType uint8  `json:"pt"`
	SSRC        uint32 `json:"ssrc"`
	ClockRate   uint32 `json:"clockRate"`          // Hz
	Channels    uint16 `json:"channels,omitempty"` // audio
	Width       int    `json:"width,omitempty"`    // pixels, video, as announced by the sender
	Height      int    `json:"height,omitempty"`
}

// SyncReport carries the timing part of an RTCP sender report (RFC 3550
// §6.4.1): the sender's wall clock NTP (64-bit NTP format) at which the track
// SSRC's RTP clock read RTPTime.
type SyncReport struct {
	SSRC    uint32 `json:"ssrc"`
	NTPTime uint64 `json:"ntp"`
	RTPTime uint32 `json:"rtp"`
	Packets uint32 `json:"packets"`
	Octets  uint32 `json:"octets"`
}

// StatsReport is a small set of counters exchanged for diagnostics.
type StatsReport struct {
	// Relay → viewer.
	GroupsDropped  uint64 `json:"groupsDropped,omitempty"`
	PacketsDropped uint64 `json:"packetsDropped,omitempty"`
	Viewers        uint32 `json:"viewers,omitempty"` // watching the stream now, this viewer included
	// Viewer → relay.
	FramesDecoded  uint64  `json:"framesDecoded,omitempty"`
	FramesRendered uint64  `json:"framesRendered,omitempty"`
	FramesDropped  uint64  `json:"framesDropped,omitempty"`
	PlayoutDelayMS float64 `json:"playoutDelayMs,omitempty"`
}

// AppendMessage appends the wire form of m to b.
func AppendMessage(b []byte, m *Message) ([]byte, error) {
	if m.Type == "" {
		return b, errControlNoType
	}
	js, err := json.Marshal(m)
	if err != nil {
		return b, fmt.Errorf("protocol: encode %s message: %w", m.Type, err)
	}
	if len(js) > MaxControlMessage {
		return b, fmt.Errorf("%w: %d > %d bytes", errControlTooLarge, len(js), MaxControlMessage)
	}
	b = AppendVarint(b, uint64(len(js)))
	return append(b, js...), nil
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

// Read reads the next message. It returns io.EOF at a clean end of stream,
// io.ErrUnexpectedEOF for a message cut short, and a descriptive error for an
// oversized or malformed message (after which the stream is unusable).
func (c *ControlReader) Read() (*Message, error) {
	n, err := ReadVarint(c.r)
	if err != nil {
		return nil, err
	}
	if n > MaxControlMessage {
		return nil, fmt.Errorf("%w: %d > %d bytes", errControlTooLarge, n, MaxControlMessage)
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
	return ParseMessage(c.buf)
}

// ParseMessage decodes the JSON body of one control message.
func ParseMessage(js []byte) (*Message, error) {
	var m Message
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("protocol: bad control message: %w", err)
	}
	if m.Type == "" {
		return nil, errControlNoType
	}
	return &m, nil
}
