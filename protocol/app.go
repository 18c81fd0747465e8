package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The relay tells the publisher how many viewers watch its stream in an
// RTCP APP packet (RFC 3550 §6.7) compounded with each receiver report,
// once a second:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|V=2|P| subtype |   PT=APP=204  |             length=3          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                     SSRC of the relay                         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                      name = "QCST"                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 viewers (unsigned, big-endian)                |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	AppName           = "QCST"
	AppSubtypeViewers = 1
)

var errAppData = errors.New("protocol: viewer report")

// AppendViewers appends the application-dependent data of a viewer report.
func AppendViewers(b []byte, viewers uint32) []byte {
	return binary.BigEndian.AppendUint32(b, viewers)
}

// ParseViewers reads the viewer count from the data of an APP packet named
// AppName with subtype AppSubtypeViewers.
func ParseViewers(data []byte) (uint32, error) {
	if len(data) < 4 {
		return 0, fmt.Errorf("%w: %d bytes, want 4", errAppData, len(data))
	}
	return binary.BigEndian.Uint32(data), nil
}
