package protocol

import (
	"errors"
	"io"
	"strconv"
)

// MaxVarint is the largest value a QUIC variable-length integer can carry
// (2^62-1, RFC 9000 §16).
const MaxVarint = 1<<62 - 1

var (
	errVarintTooLarge = errors.New("protocol: varint value exceeds 2^62-1")
	errShortVarint    = errors.New("protocol: short varint")
)

// AppendVarint appends v as a QUIC variable-length integer (RFC 9000 §16):
// the two most significant bits of the first byte give the length (1, 2, 4 or
// 8 bytes), the rest is v in network byte order. It panics if v > MaxVarint.
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+------
//	|LEN| value ...
//	+-+-+-+-+-+-+-+-+------
func AppendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, byte(v>>8)|0x40, byte(v))
	case v < 1<<30:
		return append(b, byte(v>>24)|0x80, byte(v>>16), byte(v>>8), byte(v))
	case v <= MaxVarint:
		return append(b, byte(v>>56)|0xc0, byte(v>>48), byte(v>>40), byte(v>>32),
			byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		panic(errVarintTooLarge)
	}
}

// VarintLen returns the number of bytes AppendVarint uses for v (1, 2, 4 or 8).
func VarintLen(v uint64) int {
	switch {
	case v < 1<<6:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<30:
		return 4
	default:
		return 8
	}
}

// ParseVarint decodes a QUIC variable-length integer from the start of b and
// returns it with the number of bytes it took. It fails with a wrapped
// errShortVarint when b is too short.
func ParseVarint(b []byte) (v uint64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, Detail(errShortVarint, "0 bytes")
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0, Detail(errShortVarint, strconv.Itoa(len(b))+" < "+strconv.Itoa(n)+" bytes")
	}
	v = uint64(b[0] & 0x3f)
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n, nil
}

// ReadVarint reads one QUIC variable-length integer from r. It returns io.EOF
// only when r is at its end before the first byte; a varint cut short gives
// io.ErrUnexpectedEOF.
func ReadVarint(r io.ByteReader) (uint64, error) {
	first, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	n := 1 << (first >> 6)
	v := uint64(first & 0x3f)
	for i := 1; i < n; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		v = v<<8 | uint64(c)
	}
	return v, nil
}
