package media

import (
	"fmt"
	"image"
	"strings"
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/driver/camera"
	_ "github.com/pion/mediadevices/pkg/driver/microphone" // registers the system microphones (malgo)
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

// Device is a camera or microphone found by the system drivers.
type Device struct {
	ID    string // stable for the process; use with "device:ID"
	Label string // the friendly name the OS gives
	Kind  Kind
}

var cameraInit sync.Once

// ListDevices returns the cameras and microphones present now. Devices
// that cannot capture (malgo's "null" playback device, anything with no
// format) are left out.
func ListDevices() ([]Device, error) {
	// camera.Initialize deletes every registered video driver and scans
	// v4l2 again; once per process, before anything of ours is registered.
	cameraInit.Do(camera.Initialize)
	var out []Device
	for _, d := range driver.GetManager().Query(func(driver.Driver) bool { return true }) {
		info := d.Info()
		var k Kind
		switch info.DeviceType {
		case driver.Camera:
			k = KindVideo
		case driver.Microphone:
			k = KindAudio
		default:
			continue
		}
		if !usable(d, k) {
			continue
		}
		out = append(out, Device{ID: d.ID(), Label: info.Label, Kind: k})
	}
	return out, nil
}

// usable reports whether d offers a format we can encode. malgo lists a
// "null" device with 0 channels on machines without sound hardware, and the
// Opus encoder panics on it.
func usable(d driver.Driver, k Kind) bool {
	if k == KindAudio && strings.Contains(strings.ToLower(d.Info().Label), "null") {
		return false
	}
	return bestProp(d, k, Options{}.withDefaults()) != nil
}

func bestProp(d driver.Driver, k Kind, o Options) *prop.Media {
	wasClosed := d.Status() == driver.StateClosed
	if wasClosed {
		if err := d.Open(); err != nil {
			return nil
		}
		defer d.Close()
	}
	var best *prop.Media
	bestScore := -1
	for _, p := range d.Properties() {
		p := p
		if k == KindAudio {
			if p.ChannelCount > 0 && p.SampleRate > 0 {
				return &p
			}
			continue
		}
		if p.Width <= 0 || p.Height <= 0 {
			continue
		}
		// Prefer the size closest to the request, then the frame rate.
		score := 1 << 30
		score -= abs(p.Width-o.Width)*abs(p.Height-o.Height) + abs(p.Width-o.Width) + abs(p.Height-o.Height)
		if best == nil || score > bestScore {
			best, bestScore = &p, score
		}
	}
	return best
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// openDevice finds a camera or microphone by ID or label.
func openDevice(clk *Clock, name string, kind Kind, o Options) (rawSource, error) {
	devs, _ := ListDevices()
	var found []string
	for _, dv := range devs {
		if dv.Kind != kind {
			continue
		}
		found = append(found, fmt.Sprintf("%q (%s)", dv.Label, dv.ID))
		if dv.ID != name && dv.Label != name && name != "default" {
			continue
		}
		d := driver.GetManager().Query(driver.FilterID(dv.ID))
		if len(d) == 0 {
			break
		}
		return &deviceSource{clk: clk, d: d[0], kind: kind, opts: o}, nil
	}
	what := "camera"
	if kind == KindAudio {
		what = "microphone"
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("no %s found on this machine (device:%s)", what, name)
	}
	return nil, fmt.Errorf("no %s %q; found: %s", what, name, strings.Join(found, ", "))
}

// deviceSource is a real capture device; media time is the instant a frame
// or chunk leaves the driver.
type deviceSource struct {
	clk  *Clock
	d    driver.Driver
	kind Kind
	opts Options
	p    *prop.Media

	mu sync.Mutex
	mt time.Duration
}

func (s *deviceSource) label() string { return s.d.Info().Label }

func (s *deviceSource) Open() error {
	if s.d.Status() == driver.StateClosed {
		if err := s.d.Open(); err != nil {
			return fmt.Errorf("%s is busy or gone: %w", s.label(), err)
		}
	}
	return nil
}

func (s *deviceSource) Close() error { return s.d.Close() }

func (s *deviceSource) Properties() []prop.Media {
	if s.p == nil {
		s.p = bestProp(s.d, s.kind, s.opts)
	}
	if s.p == nil {
		return nil
	}
	return []prop.Media{*s.p}
}

func (s *deviceSource) stamp() {
	s.mu.Lock()
	s.mt = s.clk.Now()
	s.mu.Unlock()
}

func (s *deviceSource) mediaTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mt
}

func (s *deviceSource) VideoRecord(p prop.Media) (video.Reader, error) {
	rec, ok := s.d.(driver.VideoRecorder)
	if !ok {
		return nil, fmt.Errorf("%s is not a camera", s.label())
	}
	r, err := rec.VideoRecord(p)
	if err != nil {
		return nil, err
	}
	return video.ReaderFunc(func() (image.Image, func(), error) {
		img, release, err := r.Read()
		s.stamp()
		if err != nil {
			return nil, release, fmt.Errorf("%s stopped: %w", s.label(), err)
		}
		// The encoder wants I420.
		return img, release, nil
	}), nil
}

func (s *deviceSource) AudioRecord(p prop.Media) (audio.Reader, error) {
	rec, ok := s.d.(driver.AudioRecorder)
	if !ok {
		return nil, fmt.Errorf("%s is not a microphone", s.label())
	}
	r, err := rec.AudioRecord(p)
	if err != nil {
		return nil, err
	}
	return audio.ReaderFunc(func() (wave.Audio, func(), error) {
		a, release, err := r.Read()
		s.stamp()
		if err != nil {
			return nil, release, fmt.Errorf("%s stopped: %w", s.label(), err)
		}
		return a, release, nil
	}), nil
}
