package protocol

import (
	"errors"
	"strconv"
)

// DatagramBundle is the first byte of a QUIC datagram that carries several
// audio RTP packets. A datagram whose first byte is 128–191 (RTP version 2)
// is one RTP packet as it is.
//
// Wire format (varints per RFC 9000 §16):
//
//	+------------+--------------------------------------------+
//	| type=0x00  | packet ...                                 |
//	|  1 byte    |                                            |
//	+------------+--------------------------------------------+
//	packet := length (varint, 12..MaxPacket) | RTP packet (length bytes)
//
// The relay bundles only what has already waited in a viewer's queue (a
// busy relay catches up with one datagram instead of several), so bundling
// never holds a packet back.
const DatagramBundle = 0x00

var errDatagram = errors.New("protocol: bad datagram")

// AppendBundle appends to b a bundle datagram of pkts (RTP packets, each
// at least 12 bytes).
func AppendBundle(b []byte, pkts ...[]byte) []byte {
	b = append(b, DatagramBundle)
	for _, p := range pkts {
		b = AppendPacket(b, p)
	}
	return b
}

// SplitDatagram calls fn with each RTP packet of datagram d, in order: d
// itself when it is one RTP packet, each packet of a bundle. The slices
// alias d. It fails, having called fn for the packets before, on a
// datagram of another type, a cut or oversized packet, or one shorter than
// an RTP header or longer than MaxPacket.
func SplitDatagram(d []byte, fn func(pkt []byte)) error {
	if len(d) == 0 {
		return Detail(errDatagram, "empty")
	}
	if d[0]>>6 == 2 {
		if len(d) < 12 || len(d) > MaxPacket {
			return Detail(errDatagram, "RTP packet of "+strconv.Itoa(len(d))+" bytes")
		}
		fn(d)
		return nil
	}
	if d[0] != DatagramBundle {
		return Detail(errDatagram, "unknown type "+strconv.Itoa(int(d[0])))
	}
	for rest := d[1:]; len(rest) > 0; {
		n, w, err := ParseVarint(rest)
		if err != nil {
			return err
		}
		rest = rest[w:]
		if n < 12 || n > MaxPacket || n > uint64(len(rest)) {
			return Detail(errDatagram, "bundled packet of "+strconv.FormatUint(n, 10)+" bytes, "+strconv.Itoa(len(rest))+" left")
		}
		fn(rest[:n])
		rest = rest[n:]
	}
	return nil
}
