package protocol

import (
	"bufio"
	"errors"
	"io"
	"strconv"
)

// StreamTypeVideoGroup is the first byte of a unidirectional stream that
// carries one video group of pictures.
const StreamTypeVideoGroup = 0x01

// MaxPacket is the largest RTP packet accepted on a group stream, in bytes.
const MaxPacket = 1500

var (
	errUnknownStream = errors.New("protocol: unknown stream type")
	errPacketSize    = errors.New("protocol: bad packet length")
)

// GroupHeader opens a video group stream. A group starts at a keyframe and
// holds every RTP packet up to the next keyframe, in sequence number order, so
// a viewer that joins or falls behind can start decoding at the first packet
// of any group, and a late group can be cancelled without touching the next.
//
// Wire format of the whole unidirectional stream (varints per RFC 9000 §16):
//
//	+-----------+---------------+-----------+-------------------+
//	| type=0x01 | SSRC (varint) | group ID  | packets ...       |
//	|  1 byte   |               | (varint)  |                   |
//	+-----------+---------------+-----------+-------------------+
//	packet := length (varint, 1..MaxPacket) | RTP packet (length bytes)
//
// The group ID counts the groups of one stream from 0, so a viewer can tell
// a skipped group. The stream ends with a clean FIN after the last packet of
// the group; a reset means the relay dropped the rest of the group.
type GroupHeader struct {
	SSRC  uint32
	Group uint64
}

// AppendGroupHeader appends the stream header for h to b.
func AppendGroupHeader(b []byte, h GroupHeader) []byte {
	b = append(b, StreamTypeVideoGroup)
	b = AppendVarint(b, uint64(h.SSRC))
	return AppendVarint(b, h.Group)
}

// AppendPacket appends one length-prefixed RTP packet to b.
func AppendPacket(b, pkt []byte) []byte {
	b = AppendVarint(b, uint64(len(pkt)))
	return append(b, pkt...)
}

// GroupReader reads one video group stream.
type GroupReader struct {
	r      *bufio.Reader
	header GroupHeader
}

// NewGroupReader reads the stream header from r and returns a reader of the
// packets that follow.
func NewGroupReader(r io.Reader) (*GroupReader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 16<<10)
	}
	t, err := br.ReadByte()
	if err != nil {
		return nil, Wrap("protocol: group header", err)
	}
	if t != StreamTypeVideoGroup {
		return nil, Detail(errUnknownStream, "0x"+strconv.FormatUint(uint64(t), 16))
	}
	ssrc, err := ReadVarint(br)
	if err != nil {
		return nil, Wrap("protocol: group header", noEOF(err))
	}
	if ssrc > 0xffffffff {
		return nil, errors.New("protocol: group header: SSRC " + strconv.FormatUint(ssrc, 10) + " out of range")
	}
	g, err := ReadVarint(br)
	if err != nil {
		return nil, Wrap("protocol: group header", noEOF(err))
	}
	return &GroupReader{r: br, header: GroupHeader{SSRC: uint32(ssrc), Group: g}}, nil
}

// Header returns the stream's header.
func (g *GroupReader) Header() GroupHeader { return g.header }

// ReadPacket reads the next RTP packet into buf (grown if needed) and returns
// it. It returns io.EOF after the last packet of a cleanly ended group.
func (g *GroupReader) ReadPacket(buf []byte) ([]byte, error) {
	n, err := ReadVarint(g.r)
	if err != nil {
		return nil, err
	}
	if n == 0 || n > MaxPacket {
		return nil, Detail(errPacketSize, strconv.FormatUint(uint64(n), 10)+" (want 1.."+strconv.Itoa(MaxPacket)+")")
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(g.r, buf); err != nil {
		return nil, noEOF(err)
	}
	return buf, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
