package protocol

import (
	"encoding/binary"
	"errors"
	"strconv"
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

var errAppData = errors.New("protocol: relay APP packet")

// AppendViewers appends the application-dependent data of a viewer report.
func AppendViewers(b []byte, viewers uint32) []byte {
	return binary.BigEndian.AppendUint32(b, viewers)
}

// ParseViewers reads the viewer count from the data of an APP packet named
// AppName with subtype AppSubtypeViewers.
func ParseViewers(data []byte) (uint32, error) {
	if len(data) < 4 {
		return 0, Detail(errAppData, strconv.Itoa(len(data))+" bytes, want 4")
	}
	return binary.BigEndian.Uint32(data), nil
}

// The relay ends a publish session with an RTCP APP packet of subtype
// AppSubtypeEnd compounded before its BYE (RFC 3550 §6.6), so the sender
// knows whether to publish again:
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
//	|                   EndCode (unsigned, big-endian)              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const AppSubtypeEnd = 2

// EndCode says why the relay ended a publish session.
type EndCode uint32

// End codes. A sender publishes again after EndShutdown and EndExpired, and
// stops after the others: publishing again would be refused or would take
// the stream back from whoever has it now.
const (
	EndShutdown  EndCode = 1 // the relay is stopping or restarting
	EndTakenOver EndCode = 2 // another sender took the stream over
	EndRevoked   EndCode = 3 // the stream's publish key was changed
	EndRemoved   EndCode = 4 // the stream was removed
	EndExpired   EndCode = 5 // the relay heard nothing for too long
	EndFlood     EndCode = 6 // the sender kept sending far above the relay's rate cap
)

func (c EndCode) String() string {
	switch c {
	case EndShutdown:
		return "the relay is shutting down"
	case EndTakenOver:
		return "another sender took the stream over"
	case EndRevoked:
		return "the stream's publish key was changed"
	case EndRemoved:
		return "the stream was removed"
	case EndExpired:
		return "the relay heard nothing from this sender for too long"
	case EndFlood:
		return "the sender kept sending far above the relay's rate cap"
	}
	return "end code " + strconv.FormatUint(uint64(c), 10)
}

// Retry reports whether a sender should publish again after c.
func (c EndCode) Retry() bool { return c == EndShutdown || c == EndExpired }

// AppendEnd appends the application-dependent data of an end notice.
func AppendEnd(b []byte, c EndCode) []byte { return binary.BigEndian.AppendUint32(b, uint32(c)) }

// ParseEnd reads the end code from the data of an APP packet named AppName
// with subtype AppSubtypeEnd.
func ParseEnd(data []byte) (EndCode, error) {
	if len(data) < 4 {
		return 0, Detail(errAppData, "end notice of "+strconv.Itoa(len(data))+" bytes, want 4")
	}
	return EndCode(binary.BigEndian.Uint32(data)), nil
}
