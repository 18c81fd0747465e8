package media

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"strconv"
)

// Y4M errors.
var (
	ErrY4MHeader = errors.New("y4m: bad header")
	ErrY4MFrame  = errors.New("y4m: bad frame")
)

const maxY4MDim = 8192

// Y4MHeader is the stream header of a YUV4MPEG2 file.
type Y4MHeader struct {
	Width, Height  int
	FPSNum, FPSDen int // frame rate as a ratio; 30:1 when absent
	Colorspace     string
}

// FPS returns the frame rate.
func (h Y4MHeader) FPS() float64 { return float64(h.FPSNum) / float64(h.FPSDen) }

// Y4MReader reads 4:2:0 frames of a YUV4MPEG2 stream.
type Y4MReader struct {
	r   *bufio.Reader
	hdr Y4MHeader
}

// NewY4MReader parses the stream header. Only 4:2:0 colour spaces are
// accepted (C420, C420jpeg, C420paldv, C420mpeg2, or none given).
func NewY4MReader(r io.Reader) (*Y4MReader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	line, err := readLine(br, 1024)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrY4MHeader, err)
	}
	fields := bytes.Fields(line)
	if len(fields) == 0 || string(fields[0]) != "YUV4MPEG2" {
		return nil, fmt.Errorf("%w: no YUV4MPEG2 signature", ErrY4MHeader)
	}
	h := Y4MHeader{FPSNum: 30, FPSDen: 1}
	for _, f := range fields[1:] {
		v := string(f[1:])
		switch f[0] {
		case 'W':
			h.Width, err = strconv.Atoi(v)
		case 'H':
			h.Height, err = strconv.Atoi(v)
		case 'F':
			var n, d int
			if _, err = fmt.Sscanf(v, "%d:%d", &n, &d); err == nil && (n <= 0 || d <= 0) {
				err = fmt.Errorf("frame rate %s", v)
			}
			h.FPSNum, h.FPSDen = n, d
		case 'C':
			h.Colorspace = v
		}
		if err != nil {
			return nil, fmt.Errorf("%w: field %q: %v", ErrY4MHeader, f, err)
		}
	}
	if h.Width <= 0 || h.Height <= 0 || h.Width > maxY4MDim || h.Height > maxY4MDim {
		return nil, fmt.Errorf("%w: size %dx%d", ErrY4MHeader, h.Width, h.Height)
	}
	switch h.Colorspace {
	case "", "420", "420jpeg", "420paldv", "420mpeg2":
	default:
		return nil, fmt.Errorf("%w: colour space C%s (want 4:2:0; convert with ffmpeg -pix_fmt yuv420p)", ErrY4MHeader, h.Colorspace)
	}
	return &Y4MReader{r: br, hdr: h}, nil
}

// Header returns the stream header.
func (y *Y4MReader) Header() Y4MHeader { return y.hdr }

// ReadFrame reads the next frame. It returns io.EOF at a clean end and
// ErrY4MFrame for a truncated or malformed frame.
func (y *Y4MReader) ReadFrame() (*image.YCbCr, error) {
	line, err := readLine(y.r, 1024)
	if err == io.EOF && len(line) == 0 {
		return nil, io.EOF
	}
	if err != nil || !bytes.HasPrefix(line, []byte("FRAME")) {
		return nil, fmt.Errorf("%w: no FRAME marker", ErrY4MFrame)
	}
	img := image.NewYCbCr(image.Rect(0, 0, y.hdr.Width, y.hdr.Height), image.YCbCrSubsampleRatio420)
	for _, plane := range [][]byte{img.Y, img.Cb, img.Cr} {
		if _, err := io.ReadFull(y.r, plane); err != nil {
			return nil, fmt.Errorf("%w: truncated (%v)", ErrY4MFrame, err)
		}
	}
	return img, nil
}

func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return line, err
		}
		if b == '\n' {
			return line, nil
		}
		if len(line) >= limit {
			return nil, fmt.Errorf("line longer than %d bytes", limit)
		}
		line = append(line, b)
	}
}
