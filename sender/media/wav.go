package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrWAV reports a WAV stream this package cannot read.
var ErrWAV = errors.New("wav")

// WAVFormat is the format of a PCM WAV stream.
type WAVFormat struct {
	SampleRate int
	Channels   int
	Bits       int // 16
}

// WAVReader reads 16-bit PCM samples from a RIFF/WAVE stream.
type WAVReader struct {
	r      *bufio.Reader
	fmt    WAVFormat
	remain int64 // bytes of the data chunk left; -1 when unknown (a pipe)
}

// NewWAVReader parses the RIFF header up to the data chunk.
func NewWAVReader(r io.Reader) (*WAVReader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: not a RIFF/WAVE file", ErrWAV)
	}
	w := &WAVReader{r: br}
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(br, ch[:]); err != nil {
			return nil, fmt.Errorf("%w: no data chunk (%v)", ErrWAV, err)
		}
		size := int64(binary.LittleEndian.Uint32(ch[4:]))
		switch string(ch[0:4]) {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, fmt.Errorf("%w: fmt chunk of %d bytes", ErrWAV, size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(br, b); err != nil {
				return nil, fmt.Errorf("%w: fmt chunk: %v", ErrWAV, err)
			}
			tag := binary.LittleEndian.Uint16(b[0:])
			w.fmt = WAVFormat{Channels: int(binary.LittleEndian.Uint16(b[2:])),
				SampleRate: int(binary.LittleEndian.Uint32(b[4:])), Bits: int(binary.LittleEndian.Uint16(b[14:]))}
			if tag != 1 && tag != 0xfffe {
				return nil, fmt.Errorf("%w: format tag 0x%x (want PCM)", ErrWAV, tag)
			}
			if w.fmt.Bits != 16 || w.fmt.Channels < 1 || w.fmt.Channels > 8 || w.fmt.SampleRate < 8000 || w.fmt.SampleRate > 192000 {
				return nil, fmt.Errorf("%w: %d-bit, %d channels, %d Hz (want 16-bit PCM, 1-8 channels, 8-192 kHz)",
					ErrWAV, w.fmt.Bits, w.fmt.Channels, w.fmt.SampleRate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data before fmt", ErrWAV)
			}
			w.remain = size
			if size == 0 || size == 0xffffffff {
				w.remain = -1 // streamed: read to EOF
			}
			return w, nil
		default:
			if _, err := br.Discard(int(size + size%2)); err != nil {
				return nil, fmt.Errorf("%w: chunk %q: %v", ErrWAV, ch[0:4], err)
			}
		}
	}
}

// Format returns the stream's format.
func (w *WAVReader) Format() WAVFormat { return w.fmt }

// Read reads up to len(dst)/Channels frames of interleaved samples scaled
// to [-1, 1) and returns how many frames it read; io.EOF at the end.
func (w *WAVReader) Read(dst []float32) (int, error) {
	frameBytes := 2 * w.fmt.Channels
	n := len(dst) / w.fmt.Channels
	if w.remain >= 0 && int64(n*frameBytes) > w.remain {
		n = int(w.remain) / frameBytes
	}
	if n == 0 {
		return 0, io.EOF
	}
	buf := make([]byte, n*frameBytes)
	got, err := io.ReadFull(w.r, buf)
	got -= got % frameBytes
	for i := 0; i < got/2; i++ {
		dst[i] = float32(int16(binary.LittleEndian.Uint16(buf[2*i:]))) / 32768
	}
	if w.remain >= 0 {
		w.remain -= int64(got)
	}
	frames := got / frameBytes
	if frames == 0 && err != nil {
		return 0, io.EOF
	}
	return frames, nil
}
