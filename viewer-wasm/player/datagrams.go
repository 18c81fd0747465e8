package player

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// DatagramBuffer is the layout of the buffer static/app.js quicastReadRing
// writes a session's datagrams into, in the program's own memory, for the
// player to drain at its tick (little endian):
//
//	0   uint32  bytes of records after the header
//	4   uint32  datagrams dropped for want of room, since the buffer began
//	8   8 bytes unused
//	16  records: length uint16 | arrival float64 (ms since the epoch) | bytes
const (
	DatagramHeader = 16 // bytes before the first record
	datagramRecord = 10 // bytes of a record before its datagram
)

// ErrDatagramBuffer reports records that do not fit the bytes the header
// says were written: the rest of the buffer is left out.
var ErrDatagramBuffer = errors.New("datagram buffer: a record runs past what was written")

// DrainDatagrams calls fn with each datagram in buf (a copy of its bytes,
// which fn may keep) and its arrival, in the order written, then marks the
// buffer empty. It returns how many datagrams the writer dropped so far.
func DrainDatagrams(buf []byte, fn func(b []byte, arrival time.Time)) (dropped int, err error) {
	if len(buf) < DatagramHeader {
		return 0, ErrDatagramBuffer
	}
	end := DatagramHeader + int(binary.LittleEndian.Uint32(buf[0:]))
	dropped = int(binary.LittleEndian.Uint32(buf[4:]))
	if end > len(buf) {
		end, err = len(buf), ErrDatagramBuffer
	}
	off := DatagramHeader
	for off < end {
		if off+datagramRecord > end {
			err = ErrDatagramBuffer
			break
		}
		n := int(binary.LittleEndian.Uint16(buf[off:]))
		ms := math.Float64frombits(binary.LittleEndian.Uint64(buf[off+2:]))
		if off+datagramRecord+n > end {
			err = ErrDatagramBuffer
			break
		}
		fn(bytes.Clone(buf[off+datagramRecord:off+datagramRecord+n]), time.UnixMicro(int64(math.Round(ms*1000))))
		off += datagramRecord + n
	}
	binary.LittleEndian.PutUint32(buf[0:], 0)
	return dropped, err
}

// AppendDatagram writes one record as quicastReadRing does: for tests,
// and the reference for the JavaScript side. It reports false, counting a
// drop, when buf has no room left.
func AppendDatagram(buf, b []byte, arrival time.Time) bool {
	w := int(binary.LittleEndian.Uint32(buf[0:]))
	at := DatagramHeader + w
	if at+datagramRecord+len(b) > len(buf) {
		binary.LittleEndian.PutUint32(buf[4:], binary.LittleEndian.Uint32(buf[4:])+1)
		return false
	}
	binary.LittleEndian.PutUint16(buf[at:], uint16(len(b)))
	binary.LittleEndian.PutUint64(buf[at+2:], math.Float64bits(float64(arrival.UnixMicro())/1000))
	copy(buf[at+datagramRecord:], b)
	binary.LittleEndian.PutUint32(buf[0:], uint32(w+datagramRecord+len(b)))
	return true
}
