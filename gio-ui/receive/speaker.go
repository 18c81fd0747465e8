package receive

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// Speaker plays a Sound (a Playout, a Mixer) on an audio output device
// (miniaudio through malgo: PulseAudio or ALSA on Linux, WASAPI on
// Windows, Core Audio on macOS — the library the microphone is read
// with), at 48 kHz stereo, pulling sound on the device's own clock.
type Speaker struct {
	ctx  *malgo.AllocatedContext
	dev  *malgo.Device
	once sync.Once
	err  error
}

// BackendNull is miniaudio's null output device: it pulls sound on a timer
// and plays it nowhere (machines without a sound card, tests). malgo's own
// constant of that name is miniaudio's custom backend: its list lacks
// ma_backend_custom, which comes just before ma_backend_null.
const BackendNull = malgo.BackendNull + 1

// OpenSpeaker starts playing p on the default output device of the first
// of backends that works (none given: the system's, in miniaudio's order).
func OpenSpeaker(p Sound, backends ...malgo.Backend) (*Speaker, error) {
	ctx, err := malgo.InitContext(backends, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, fmt.Errorf("audio output: %w", err)
	}
	cfg := malgo.DefaultDeviceConfig(malgo.Playback)
	cfg.Playback.Format = malgo.FormatS16
	cfg.Playback.Channels = Channels
	cfg.SampleRate = SampleRate
	cfg.PeriodSizeInMilliseconds = 10
	dev, err := malgo.InitDevice(ctx.Context, cfg, malgo.DeviceCallbacks{
		Data: func(out, _ []byte, frames uint32) {
			n := int(frames) * Channels
			if len(out) < 2*n || n == 0 {
				return
			}
			p.Read(unsafe.Slice((*int16)(unsafe.Pointer(&out[0])), n))
		},
	})
	if err != nil {
		_ = ctx.Uninit()
		ctx.Free()
		return nil, fmt.Errorf("audio output: %w", err)
	}
	if err := dev.Start(); err != nil {
		dev.Uninit()
		_ = ctx.Uninit()
		ctx.Free()
		return nil, fmt.Errorf("audio output: %w", err)
	}
	return &Speaker{ctx: ctx, dev: dev}, nil
}

// Close stops playing and frees the device; later calls do nothing.
func (s *Speaker) Close() error {
	s.once.Do(func() {
		s.err = s.dev.Stop()
		s.dev.Uninit()
		s.err = errors.Join(s.err, s.ctx.Uninit())
		s.ctx.Free()
	})
	return s.err
}
