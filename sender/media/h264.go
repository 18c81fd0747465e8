package media

import (
	"bytes"
	"math"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/openh264"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// NewH264Encoder returns an H.264 encoder of r's w×h frames: OpenH264
// (through pion/mediadevices, with its bundled static library) set up for
// live video: the real-time camera usage, constant
// bitrate, an IDR (with SPS and PPS before it) every KeyframeInterval, and
// no frame skipping of its own — the source already leaves out frames the
// encoder is late for. It writes constrained baseline (no B-frames, so no
// reordering delay), which every WebCodecs H.264 decoder plays.
func NewH264Encoder(r video.Reader, w, h int, o Options) (codec.ReadCloser, error) {
	p, err := openh264.NewParams()
	if err != nil {
		return nil, err
	}
	p.BitRate = o.VideoBitrate
	p.UsageType = openh264.CameraVideoRealTime
	p.RCMode = openh264.RCBitrateMode
	p.EnableFrameSkip = false
	p.IntraPeriod = uint(max(1, math.Round(o.KeyframeInterval.Seconds()*o.FPS)))
	return p.BuildVideoEncoder(r, prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: float32(o.FPS)}})
}

// hasIDR reports whether an H.264 access unit in Annex B format holds an
// IDR slice (NAL unit type 5): a keyframe.
func hasIDR(au []byte) bool {
	for {
		i := bytes.Index(au, []byte{0, 0, 1})
		if i < 0 || i+3 >= len(au) {
			return false
		}
		if au[i+3]&0x1f == 5 {
			return true
		}
		au = au[i+3:]
	}
}
