// Package h264 decodes H.264 pictures for the desktop's native viewer with
// FFmpeg's libavcodec (ITU-T H.264; the access units in Annex B byte stream
// format, as protocol/rtph264 reassembles them from RTP, RFC 6184).
//
// OpenH264, which the sender encodes with, is linked into quicast
// statically by pion/mediadevices in another version than the system's
// shared library, whose internal symbols are all exported: both in one
// process would call into each other. libavcodec shares nothing with it.
package h264

/*
#cgo pkg-config: libavcodec libavutil
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/pixfmt.h>

// One decoder: libavcodec's context, the packet handed to it and the
// picture it gives back.
typedef struct {
	AVCodecContext *ctx;
	AVPacket *pkt;
	AVFrame *frame;
} quicast_h264;

static void quicast_h264_close(quicast_h264 *d) {
	av_frame_free(&d->frame);
	av_packet_free(&d->pkt);
	avcodec_free_context(&d->ctx);
}

static int quicast_h264_open(quicast_h264 *d) {
	const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_H264);
	if (!c) return AVERROR_DECODER_NOT_FOUND;
	d->ctx = avcodec_alloc_context3(c);
	d->pkt = av_packet_alloc();
	d->frame = av_frame_alloc();
	if (!d->ctx || !d->pkt || !d->frame) {
		quicast_h264_close(d);
		return AVERROR(ENOMEM);
	}
	// A picture out for every access unit in: one thread (frame threads
	// hold a frame back each) and no reordering wait (a real-time
	// sender's stream has no B-frames).
	d->ctx->thread_count = 1;
	d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
	int err = avcodec_open2(d->ctx, c, NULL);
	if (err < 0) quicast_h264_close(d);
	return err;
}

// quicast_h264_decode decodes one access unit (size bytes followed by
// AV_INPUT_BUFFER_PADDING_SIZE zeros): 0 with a picture in d->frame, 1
// without one, a negative AVERROR on failure.
static int quicast_h264_decode(quicast_h264 *d, uint8_t *data, int size) {
	d->pkt->data = data;
	d->pkt->size = size;
	int err = avcodec_send_packet(d->ctx, d->pkt); // copies the data: not reference-counted
	d->pkt->data = NULL;
	d->pkt->size = 0;
	if (err < 0) return err;
	err = avcodec_receive_frame(d->ctx, d->frame);
	if (err == AVERROR(EAGAIN)) return 1;
	return err;
}

static int quicast_h264_yuv420(const quicast_h264 *d) {
	int f = d->frame->format;
	return f == AV_PIX_FMT_YUV420P || f == AV_PIX_FMT_YUVJ420P;
}

static void quicast_h264_error(int err, char *buf, size_t n) { av_strerror(err, buf, n); }
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"unsafe"
)

// ErrNoPicture is what Decode returns for an access unit that gave no
// picture (parameter sets alone).
var ErrNoPicture = errors.New("h264: no picture in this access unit")

// Decoder decodes one H.264 stream. It is not safe for concurrent use.
type Decoder struct {
	d   C.quicast_h264
	buf []byte // the access unit, padded as libavcodec reads past its end
}

// NewDecoder returns a decoder, or an error when libavcodec has no H.264
// decoder.
func NewDecoder() (*Decoder, error) {
	d := &Decoder{}
	if err := C.quicast_h264_open(&d.d); err < 0 {
		return nil, fmt.Errorf("h264: libavcodec: %w", avError(err))
	}
	return d, nil
}

// Decode decodes access unit au (Annex B) and returns its picture, 4:2:0,
// in memory of its own; ErrNoPicture when it gave none. After an error
// the stream is only decodable again from a keyframe (IDR).
func (d *Decoder) Decode(au []byte) (*image.YCbCr, error) {
	if d.d.ctx == nil {
		return nil, errors.New("h264: decoder closed")
	}
	if len(au) == 0 {
		return nil, ErrNoPicture
	}
	n := len(au) + C.AV_INPUT_BUFFER_PADDING_SIZE
	if cap(d.buf) < n {
		d.buf = make([]byte, n, 2*n)
	}
	d.buf = d.buf[:n]
	clear(d.buf[copy(d.buf, au):])
	switch err := C.quicast_h264_decode(&d.d, (*C.uint8_t)(unsafe.Pointer(&d.buf[0])), C.int(len(au))); {
	case err == 1:
		return nil, ErrNoPicture
	case err < 0:
		return nil, fmt.Errorf("h264: decoding: %w", avError(err))
	}
	f := d.d.frame
	defer C.av_frame_unref(f)
	if C.quicast_h264_yuv420(&d.d) == 0 {
		return nil, fmt.Errorf("h264: picture in pixel format %d, not 4:2:0", int(f.format))
	}
	w, h := int(f.width), int(f.height)
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	plane(img.Y, img.YStride, f.data[0], int(f.linesize[0]), w, h)
	cw, ch := (w+1)/2, (h+1)/2
	plane(img.Cb, img.CStride, f.data[1], int(f.linesize[1]), cw, ch)
	plane(img.Cr, img.CStride, f.data[2], int(f.linesize[2]), cw, ch)
	return img, nil
}

// plane copies rows of w bytes from src (stride bytes apart) into dst.
func plane(dst []byte, dstStride int, src *C.uint8_t, stride, w, rows int) {
	s := unsafe.Slice((*byte)(unsafe.Pointer(src)), (rows-1)*stride+w)
	for y := range rows {
		copy(dst[y*dstStride:y*dstStride+w], s[y*stride:y*stride+w])
	}
}

// Close frees the decoder; Decode fails after it.
func (d *Decoder) Close() error {
	if d.d.ctx != nil {
		C.quicast_h264_close(&d.d)
	}
	return nil
}

func avError(err C.int) error {
	var buf [128]C.char
	C.quicast_h264_error(err, &buf[0], C.size_t(len(buf)))
	return errors.New(C.GoString(&buf[0]))
}
