// Package rtpvp8 splits VP8 frames into RTP payloads (RFC 7741 §4).
package rtpvp8

// descriptorSize is the payload descriptor quicast writes: X=1 with I=1 and
// a 15-bit picture ID (M=1), so every packet of every frame, the first one
// included, carries the picture ID and a receiver can tell a lost frame.
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+
//	|X|R|N|S|R| PID |  X=1, S=1 on the first packet of a frame, PID=0
//	+-+-+-+-+-+-+-+-+
//	|I|L|T|K| RSV   |  I=1
//	+-+-+-+-+-+-+-+-+
//	|M| PictureID   |  M=1: 15-bit picture ID
//	+-+-+-+-+-+-+-+-+
//	|   PictureID   |
//	+-+-+-+-+-+-+-+-+
const descriptorSize = 4

// Encoder turns frames into payloads. The zero value starts at picture ID 0.
type Encoder struct {
	pictureID uint16
}

// Encode splits frame into payloads of at most maxPayload bytes (descriptor
// included) and appends them to dst. It returns dst unchanged when
// maxPayload leaves no room for data.
func (e *Encoder) Encode(dst [][]byte, frame []byte, maxPayload int) [][]byte {
	room := maxPayload - descriptorSize
	if room <= 0 || len(frame) == 0 {
		return dst
	}
	n := (len(frame) + room - 1) / room
	// Equal-sized packets pace better than full ones and a short tail.
	size := (len(frame) + n - 1) / n
	pid := e.pictureID & 0x7fff
	for i := 0; len(frame) > 0; i++ {
		k := min(size, len(frame))
		p := make([]byte, descriptorSize+k)
		p[0] = 0x80 // X
		if i == 0 {
			p[0] |= 0x10 // S, PID 0
		}
		p[1] = 0x80 // I
		p[2] = 0x80 | byte(pid>>8)
		p[3] = byte(pid)
		copy(p[descriptorSize:], frame[:k])
		dst = append(dst, p)
		frame = frame[k:]
	}
	e.pictureID++
	return dst
}
