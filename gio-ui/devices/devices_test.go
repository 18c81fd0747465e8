package devices

import (
	"context"
	"errors"
	"image"
	"sync"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	"github.com/quicast/quicast/sender/media"
)

// fakeCamera is a mediadevices driver, registered like a real v4l2 camera.
type fakeCamera struct{}

func (fakeCamera) Open() error  { return nil }
func (fakeCamera) Close() error { return nil }
func (fakeCamera) Properties() []prop.Media {
	return []prop.Media{{Video: prop.Video{Width: 640, Height: 480, FrameFormat: "I420"}}}
}
func (fakeCamera) VideoRecord(prop.Media) (video.Reader, error) {
	return video.ReaderFunc(func() (image.Image, func(), error) {
		return image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420), func() {}, nil
	}), nil
}

type fakeMic struct{ channels int }

func (fakeMic) Open() error  { return nil }
func (fakeMic) Close() error { return nil }
func (m fakeMic) Properties() []prop.Media {
	return []prop.Media{{Audio: prop.Audio{SampleRate: 48000, ChannelCount: m.channels}}}
}
func (fakeMic) AudioRecord(prop.Media) (audio.Reader, error) { return nil, errors.New("not here") }

func register(t *testing.T, a driver.Adapter, label string, typ driver.DeviceType) {
	t.Helper()
	media.ListDevices() // scans the real drivers first: that deletes registered video drivers
	m := driver.GetManager()
	if err := m.Register(a, driver.Info{Label: label, DeviceType: typ}); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Query(func(d driver.Driver) bool { return d.Info().Label == label }) {
		t.Cleanup(func() { m.Delete(d.ID()) })
	}
}

func TestListsByFriendlyName(t *testing.T) {
	register(t, fakeCamera{}, "Integrated Camera", driver.Camera)
	register(t, fakeMic{channels: 2}, "USB Audio Device", driver.Microphone)
	register(t, fakeMic{channels: 0}, "Discard all samples (playback) or generate zero samples (capture)", driver.Microphone)
	devs, err := media.ListDevices()
	if err != nil {
		t.Fatal(err)
	}
	l := Build(devs)
	if l.Cameras[0].Label != "Integrated Camera" || l.Cameras[0].Kind != Device || l.Cameras[0].Source == "" {
		t.Errorf("cameras %+v", l.Cameras)
	}
	var mics []string
	for _, e := range l.Microphones {
		if e.Kind == Device {
			mics = append(mics, e.Label)
		}
	}
	if len(mics) != 1 || mics[0] != "USB Audio Device" {
		t.Errorf("microphones %q, want only the USB one (no 0-channel device)", mics)
	}
	src, err := media.ParseSource(l.Cameras[0].Source)
	if err != nil || src.Type != media.SourceDevice {
		t.Errorf("camera entry source %q: %v", l.Cameras[0].Source, err)
	}
}

func TestNoDeviceAvailable(t *testing.T) {
	l := Build(nil)
	for _, list := range [][]Entry{l.Cameras, l.Microphones} {
		if list[0].Kind != None || list[0].Selectable() {
			t.Fatalf("first entry %+v, want the unselectable None", list[0])
		}
		kinds := map[EntryKind]bool{}
		for _, e := range list {
			kinds[e.Kind] = true
		}
		if !kinds[Test] || !kinds[File] || kinds[Device] {
			t.Errorf("entries %+v", list)
		}
		if got := Keep(list, list[0]); got.Kind != Test {
			t.Errorf("keeping None gives %+v, want the test source", got)
		}
	}
}

func TestKeepChoice(t *testing.T) {
	cam := Entry{Kind: Device, Label: "Cam A", Source: "device:a"}
	other := Entry{Kind: Device, Label: "Cam B", Source: "device:b"}
	withBoth := Build([]media.Device{{ID: "b", Label: "Cam B"}, {ID: "a", Label: "Cam A"}}).Cameras
	if got := Keep(withBoth, cam); got != cam {
		t.Errorf("kept %+v, want %+v", got, cam)
	}
	onlyB := Build([]media.Device{{ID: "b", Label: "Cam B"}}).Cameras
	if got := Keep(onlyB, cam); got != other {
		t.Errorf("after Cam A left: %+v, want Cam B", got)
	}
	if got := Keep(Build(nil).Cameras, Entry{Kind: File}); got.Kind != File {
		t.Errorf("a file choice was lost: %+v", got)
	}
}

func TestWatcherReportsChanges(t *testing.T) {
	var mu sync.Mutex
	devs := []media.Device{{ID: "a", Label: "Cam A"}}
	var listErr error
	ticks := make(chan time.Time)
	w := &Watcher{
		List: func() ([]media.Device, error) {
			mu.Lock()
			defer mu.Unlock()
			return append([]media.Device(nil), devs...), listErr
		},
		Tick: func(time.Duration) <-chan time.Time { return ticks },
	}
	type upd struct {
		l   Lists
		err error
	}
	got := make(chan upd, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx, func(l Lists, err error) { got <- upd{l, err} }); close(done) }()
	next := func() upd {
		t.Helper()
		select {
		case u := <-got:
			return u
		case <-time.After(5 * time.Second):
			t.Fatal("no update")
		}
		return upd{}
	}
	if u := next(); u.l.Cameras[0].Label != "Cam A" {
		t.Fatalf("first update %+v", u)
	}
	ticks <- time.Now() // nothing changed: no update
	mu.Lock()
	devs = append(devs, media.Device{ID: "m", Label: "Mic", Kind: media.KindAudio})
	mu.Unlock()
	ticks <- time.Now()
	if u := next(); u.l.Microphones[0].Label != "Mic" {
		t.Fatalf("after a microphone came: %+v", u.l.Microphones)
	}
	mu.Lock()
	listErr = errors.New("v4l2 scan failed")
	mu.Unlock()
	ticks <- time.Now()
	if u := next(); u.err == nil || u.l.Microphones[0].Label != "Mic" {
		t.Fatalf("a failing scan: %+v (the lists must stay)", u)
	}
	mu.Lock()
	devs, listErr = nil, nil
	mu.Unlock()
	ticks <- time.Now()
	if u := next(); u.err != nil || u.l.Cameras[0].Kind != None {
		t.Fatalf("after every device left: %+v", u)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end with its context")
	}
	select {
	case u := <-got:
		t.Errorf("unexpected update %+v", u)
	default:
	}
}
