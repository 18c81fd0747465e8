// Package vp8enc is a VP8 encoder (RFC 6386) on libvpx configured for live
// video: real-time deadline, a high cpu-used, no lag, error-resilient
// partitions, threads, constant bitrate with a bounded keyframe size so a
// keyframe does not burst the network, and its configuration set once, not
// per frame. It plugs into pion/mediadevices as a codec.ReadCloser.
//
// pion/mediadevices' own VP8 wrapper reconfigures libvpx for every frame
// and has no speed setting: measured on a 2-core machine, 1280×720 at 30 fps
// ran at ~22 fps using 92 % of a core. BenchmarkEncode compares both.
package vp8enc

/*
#cgo pkg-config: vpx
#include <stdlib.h>
#include <string.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vp8cx.h>

static vpx_codec_iface_t *vp8_iface(void) { return vpx_codec_vp8_cx(); }

static vpx_codec_err_t init_encoder(vpx_codec_ctx_t *ctx, vpx_codec_enc_cfg_t *cfg) {
	return vpx_codec_enc_init(ctx, vpx_codec_vp8_cx(), cfg, 0);
}

static vpx_codec_err_t control_int(vpx_codec_ctx_t *ctx, int id, int v) {
	return vpx_codec_control_(ctx, id, v);
}

static vpx_codec_err_t encode_planes(vpx_codec_ctx_t *ctx, int w, int h,
		unsigned char *y, int ys, unsigned char *u, unsigned char *v, int cs,
		vpx_codec_pts_t pts, unsigned long duration, vpx_enc_frame_flags_t flags) {
	vpx_image_t img;
	memset(&img, 0, sizeof img);
	img.fmt = VPX_IMG_FMT_I420;
	img.w = img.d_w = (unsigned)w;
	img.h = img.d_h = (unsigned)h;
	img.x_chroma_shift = img.y_chroma_shift = 1;
	img.bit_depth = 8;
	img.bps = 12;
	img.planes[VPX_PLANE_Y] = y;
	img.planes[VPX_PLANE_U] = u;
	img.planes[VPX_PLANE_V] = v;
	img.stride[VPX_PLANE_Y] = ys;
	img.stride[VPX_PLANE_U] = cs;
	img.stride[VPX_PLANE_V] = cs;
	return vpx_codec_encode(ctx, &img, pts, duration, flags, VPX_DL_REALTIME);
}

// next_frame returns the next compressed frame packet, or NULL.
static const vpx_codec_cx_pkt_t *next_frame(vpx_codec_ctx_t *ctx, vpx_codec_iter_t *iter) {
	const vpx_codec_cx_pkt_t *p;
	while ((p = vpx_codec_get_cx_data(ctx, iter)) != NULL) {
		if (p->kind == VPX_CODEC_CX_FRAME_PKT) return p;
	}
	return NULL;
}
static void *pkt_buf(const vpx_codec_cx_pkt_t *p) { return p->data.frame.buf; }
static size_t pkt_size(const vpx_codec_cx_pkt_t *p) { return p->data.frame.sz; }
static int pkt_key(const vpx_codec_cx_pkt_t *p) { return (p->data.frame.flags & VPX_FRAME_IS_KEY) != 0; }
static int pkt_droppable(const vpx_codec_cx_pkt_t *p) { return (p->data.frame.flags & VPX_FRAME_IS_DROPPABLE) != 0; }

// Encode flags of a non-reference frame: it updates none of the three
// reference buffers nor the entropy contexts, so the frames after it decode
// the same without it.
static vpx_enc_frame_flags_t non_reference_flags(void) {
	return VP8_EFLAG_NO_UPD_LAST | VP8_EFLAG_NO_UPD_GF | VP8_EFLAG_NO_UPD_ARF | VP8_EFLAG_NO_UPD_ENTROPY;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
)

// Config is the encoder's setting. The zero value of each field but Width
// and Height means the default.
type Config struct {
	Width, Height int           // pixels (even)
	FPS           float64       // frames per second; default 30
	Bitrate       int           // bit/s; default 1 000 000
	KeyInterval   time.Duration // the longest time between keyframes; default 2 s
	// CPUUsed trades quality for speed, 0..16 (VP8E_SET_CPUUSED; libvpx
	// takes it negative for real time); default 10.
	CPUUsed int
	// Threads encode the frame's partitions in parallel; default 1 up to
	// 1280×720 (measured: a second thread there costs 50 % more CPU for no
	// gain in time), else the machine's CPUs, at most 4.
	Threads int
	// MaxKeyframePct caps a keyframe at this percentage of an average
	// frame's bits (VP8E_SET_MAX_INTRA_BITRATE_PCT), so it leaves in a
	// burst the network takes; default 300.
	MaxKeyframePct int
	// Layers is the number of temporal layers: 2 (the default) makes
	// every other frame a non-reference frame (libvpx's droppable frame,
	// RFC 7741's N bit), which a receiver that falls behind decodes
	// without — half the frame rate instead of a wait for the next
	// keyframe — for a little of the picture's quality at the bitrate
	// (each reference frame is predicted from two frames back); 1 makes
	// every frame a reference.
	Layers int
}

// Errors.
var (
	ErrSize   = errors.New("vp8enc: frame size must be even and at least 16×16")
	ErrClosed = errors.New("vp8enc: closed")
)

// Encoder encodes the frames of a video.Reader. Read returns one encoded
// frame per raw frame (empty when libvpx dropped one to hold the bitrate).
// It is safe for concurrent use: ForceKeyFrame and SetBitRate may come from
// another goroutine than Read.
type Encoder struct {
	r    video.Reader
	cfg  Config
	ctx  *C.vpx_codec_ctx_t
	ccfg *C.vpx_codec_enc_cfg_t

	mu       sync.Mutex
	forceKey bool
	bitrate  int // wanted, bit/s
	applied  int // in libvpx's configuration
	closed   bool
	start    time.Time
	last     C.vpx_codec_pts_t
	out      []byte
	keyframe bool
	nonRef   bool         // the last frame out is a non-reference frame
	sinceKey int          // frames since the last keyframe
	conv     *image.YCbCr // frames converted to 4:2:0, reused
}

var _ codec.ReadCloser = (*Encoder)(nil)

// New makes an encoder of the frames r returns.
func New(r video.Reader, cfg Config) (*Encoder, error) {
	if cfg.Width < 16 || cfg.Height < 16 || cfg.Width%2 != 0 || cfg.Height%2 != 0 {
		return nil, fmt.Errorf("%w: %d×%d", ErrSize, cfg.Width, cfg.Height)
	}
	if cfg.FPS <= 0 {
		cfg.FPS = 30
	}
	if cfg.Bitrate <= 0 {
		cfg.Bitrate = 1_000_000
	}
	if cfg.KeyInterval <= 0 {
		cfg.KeyInterval = 2 * time.Second
	}
	if cfg.CPUUsed <= 0 || cfg.CPUUsed > 16 {
		cfg.CPUUsed = 10
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
		if cfg.Width*cfg.Height > 1280*720 {
			cfg.Threads = min(runtime.NumCPU(), 4)
		}
	}
	if cfg.MaxKeyframePct <= 0 {
		cfg.MaxKeyframePct = 300
	}
	if cfg.Layers <= 0 || cfg.Layers > 2 {
		cfg.Layers = 2
	}
	e := &Encoder{r: r, cfg: cfg, bitrate: cfg.Bitrate, applied: cfg.Bitrate}
	e.ccfg = (*C.vpx_codec_enc_cfg_t)(C.calloc(1, C.sizeof_vpx_codec_enc_cfg_t))
	e.ctx = (*C.vpx_codec_ctx_t)(C.calloc(1, C.sizeof_vpx_codec_ctx_t))
	if rc := C.vpx_codec_enc_config_default(C.vp8_iface(), e.ccfg, 0); rc != C.VPX_CODEC_OK {
		e.free()
		return nil, fmt.Errorf("vp8enc: default configuration: %s", C.GoString(C.vpx_codec_err_to_string(rc)))
	}
	c := e.ccfg
	c.g_w, c.g_h = C.uint(cfg.Width), C.uint(cfg.Height)
	c.g_timebase.num, c.g_timebase.den = 1, 90000 // pts in RTP video ticks
	c.g_threads = C.uint(cfg.Threads)
	c.g_lag_in_frames = 0                               // every frame out at once
	c.g_error_resilient = C.VPX_ERROR_RESILIENT_DEFAULT // a lost frame does not spoil the ones after it
	c.g_pass = C.VPX_RC_ONE_PASS
	c.rc_end_usage = C.VPX_CBR
	c.rc_target_bitrate = C.uint(cfg.Bitrate / 1000)
	c.rc_min_quantizer, c.rc_max_quantizer = 4, 56
	c.rc_undershoot_pct, c.rc_overshoot_pct = 95, 15
	c.rc_buf_sz, c.rc_buf_initial_sz, c.rc_buf_optimal_sz = 1000, 500, 600 // ms
	c.rc_dropframe_thresh = 25                                             // drop a frame rather than overshoot a congested budget
	c.kf_mode = C.VPX_KF_AUTO
	c.kf_min_dist = 0
	c.kf_max_dist = C.uint(max(1, int(cfg.KeyInterval.Seconds()*cfg.FPS)))
	if rc := C.init_encoder(e.ctx, e.ccfg); rc != C.VPX_CODEC_OK {
		e.free()
		return nil, fmt.Errorf("vp8enc: init: %s", C.GoString(C.vpx_codec_err_to_string(rc)))
	}
	for _, ctl := range []struct {
		id C.int
		v  int
	}{
		{C.VP8E_SET_CPUUSED, -cfg.CPUUsed}, // negative: real-time speed setting
		{C.VP8E_SET_STATIC_THRESHOLD, 1},
		{C.VP8E_SET_NOISE_SENSITIVITY, 0},
		{C.VP8E_SET_TOKEN_PARTITIONS, tokenPartitions(cfg.Threads)},
		{C.VP8E_SET_MAX_INTRA_BITRATE_PCT, cfg.MaxKeyframePct},
	} {
		if rc := C.control_int(e.ctx, ctl.id, C.int(ctl.v)); rc != C.VPX_CODEC_OK {
			C.vpx_codec_destroy(e.ctx)
			e.free()
			return nil, fmt.Errorf("vp8enc: control %d: %s", ctl.id, C.GoString(C.vpx_codec_err_to_string(rc)))
		}
	}
	return e, nil
}

// tokenPartitions is log2 of the partitions libvpx codes in parallel.
func tokenPartitions(threads int) int {
	switch {
	case threads >= 8:
		return 3
	case threads >= 4:
		return 2
	case threads >= 2:
		return 1
	}
	return 0
}

func (e *Encoder) free() {
	C.free(unsafe.Pointer(e.ccfg))
	C.free(unsafe.Pointer(e.ctx))
	e.ccfg, e.ctx = nil, nil
}

// Read encodes the next frame of the reader. The returned bytes are the
// encoder's buffer, valid until the next Read (mediadevices' callers copy
// what they keep before asking for more); release does nothing.
func (e *Encoder) Read() ([]byte, func(), error) {
	img, release, err := e.r.Read()
	if err != nil {
		return nil, func() {}, err
	}
	defer release()
	data, _, err := e.encode(img, time.Now())
	return data, func() {}, err
}

// Encode encodes one frame captured at t, of the configured size, and
// reports whether the result is a keyframe; the bytes are the caller's. An
// empty result means libvpx dropped the frame to keep to the bitrate.
// Frames other than 4:2:0 YCbCr (a camera's 4:2:2, RGB) are converted
// first.
func (e *Encoder) Encode(img image.Image, t time.Time) ([]byte, bool, error) {
	data, key, err := e.encode(img, t)
	return append([]byte(nil), data...), key, err
}

// encode is Encode into the encoder's own buffer.
func (e *Encoder) encode(img image.Image, t time.Time) ([]byte, bool, error) {
	if b := img.Bounds(); b.Dx() != e.cfg.Width || b.Dy() != e.cfg.Height {
		return nil, false, fmt.Errorf("%w: frame %d×%d, encoder %d×%d", ErrSize, b.Dx(), b.Dy(), e.cfg.Width, e.cfg.Height)
	}
	y, ok := img.(*image.YCbCr)
	if !ok || y.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		e.conv = toI420(img, e.conv)
		y = e.conv
	}
	b := y.Bounds()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, false, io.EOF
	}
	if e.bitrate != e.applied {
		e.ccfg.rc_target_bitrate = C.uint(max(1, e.bitrate/1000))
		if rc := C.vpx_codec_enc_config_set(e.ctx, e.ccfg); rc != C.VPX_CODEC_OK {
			return nil, false, fmt.Errorf("vp8enc: bitrate %d: %s", e.bitrate, C.GoString(C.vpx_codec_err_to_string(rc)))
		}
		e.applied = e.bitrate
	}
	if e.start.IsZero() {
		e.start = t
	}
	pts := C.vpx_codec_pts_t(t.Sub(e.start).Seconds() * 90000)
	if pts <= e.last && e.last != 0 {
		pts = e.last + 1 // libvpx wants increasing timestamps
	}
	dur := C.ulong(90000 / e.cfg.FPS)
	var flags C.vpx_enc_frame_flags_t
	if e.forceKey {
		flags |= C.VPX_EFLAG_FORCE_KF
	} else if e.cfg.Layers == 2 && e.sinceKey%2 == 1 {
		flags |= C.non_reference_flags()
	}
	yo, co := y.YOffset(b.Min.X, b.Min.Y), y.COffset(b.Min.X, b.Min.Y)
	rc := C.encode_planes(e.ctx, C.int(b.Dx()), C.int(b.Dy()),
		(*C.uchar)(unsafe.Pointer(&y.Y[yo])), C.int(y.YStride),
		(*C.uchar)(unsafe.Pointer(&y.Cb[co])), (*C.uchar)(unsafe.Pointer(&y.Cr[co])), C.int(y.CStride),
		pts, dur, flags)
	runtime.KeepAlive(y)
	if rc != C.VPX_CODEC_OK {
		return nil, false, fmt.Errorf("vp8enc: encode: %s", C.GoString(C.vpx_codec_err_to_string(rc)))
	}
	e.forceKey = false
	e.last = pts
	e.out, e.keyframe, e.nonRef = e.out[:0], false, false
	var iter C.vpx_codec_iter_t
	for p := C.next_frame(e.ctx, &iter); p != nil; p = C.next_frame(e.ctx, &iter) {
		e.out = append(e.out, unsafe.Slice((*byte)(C.pkt_buf(p)), int(C.pkt_size(p)))...)
		e.keyframe = e.keyframe || C.pkt_key(p) != 0
		e.nonRef = C.pkt_droppable(p) != 0
	}
	switch {
	case e.keyframe:
		e.sinceKey = 1
	case len(e.out) > 0:
		e.sinceKey++
	}
	return e.out, e.keyframe, nil
}

// NonReference reports whether the last frame encoded is a non-reference
// frame (libvpx's VPX_FRAME_IS_DROPPABLE): no later frame is predicted
// from it (Config.Layers).
func (e *Encoder) NonReference() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nonRef && !e.keyframe
}

// ForceKeyFrame makes the next frame a keyframe (on a PLI).
func (e *Encoder) ForceKeyFrame() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.forceKey = true
	return nil
}

// SetBitRate changes the target bitrate (bit/s) from the next frame on.
func (e *Encoder) SetBitRate(bps int) error {
	if bps <= 0 {
		return fmt.Errorf("vp8enc: bitrate %d", bps)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bitrate = bps
	return nil
}

// Controller returns the encoder itself: a codec.KeyFrameController and a
// codec.BitRateController.
func (e *Encoder) Controller() codec.EncoderController { return e }

// Close releases libvpx. Reads after Close return io.EOF.
func (e *Encoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	C.vpx_codec_destroy(e.ctx)
	e.free()
	return nil
}

// toI420 converts img to 4:2:0 YCbCr in dst (reused when its size fits):
// chroma averaged over each 2×2 block (BT.601, as image/color).
func toI420(img image.Image, dst *image.YCbCr) *image.YCbCr {
	b := img.Bounds()
	if dst == nil || dst.Rect.Dx() != b.Dx() || dst.Rect.Dy() != b.Dy() {
		dst = image.NewYCbCr(image.Rect(0, 0, b.Dx(), b.Dy()), image.YCbCrSubsampleRatio420)
	}
	for y := 0; y < b.Dy(); y += 2 {
		for x := 0; x < b.Dx(); x += 2 {
			var cb, cr int
			for dy := range 2 {
				for dx := range 2 {
					yy, u, v := ycbcrAt(img, b.Min.X+x+dx, b.Min.Y+y+dy)
					dst.Y[(y+dy)*dst.YStride+x+dx] = yy
					cb += int(u)
					cr += int(v)
				}
			}
			i := (y/2)*dst.CStride + x/2
			dst.Cb[i], dst.Cr[i] = uint8((cb+2)/4), uint8((cr+2)/4)
		}
	}
	return dst
}

func ycbcrAt(img image.Image, x, y int) (uint8, uint8, uint8) {
	if yc, ok := img.(*image.YCbCr); ok {
		c := yc.YCbCrAt(x, y)
		return c.Y, c.Cb, c.Cr
	}
	r, g, b, _ := img.At(x, y).RGBA()
	return color.RGBToYCbCr(uint8(r>>8), uint8(g>>8), uint8(b>>8))
}
