package ui

import (
	"context"
	"errors"
	"image"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gioui.org/f32"
	"gioui.org/io/input"
	"gioui.org/io/key"
	"gioui.org/io/pointer"
	"gioui.org/io/semantic"
	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/unit"
	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/gio-ui/devices"
	"github.com/quicast/quicast/gio-ui/i18n"
	"github.com/quicast/quicast/gio-ui/internal/calltest"
	"github.com/quicast/quicast/gio-ui/netcheck"
	"github.com/quicast/quicast/gio-ui/receive"
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/relay/e2e/browser"
	"github.com/quicast/quicast/relay/relaytest"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/sender/media"
	"github.com/quicast/quicast/sender/peercall"
)

// window drives a UI through Gio's input router, as the app package does
// for a real window, without a GPU.
type window struct {
	t      *testing.T
	u      *UI
	r      input.Router
	ops    op.Ops
	size   image.Point
	wake   chan struct{}
	frames int
}

func newWindow(t *testing.T, u *UI) *window {
	w := &window{t: t, u: u, size: image.Pt(1024, 720), wake: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	wg := u.start(ctx, func() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	})
	t.Cleanup(func() {
		cancel()
		u.Shutdown()
		wg.Wait()
	})
	w.frame()
	return w
}

func (w *window) frame() {
	w.ops.Reset()
	gtx := layout.Context{Ops: &w.ops, Now: time.Now(), Source: w.r.Source(),
		Metric: unit.Metric{PxPerDp: 1, PxPerSp: 1}, Constraints: layout.Exact(w.size)}
	w.u.Layout(gtx)
	w.r.Frame(&w.ops)
	w.frames++
}

// until lays out frames, as invalidations arrive, until cond holds.
func (w *window) until(what string, d time.Duration, cond func() bool) {
	w.t.Helper()
	deadline := time.After(d)
	for {
		w.frame()
		if cond() {
			return
		}
		select {
		case <-w.wake:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			w.t.Fatalf("%s: not within %v", what, d)
		}
	}
}

func (w *window) nodes() []input.SemanticNode {
	var flat []input.SemanticNode
	var walk func(n input.SemanticNode)
	walk = func(n input.SemanticNode) {
		flat = append(flat, n)
		for _, c := range n.Children {
			walk(c)
		}
	}
	for _, n := range w.r.AppendSemantics(nil) {
		walk(n)
	}
	return flat
}

// find returns the widget labelled label: the radio button or button
// whose text it is, or the text itself.
func (w *window) find(label string) (input.SemanticNode, bool) {
	nodes := w.nodes()
	byID := map[input.SemanticID]input.SemanticNode{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	for _, n := range nodes {
		if n.Desc.Label != label {
			continue
		}
		if p, ok := byID[n.ParentID]; ok && p.Desc.Class != semantic.Unknown {
			return p, true
		}
		// A bare text's area reaches to the end of its line.
		n.Desc.Bounds.Max = n.Desc.Bounds.Min.Add(image.Pt(8, 8))
		return n, true
	}
	return input.SemanticNode{}, false
}

func (w *window) labels() []string {
	var out []string
	for _, n := range w.nodes() {
		if n.Desc.Label != "" {
			out = append(out, n.Desc.Label)
		}
	}
	return out
}

func (w *window) clickAt(p image.Point) {
	pos := f32.Pt(float32(p.X), float32(p.Y))
	w.r.Queue(
		pointer.Event{Kind: pointer.Move, Source: pointer.Mouse, Position: pos},
		pointer.Event{Kind: pointer.Press, Source: pointer.Mouse, Buttons: pointer.ButtonPrimary, Position: pos},
		pointer.Event{Kind: pointer.Release, Source: pointer.Mouse, Position: pos},
	)
	w.frame()
}

// click clicks the middle of the widget labelled label.
func (w *window) click(label string) {
	w.t.Helper()
	n, ok := w.find(label)
	if !ok {
		w.t.Fatalf("no %q in the window; labels: %q", label, w.labels())
	}
	b := n.Desc.Bounds
	w.clickAt(b.Min.Add(b.Max).Div(2))
}

// typeInto focuses the i-th text field and types s into it.
func (w *window) typeInto(i int, s string) {
	w.t.Helper()
	var eds []input.SemanticNode
	for _, n := range w.nodes() {
		if n.Desc.Class == semantic.Editor {
			eds = append(eds, n)
		}
	}
	if i >= len(eds) {
		w.t.Fatalf("%d text fields, want field %d", len(eds), i)
	}
	b := eds[i].Desc.Bounds
	w.clickAt(b.Min.Add(b.Max).Div(2))
	w.r.Queue(key.EditEvent{Text: s})
	w.frame()
}

func (w *window) selected(label string) bool {
	n, _ := w.find(label)
	return n.Desc.Selected
}

func english() *i18n.Lang { l := i18n.English; return &l }

func TestNoDeviceCannotBeSelected(t *testing.T) {
	u, err := New(Config{ConfigDir: t.TempDir(), Lang: english(), NoPreview: true,
		Watcher: &devices.Watcher{List: func() ([]media.Device, error) { return nil, nil }},
		Checker: &netcheck.Checker{Probes: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	w := newWindow(t, u)
	w.until("device lists", 5*time.Second, func() bool { _, ok := w.find("No device available"); return ok })
	if !w.selected("Test picture (built in)") {
		t.Fatal("the test picture is not the default without a camera")
	}
	w.click("No device available")
	w.click("No device available")
	if w.selected("No device available") || !w.selected("Test picture (built in)") || u.cam.cur.Kind != devices.Test {
		t.Errorf("clicking the disabled entry changed the choice to %+v", u.cam.cur)
	}
	w.click("Off")
	if u.cam.cur.Kind != devices.Disabled {
		t.Errorf("Off not chosen: %+v", u.cam.cur)
	}
	// Switching the language relabels the window.
	w.click("简体中文")
	if _, ok := w.find("没有可用的设备"); !ok || u.lang != i18n.Chinese {
		t.Errorf("after choosing Chinese: %q", w.labels())
	}
}

func startRelay(t *testing.T) (base, dir, key string) {
	t.Helper()
	r := relaytest.Start(t)
	key = r.AddStream(t, "demo")
	r.AddUser(t, "viewer", "watch it live")
	return r.URL, r.Dir, key
}

// A person picks devices, trusts the relay, starts, is watched, stops.
func TestBroadcastFromTheWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a relay, a broadcast and a browser")
	}
	wasm := filepath.Join("..", "..", "viewer-wasm", "web", "static", "main.wasm.gz")
	if _, err := os.Stat(wasm); err != nil {
		t.Skip("viewer not built (make wasm): no browser can watch")
	}
	base, _, key := startRelay(t)
	var mu sync.Mutex
	devs := []media.Device{{ID: "cam0", Label: "Integrated Camera", Kind: media.KindVideo}}
	cfgDir := t.TempDir()
	u, err := New(Config{ConfigDir: cfgDir, Lang: english(),
		Watcher: &devices.Watcher{Interval: 50 * time.Millisecond, List: func() ([]media.Device, error) {
			mu.Lock()
			defer mu.Unlock()
			return devs, nil
		}},
		Checker: &netcheck.Checker{Probes: []string{}, Interval: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	w := newWindow(t, u)
	w.until("camera listed", 5*time.Second, func() bool { _, ok := w.find("Integrated Camera"); return ok })
	if !w.selected("Integrated Camera") {
		t.Errorf("the only camera is not chosen by default: %+v (enum %q)", u.cam.cur, u.cam.group.Value)
	}
	if !w.selected("Test tone (built in)") {
		t.Errorf("no microphone here: the default is %+v, want the test tone", u.mic.cur)
	}
	// A second camera comes: the choice stays.
	mu.Lock()
	devs = append(devs, media.Device{ID: "cam1", Label: "USB Camera", Kind: media.KindVideo})
	mu.Unlock()
	w.until("second camera", 5*time.Second, func() bool { _, ok := w.find("USB Camera"); return ok })
	if !w.selected("Integrated Camera") {
		t.Error("the choice changed when a camera came")
	}
	// No real camera here: broadcast the test picture and tone.
	w.click("Test picture (built in)")
	w.click("Test tone (built in)")
	if u.cam.cur.Kind != devices.Test || u.mic.cur.Kind != devices.Test {
		t.Fatalf("choices %+v %+v", u.cam.cur, u.mic.cur)
	}
	w.click("640x480")
	w.click("15 fps")
	w.typeInto(0, base)
	w.typeInto(1, "demo")
	w.typeInto(2, key)

	// The relay's certificate comes from its own CA: the window offers to
	// pin it.
	w.until("untrusted warning", 10*time.Second, func() bool { _, ok := w.find("Trust this relay"); return ok })
	w.click("Trust this relay")
	w.until("relay trusted", 10*time.Second, func() bool {
		u.bg.mu.Lock()
		defer u.bg.mu.Unlock()
		return u.bg.net.RelayUp && !u.bg.net.Untrusted
	})
	if u.set.Pin(base) == "" {
		t.Fatal("no pin saved")
	}

	w.click("Start broadcast")
	w.until("broadcasting", 15*time.Second, func() bool {
		return u.bc != nil && u.bc.Status().State == broadcast.Live && u.bc.Status().Stats.Viewers == 0
	})
	if _, ok := w.find("Stop"); !ok {
		t.Error("no Stop button while live")
	}
	w.until("preview", 5*time.Second, func() bool { return u.bc.Preview() != nil })
	// The self view can be hidden (no frame copied) and shown again.
	w.click("Show self view")
	if u.showPreview.Value || u.bc.Preview() != nil {
		t.Fatal("self view still on after unticking it")
	}
	time.Sleep(200 * time.Millisecond) // several camera frames
	if u.bc.Preview() != nil {
		t.Error("hidden self view still gets frames")
	}
	w.click("Show self view")
	w.until("preview back", 5*time.Second, func() bool { return u.bc.Preview() != nil })

	// A browser watches: the relay reports one viewer.
	ctx := browser.New(t)
	browser.LogIn(t, ctx, base, "viewer", "watch it live")
	browser.Run(t, ctx, 20*time.Second, chromedp.Navigate(base+"/watch/demo"))
	w.until("one viewer", 20*time.Second, func() bool { return u.bc.Status().Stats.Viewers == 1 })
	// And sees and hears it: two seconds of frames decoded and shown.
	var seen browser.Stats
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := browser.PlayerStats(ctx)
		if err == nil {
			seen = s
			if s.VideoFramesRendered >= 30 && s.AudioSamplesPlayed >= 2*48000 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser does not play the broadcast: %v (err %v)", seen, err)
		}
		w.frame() // the window keeps drawing while the browser plays
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("browser: %v", seen)
	st := u.bc.Status()
	t.Logf("live: %d packets sent, %.0f fps, %.0f kbit/s video, viewers %d, %d frames laid out",
		st.Stats.Video.Packets+st.Stats.Audio.Packets, st.Stats.Video.FPS, st.Stats.Video.BitrateKbps, st.Stats.Viewers, w.frames)

	if n, _ := broadcastGoroutines(); n == 0 {
		t.Fatal("no goroutine of the sender or the broadcast while live: the count below proves nothing")
	}
	w.click("Stop")
	if u.bc != nil {
		t.Fatal("still broadcasting after Stop")
	}
	if _, ok := w.find("Start broadcast"); !ok {
		t.Error("no Start button after Stop")
	}
	// Stop returns once every goroutine of the broadcast has ended (the
	// browser's and the relay's go on).
	if n, stacks := broadcastGoroutines(); n != 0 {
		t.Errorf("%d goroutines of the sender or the broadcast still run after Stop:\n%s", n, stacks)
	}
	// The fields are remembered, the key apart with mode 0600.
	fi, err := os.Stat(filepath.Join(cfgDir, "publish-key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("publish key file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(filepath.Join(cfgDir, "settings.json"))
	if !strings.Contains(string(b), `"stream": "demo"`) || strings.Contains(string(b), key) {
		t.Errorf("settings.json:\n%s", b)
	}
}

// broadcastGoroutines counts the goroutines running code of the sender
// engine, its media sources or the window's broadcast — not the window's
// own idle self view, which reads the test picture again after a Stop.
func broadcastGoroutines() (n int, stacks string) {
	var b strings.Builder
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	for _, g := range strings.Split(b.String(), "\n\n") {
		if (strings.Contains(g, "quicast/sender.") || strings.Contains(g, "quicast/sender/media.") ||
			strings.Contains(g, "quicast/gio-ui/broadcast.")) && !strings.Contains(g, "ui.(*UI).previewLoop") {
			n++
			stacks += g + "\n\n"
		}
	}
	return n, stacks
}

// The reason the relay is unreachable is in the window's language.
func TestReasonText(t *testing.T) {
	zh := i18n.Chinese
	for _, c := range []struct {
		lang i18n.Lang
		err  error
		want string
	}{
		{i18n.English, netcheck.Reason(context.DeadlineExceeded), "no answer (timed out)"},
		{zh, netcheck.Reason(context.DeadlineExceeded), "无应答（超时）"},
		{zh, netcheck.Reason(syscall.ECONNREFUSED), "连接被拒绝（该端口上有中继服务器在运行吗？）"},
		{i18n.English, netcheck.Reason(&net.DNSError{Name: "relay.invalid", IsNotFound: true}), "host name relay.invalid not found"},
		{zh, netcheck.Reason(&net.DNSError{Name: "relay.invalid", IsNotFound: true}), "找不到主机名 relay.invalid"},
		{zh, errors.New("tls: handshake failure"), "tls: handshake failure"},
	} {
		u, err := New(Config{ConfigDir: t.TempDir(), Lang: &c.lang})
		if err != nil {
			t.Fatal(err)
		}
		if got := u.reasonText(c.err); got != c.want {
			t.Errorf("%v in %s: %q, want %q", c.err, c.lang.Code(), got, c.want)
		}
	}
}

func yOf(w *window, label string) int {
	w.t.Helper()
	n, ok := w.find(label)
	if !ok {
		w.t.Fatalf("no %q in the window; labels: %q", label, w.labels())
	}
	return n.Desc.Bounds.Min.Y
}

// Typing a relay address does not check every half-typed address, and
// the warnings that come and go do not move the form: their room is kept.
func TestFormStaysPutWhileTyping(t *testing.T) {
	u, err := New(Config{ConfigDir: t.TempDir(), Lang: english(), NoPreview: true,
		Watcher: &devices.Watcher{List: func() ([]media.Device, error) { return nil, nil }},
		Checker: &netcheck.Checker{Probes: []string{}, Interval: 50 * time.Millisecond, Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	w := newWindow(t, u)
	w.until("device lists", 5*time.Second, func() bool { _, ok := w.find("No device available"); return ok })
	camY, relayY := yOf(w, "Camera"), yOf(w, "Relay")
	addr := "https://" + closedUDP(t)
	for i := 1; i <= len(addr); i++ {
		if i == 1 {
			w.typeInto(0, addr[:1])
		} else {
			w.r.Queue(key.EditEvent{Range: key.Range{Start: i - 1, End: i - 1}, Text: addr[i-1 : i]})
		}
		w.frame() // the frame that handles the key, where a check would be asked for
		u.bg.mu.Lock()
		checking := u.bg.relay.URL
		u.bg.mu.Unlock()
		if checking != "" {
			t.Fatalf("after typing %q the window checks %q", addr[:i], checking)
		}
		if y1, y2 := yOf(w, "Camera"), yOf(w, "Relay"); y1 != camY || y2 != relayY {
			t.Fatalf("typing %q moved the form: Camera %d→%d, Relay %d→%d", addr[:i], camY, y1, relayY, y2)
		}
	}
	if got := u.relayEd.Text(); got != addr {
		t.Fatalf("typed %q, field holds %q", addr, got)
	}
	w.typeInto(1, "demo") // leaving the field checks the address
	w.until("relay warning", 10*time.Second, func() bool {
		for _, l := range w.labels() {
			if strings.HasPrefix(l, "⚠ Relay unreachable") {
				return true
			}
		}
		return false
	})
	if y1, y2 := yOf(w, "Camera"), yOf(w, "Relay"); y1 != camY || y2 != relayY {
		t.Errorf("the warning moved the form: Camera %d→%d, Relay %d→%d", camY, y1, relayY, y2)
	}
}

func closedUDP(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// The default window (1024×720 dp) shows the whole form, in English and
// in Chinese, without scrolling.
func TestFormFitsTheWindow(t *testing.T) {
	for _, l := range []i18n.Lang{i18n.English, i18n.Chinese} {
		u, err := New(Config{ConfigDir: t.TempDir(), Lang: &l, NoPreview: true,
			Watcher: &devices.Watcher{List: func() ([]media.Device, error) {
				return []media.Device{{ID: "cam0", Label: "Integrated Camera", Kind: media.KindVideo},
					{ID: "mic0", Label: "Built-in Microphone", Kind: media.KindAudio}}, nil
			}},
			Checker: &netcheck.Checker{Probes: []string{"127.0.0.1:9"}, Timeout: 200 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		w := newWindow(t, u)
		w.until("device lists", 5*time.Second, func() bool { _, ok := w.find("Integrated Camera"); return ok })
		w.until("the offline warning", 10*time.Second, func() bool {
			u.bg.mu.Lock()
			defer u.bg.mu.Unlock()
			return u.bg.haveNet && !u.bg.net.Online
		})
		start := yOf(w, l.T(i18n.Start))
		for _, label := range []string{"Integrated Camera", "Built-in Microphone", l.T(i18n.Relay), l.T(i18n.CAFile),
			"640x480", "30 fps", "2500 kbit/s"} {
			n, ok := w.find(label)
			if !ok {
				t.Errorf("%s: %q is not in view", l.Code(), label)
				continue
			}
			if b := n.Desc.Bounds; b.Max.Y > start || b.Max.X > w.size.X {
				t.Errorf("%s: %q at %v, beyond the window or under the buttons (y %d)", l.Code(), label, b, start)
			}
		}
	}
}

// A call from the window: this side joins a room with its account and
// publishes its test picture and tone into it, and watches the other
// participant (a test broadcast in the room here): their picture is
// decoded and shown, their sound played (on miniaudio's null device), and
// hanging up ends both halves.
func TestCallFromTheWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a relay and two broadcasts")
	}
	r := relaytest.Start(t)
	r.AddRoom(t, "team")
	r.AddUser(t, "me", "my password")
	r.AddUser(t, "them", "their password")

	// The relay is checked when the form's relay changes and when the
	// call loses it or gets it back, not periodically here: the
	// banner's changes below are those.
	u, w := callWindowChecking(t, time.Hour, r.URL, "team", "me", "my password", r.CAFile())
	w.click("Start call")
	if u.call == nil {
		t.Fatalf("no call: %q", u.bcErr)
	}
	// Alone in the room first: the window says so and waits.
	w.until("alone in the room", 15*time.Second, func() bool { return u.call.status().Alone })
	w.until("being alone shown", 5*time.Second, func() bool {
		return slices.ContainsFunc(w.labels(), func(l string) bool { return strings.HasPrefix(l, "Nobody else is in room team yet") })
	})
	j := calltest.Join(t, r, "team", "them", "their password")
	calltest.Publish(t, r, j.Stream, j.PublishKey, 320, 240, 15)
	w.until("their picture", 30*time.Second, func() bool {
		cs := u.call.status()
		if cs.Err != nil {
			t.Fatalf("call: %v", cs.Err)
		}
		return cs.Frames >= 15 && cs.Picture != nil
	})
	w.until("my side live", 15*time.Second, func() bool { return u.bc.Status().State == broadcast.Live })
	w.until("their sound played", 15*time.Second, func() bool {
		cs := u.call.status()
		return cs.ReceiverStats.AudioPackets > 50 && cs.Played.Read > SampleRate10ms*10
	})
	w.until("their beep on the meter", 5*time.Second, func() bool { return u.call.status().Level > -20 })
	w.until("their bitrate", 10*time.Second, func() bool { return u.call.status().Kbps > 0 })
	// Their clock is known from their first sender report on.
	w.until("their capture times", 15*time.Second, func() bool { return u.call.status().Delay != 0 })
	cs := u.call.status()
	if _, ok := w.find("Hang up"); !ok {
		t.Errorf("no Hang up button in a call: %q", w.labels())
	}
	// The call's state in place of the form, which waits for its end.
	for _, form := range []string{"Relay", "Room", "Quality", "Test picture (built in)"} {
		if _, ok := w.find(form); ok {
			t.Errorf("the form's %q shown in a call: %q", form, w.labels())
		}
	}
	if cs.Delay <= 0 || cs.Delay > 5*time.Second || cs.SpeakErr != nil {
		t.Errorf("call status %+v", cs)
	}
	t.Logf("their picture %v after their camera, %d frames; receiver %+v; playout %+v",
		cs.Delay, cs.Frames, cs.ReceiverStats, cs.Played)
	if !r.Live(t, "team.me") {
		t.Error("this side's stream is not live on the relay")
	}
	if !slices.Contains(w.labels(), "In call with them  "+fmtElapsed(u.now().Sub(cs.Started))) &&
		!slices.ContainsFunc(w.labels(), func(l string) bool { return strings.HasPrefix(l, "In call with them  ") }) {
		t.Errorf("the other participant's name not shown: %q", w.labels())
	}

	// Mute and camera off, and back.
	w.click("Mute")
	w.click("Camera off")
	if !u.bc.Muted() || !u.bc.CameraOff() {
		t.Fatalf("muted %v, camera off %v", u.bc.Muted(), u.bc.CameraOff())
	}
	// The test tone beeps once a second: a second and a bit of silence
	// after muting shows the beep is gone, not between beeps.
	w.until("silence measured", 5*time.Second, func() bool { return math.IsInf(u.bc.Level(), -1) })
	silentFrom := time.Now()
	w.until("a beep's worth of silence", 5*time.Second, func() bool {
		if !math.IsInf(u.bc.Level(), -1) {
			t.Fatalf("sound at %.1f dBFS while muted", u.bc.Level())
		}
		return time.Since(silentFrom) > 1200*time.Millisecond
	})
	if _, ok := w.find("Unmute"); !ok {
		t.Errorf("no Unmute button while muted: %q", w.labels())
	}
	w.click("Unmute")
	w.click("Camera on")
	if u.bc.Muted() || u.bc.CameraOff() {
		t.Errorf("after unmuting: muted %v, camera off %v", u.bc.Muted(), u.bc.CameraOff())
	}
	w.until("sound measured again", 5*time.Second, func() bool { return u.bc.Level() > -30 })

	// The relay stops mid-call: the call says so and keeps trying; once
	// the relay is back it reconnects by itself and their picture comes
	// again. (Stopped and started apart: restarted at once, the call may
	// have reconnected before the window was looked at.)
	r.Stop()
	w.until("the call to notice", 20*time.Second, func() bool { return u.call.status().Reconnect > 0 })
	// Shown in the next frames (until draws one before each look).
	w.until("the reconnection shown", 5*time.Second, func() bool {
		return slices.ContainsFunc(w.labels(), func(l string) bool { return strings.HasPrefix(l, "Their stream was lost: reconnecting (attempt ") })
	})
	// The banner says so too, at once rather than at the next periodic
	// check, and goes with the reconnection.
	unreachable := func() bool {
		return slices.ContainsFunc(w.labels(), func(l string) bool { return strings.Contains(l, "Relay unreachable") })
	}
	w.until("the relay unreachable in the banner", 10*time.Second, unreachable)
	r.Restart(t)
	before := u.call.status().Frames
	w.until("their picture again", 45*time.Second, func() bool {
		cs := u.call.status()
		if cs.Err != nil {
			t.Fatalf("call: %v", cs.Err)
		}
		return cs.Connected && cs.Frames >= before+15
	})
	w.until("the banner gone with the reconnection", 10*time.Second, func() bool { return !unreachable() })

	w.click("Hang up")
	if u.call != nil || u.bc != nil {
		t.Errorf("after hanging up: call %v, broadcast %v", u.call, u.bc)
	}
	if _, ok := w.find("Room"); !ok {
		t.Errorf("no form after the call: %q", w.labels())
	}
	w.until("my stream over", 15*time.Second, func() bool { return !r.Live(t, "team.me") })
	if u.set.Room != "team" || u.set.CallUser != "me" || u.set.Mode != modeCall {
		t.Errorf("settings kept %+v", u.set)
	}
}

// callWindow opens a window in call mode with the test picture (640×480,
// 15 fps) and tone and miniaudio's null sound device, and fills the form:
// relay, room, this side's account name and password, the relay's CA
// file.
func callWindow(t *testing.T, fields ...string) (*UI, *window) {
	t.Helper()
	return callWindowChecking(t, 200*time.Millisecond, fields...)
}

// callWindowChecking is callWindow with the relay checked every interval.
func callWindowChecking(t *testing.T, interval time.Duration, fields ...string) (*UI, *window) {
	t.Helper()
	u, err := New(Config{ConfigDir: t.TempDir(), Lang: english(), NoPreview: true,
		Watcher: &devices.Watcher{Interval: 50 * time.Millisecond, List: func() ([]media.Device, error) { return nil, nil }},
		Checker: &netcheck.Checker{Probes: []string{}, Interval: interval},
		Speaker: func(s receive.Sound) (*receive.Speaker, error) { return receive.OpenSpeaker(s, receive.BackendNull) }})
	if err != nil {
		t.Fatal(err)
	}
	w := newWindow(t, u)
	w.until("device lists", 5*time.Second, func() bool { _, ok := w.find("Test picture (built in)"); return ok })
	w.click("Call")
	if _, ok := w.find("Room"); !ok {
		t.Fatalf("no call fields in call mode: %q", w.labels())
	}
	w.click("Test picture (built in)")
	w.click("Test tone (built in)")
	w.click("640x480")
	w.click("15 fps")
	for i, s := range fields {
		w.typeInto(i, s)
	}
	return u, w
}

// SampleRate10ms is 10 ms of sound, in sample frames.
const SampleRate10ms = receive.SampleRate / 100

// Two windows call each other through a relay, as two people would: each
// joins the same room with its own account and publishes its test picture
// and tone into it; each sees the other's picture and plays the other's
// sound.
func TestTwoWindowsCallEachOther(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a relay and two calls")
	}
	r := relaytest.Start(t)
	r.AddRoom(t, "team")
	r.AddUser(t, "alice", "alice's password")
	r.AddUser(t, "bob", "bob's password")
	type side struct {
		u *UI
		w *window
	}
	var sides []side
	for _, me := range []string{"alice", "bob"} {
		u, w := callWindow(t, r.URL, "team", me, me+"'s password", r.CAFile())
		w.click("Start call")
		if u.call == nil {
			t.Fatalf("%s: no call: %q", me, u.bcErr)
		}
		sides = append(sides, side{u, w})
	}
	for i, s := range sides {
		name := []string{"alice", "bob"}[i]
		s.w.until(name+" sees and hears the other", 30*time.Second, func() bool {
			// Both windows run, as on two screens: each starts sending
			// once it has joined, in its own frames.
			for _, o := range sides {
				if o != s {
					o.w.frame()
				}
			}
			cs := s.u.call.status()
			if cs.Err != nil {
				t.Fatalf("%s: %v", name, cs.Err)
			}
			return cs.Frames >= 15 && cs.ReceiverStats.AudioPackets > 50 && cs.Played.Read > 0
		})
		cs := s.u.call.status()
		t.Logf("%s: %d frames of the other, picture %v behind their camera, sound %v buffered, %d audio packets",
			name, cs.Frames, cs.Delay, cs.Buffered, cs.ReceiverStats.AudioPackets)
	}
	for _, s := range sides {
		s.w.click("Hang up")
	}
	for _, name := range []string{"alice", "bob"} {
		sides[0].w.until(name+"'s stream over", 15*time.Second, func() bool { return !r.Live(t, "team."+name) })
	}
}

// directWindow opens a window in call mode, direct (LAN), with the test
// picture (320×240 is not offered: 640×480, 15 fps) and tone and
// miniaudio's null sound device; its own direct-call listener is up.
func directWindow(t *testing.T, name string) (*UI, *window) {
	t.Helper()
	u, w := callWindow(t)
	w.click("Direct (LAN)")
	w.typeInto(2, name)
	w.until("taking direct calls", 5*time.Second, func() bool { return u.lan != nil || u.lanErr != nil })
	if u.lanErr != nil {
		t.Fatal(u.lanErr)
	}
	return u, w
}

// frameAll runs a frame of every window, as on two screens.
func frameAll(ws ...*window) {
	for _, w := range ws {
		w.frame()
	}
}

// Two windows call each other directly, without a relay, as two people on
// a LAN would: bob's window shows its address and a code; alice types
// them; bob's window rings with her name and he answers; each sees the
// other's picture and plays the other's sound; alice hangs up and bob's
// window says so. A wrong code is refused, and a caller who gives up
// leaves a missed call.
func TestDirectCallBetweenWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("two windows in a call")
	}
	bu, bw := directWindow(t, "bob")
	au, aw := directWindow(t, "alice")
	ls := bu.lan.status()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ls.Port))
	if !slices.ContainsFunc(bw.labels(), func(l string) bool {
		return strings.HasPrefix(l, "Calls to you: ") && strings.Contains(l, ls.Code[:3]+" "+ls.Code[3:])
	}) {
		t.Errorf("bob's window does not show its code: %q", bw.labels())
	}

	// A wrong code: refused, and it says so.
	wrong := "000000"
	if ls.Code == wrong {
		wrong = "111111"
	}
	aw.typeInto(0, addr)
	aw.typeInto(1, wrong)
	aw.click("Start call")
	aw.until("the wrong code refused", 15*time.Second, func() bool { frameAll(bw); return au.call == nil && au.bcErr != "" })
	if !strings.Contains(au.bcErr, "wrong call code") {
		t.Errorf("wrong code: %q", au.bcErr)
	}

	// The right one rings; bob answers.
	au.peerCodeEd.SetText(ls.Code[:3] + " " + ls.Code[3:]) // as shown, with its space
	aw.click("Start call")
	bw.until("bob's window rings", 15*time.Second, func() bool { frameAll(aw); _, ok := bw.find("alice is calling"); return ok })
	bw.click("Answer")
	for _, s := range []struct {
		name string
		u    *UI
		w    *window
		o    *window
	}{{"alice", au, aw, bw}, {"bob", bu, bw, aw}} {
		s.w.until(s.name+" sees and hears the other", 30*time.Second, func() bool {
			frameAll(s.o)
			if s.u.call == nil {
				t.Fatalf("%s: the call ended: %q", s.name, s.u.bcErr)
			}
			cs := s.u.call.status()
			return cs.Frames >= 15 && cs.ReceiverStats.AudioPackets > 50 && s.u.bc != nil && s.u.bc.Status().State == broadcast.Live
		})
		cs := s.u.call.status()
		t.Logf("%s: %d frames of the other, %v behind their camera, %d audio packets", s.name, cs.Frames, cs.Delay, cs.ReceiverStats.AudioPackets)
	}
	if !slices.ContainsFunc(bw.labels(), func(l string) bool { return strings.HasPrefix(l, "In call with alice  ") }) {
		t.Errorf("bob's window does not name alice: %q", bw.labels())
	}
	// The network state from the other side's receiver reports.
	for _, w := range []*window{aw, bw} {
		w.until("the round trip shown", 15*time.Second, func() bool {
			frameAll(aw, bw)
			return slices.ContainsFunc(w.labels(), func(l string) bool {
				return strings.HasPrefix(l, "round trip ") && !strings.HasPrefix(l, "round trip –")
			})
		})
	}
	aw.click("Hang up")
	bw.until("bob's call over", 15*time.Second, func() bool { return bu.call == nil && bu.bc == nil })
	if !strings.Contains(bu.callEnded, "hung up") || bu.bcErr != "" {
		t.Errorf("bob's window after alice hung up: ended %q, error %q", bu.callEnded, bu.bcErr)
	}
	if _, ok := bw.find("Call ended"); !ok {
		t.Errorf("bob's window does not say the call ended: %q", bw.labels())
	}

	// Carol calls and gives up before bob answers: a missed call.
	ctx, cancel := context.WithCancel(t.Context())
	go peercall.Dial(ctx, addr, ls.Code, "carol", peercall.NewMedia(9, true, true))
	bw.until("carol rings", 15*time.Second, func() bool { _, ok := bw.find("carol is calling"); return ok })
	cancel()
	bw.until("a missed call", 15*time.Second, func() bool {
		return slices.ContainsFunc(bw.labels(), func(l string) bool { return strings.HasPrefix(l, "Missed call from carol at ") })
	})
}

// Calling a person from the window, through the relay: bob's window waits
// for calls ("Ring me here"); alice, alone in room team, calls him by name;
// his window rings with her name and the room; he answers, which joins the
// room; each sees the other, and alice's window says bob answered.
func TestCallAPersonFromTheWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a relay and two calls")
	}
	r := relaytest.Start(t)
	r.AddRoom(t, "team")
	r.AddUser(t, "alice", "alice's password")
	r.AddUser(t, "bob", "bob's password")
	bu, bw := callWindow(t, r.URL, "", "bob", "bob's password", r.CAFile())
	bw.click("Ring me here when someone calls me on this relay")
	bw.until("bob's window waiting for calls", 15*time.Second, func() bool {
		return bu.ringer != nil && bu.ringer.waiting()
	})
	au, aw := callWindow(t, r.URL, "team", "alice", "alice's password", r.CAFile())
	aw.click("Start call")
	aw.until("alice alone in the room", 15*time.Second, func() bool {
		frameAll(bw)
		return au.call != nil && au.call.status().Alone && au.bc != nil
	})
	au.inviteEd.SetText("bob")
	aw.click("Ring")
	bw.until("bob's window rings", 30*time.Second, func() bool {
		frameAll(aw)
		_, ok := bw.find("alice is calling you to room team")
		return ok
	})
	bw.click("Answer")
	for _, s := range []struct {
		name string
		u    *UI
		w, o *window
	}{{"alice", au, aw, bw}, {"bob", bu, bw, aw}} {
		s.w.until(s.name+" sees the other", 30*time.Second, func() bool {
			frameAll(s.o)
			if s.u.call == nil {
				t.Fatalf("%s: no call: %q", s.name, s.u.bcErr)
			}
			cs := s.u.call.status()
			return cs.Frames >= 15 && cs.ReceiverStats.AudioPackets > 50
		})
	}
	if bu.set.Room != "team" {
		t.Errorf("bob answered into room %q", bu.set.Room)
	}
	aw.until("alice told bob answered", 10*time.Second, func() bool {
		_, ok := aw.find("bob answered and is joining")
		return ok
	})
}

// A call of three from the window: two others in the room (test
// broadcasts), each watched in its own session, their pictures in a grid
// with their names, their sound mixed onto the one speaker; one leaves
// and the call goes on with the other.
func TestCallOfThree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a relay and three broadcasts")
	}
	r := relaytest.Start(t)
	r.AddRoom(t, "team")
	r.AddUser(t, "me", "my password")
	others := map[string]*broadcast.Broadcast{}
	for _, who := range []string{"ann", "bob"} {
		r.AddUser(t, who, who+"'s password")
		j := calltest.Join(t, r, "team", who, who+"'s password")
		others[who] = calltest.Publish(t, r, j.Stream, j.PublishKey, 320, 240, 15)
	}

	u, w := callWindow(t, r.URL, "team", "me", "my password", r.CAFile())
	w.click("Start call")
	if u.call == nil {
		t.Fatalf("no call: %q", u.bcErr)
	}
	w.until("both seen and heard", 45*time.Second, func() bool {
		cs := u.call.status()
		if cs.Err != nil {
			t.Fatalf("call: %v", cs.Err)
		}
		if len(cs.Parties) != 2 {
			return false
		}
		for _, p := range cs.Parties {
			if p.Frames < 15 || p.Picture == nil || p.Played.Read < SampleRate10ms*50 {
				return false
			}
		}
		return true
	})
	cs := u.call.status()
	for _, p := range cs.Parties {
		t.Logf("%s: %d frames (%d of %d captured shown, %d freezes), picture %v behind their camera, %+v",
			p.Them, p.Frames, p.FramesShown, p.FramesExpected, p.Freezes, p.Delay, p.Played)
		// Shown: the frames the window drew (each the latest when it was
		// drawn), of those received.
		if p.FramesShown < 1 || p.FramesShown > p.Frames {
			t.Errorf("%s: %d frames shown, %d received", p.Them, p.FramesShown, p.Frames)
		}
	}
	if n := u.call.mix.Inputs(); n != 2 {
		t.Errorf("%d sounds mixed, want 2", n)
	}
	if names := []string{cs.Parties[0].Them, cs.Parties[1].Them}; !slices.Contains(names, "ann") || !slices.Contains(names, "bob") {
		t.Errorf("parties %q, want ann and bob", names)
	}
	// Each speaks (the test tone beeps once a second): each is heard.
	for _, who := range []string{"ann", "bob"} {
		w.until(who+"'s beep", 10*time.Second, func() bool {
			for _, p := range u.call.status().Parties {
				if p.Them == who && p.Level > speakingLevel {
					return true
				}
			}
			return false
		})
	}
	w.until("the grid's names and the state", 5*time.Second, func() bool {
		l := w.labels()
		return slices.Contains(l, "ann") && slices.Contains(l, "bob") &&
			slices.ContainsFunc(l, func(s string) bool {
				return strings.HasPrefix(s, "In call with ann, bob") || strings.HasPrefix(s, "In call with bob, ann")
			})
	})
	// Their frames are converted as wide as the grid's tiles, not wider.
	w.until("pictures the tiles' size", 10*time.Second, func() bool {
		for _, p := range u.call.status().Parties {
			if p.Picture == nil {
				return false
			}
			if pw := u.call.pictureWidth(p.Picture.Bounds()); pw >= maxPictureWidth {
				t.Fatalf("pictures converted %d pixels wide in a grid of three", pw)
			} else if p.Picture.Bounds().Dx() > pw {
				return false
			}
		}
		return true
	})

	// bob leaves: the call goes on with ann, heard alone.
	others["bob"].Stop()
	w.until("bob gone", 20*time.Second, func() bool {
		cs := u.call.status()
		return len(cs.Parties) == 1 && cs.Them == "ann" && u.call.mix.Inputs() == 1
	})
	before := u.call.status().Frames
	w.until("ann still seen", 15*time.Second, func() bool {
		cs := u.call.status()
		return cs.Connected && cs.Frames >= before+15 && cs.Reconnect == 0
	})
	w.click("Hang up")
	w.until("my stream over", 15*time.Second, func() bool { return !r.Live(t, "team.me") })
}

// callWithThem starts a relay with room team, where "them" broadcasts the
// test picture and tone, and a call (not a window) of "me" in it with
// cfg's speaker and echo setting; the call ends with the test.
func callWithThem(t *testing.T, cfg callConfig) (*relaytest.Relay, *call) {
	t.Helper()
	r := relaytest.Start(t)
	r.AddRoom(t, "team")
	r.AddUser(t, "me", "my password")
	r.AddUser(t, "them", "their password")
	j := calltest.Join(t, r, "team", "them", "their password")
	calltest.Publish(t, r, j.Stream, j.PublishKey, 320, 240, 15)
	cfg.Relay, cfg.CAFile, cfg.Room, cfg.User, cfg.Password = r.URL, r.CAFile(), "team", "me", "my password"
	c := startCall(cfg, func() {})
	t.Cleanup(c.stop)
	return r, c
}

// pollCall waits up to 30 s for cond, failing at once if the call fails.
func pollCall(t *testing.T, c *call, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if cs := c.status(); cs.Err != nil {
			t.Fatal(cs.Err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s: %+v", what, c.status().partyStatus)
		}
		sleepCtx(context.Background(), 50*time.Millisecond)
	}
}

// Without a sound output the call says so and goes on with the pictures,
// the sound still taken on time (the null device): its playout delay is
// known and the pictures keep their lip-sync.
func TestCallWithoutSpeaker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a relay and a broadcast")
	}
	noDevice := errors.New("no playback device")
	_, c := callWithThem(t, callConfig{Speaker: func(receive.Sound) (*receive.Speaker, error) { return nil, noDevice }})
	pollCall(t, c, "seen and played without a speaker", func() bool {
		cs := c.status()
		return cs.Frames >= 15 && cs.Played.Read > SampleRate10ms*50 && cs.SoundDelay > 0
	})
	cs := c.status()
	if !errors.Is(cs.SpeakErr, noDevice) {
		t.Errorf("speaker error %v, want %v", cs.SpeakErr, noDevice)
	}
	t.Logf("%d frames, sound %v behind their microphone, %+v", cs.Frames, cs.SoundDelay, cs.Played)
}

// With echo cancellation the call's canceller sits between the two
// halves: what the speaker takes from the mix is its reference, and the
// broadcast's microphone sound goes through it before the encoder.
func TestCallEchoCanceller(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a relay and two broadcasts")
	}
	r, c := callWithThem(t, callConfig{Echo: true,
		Speaker: func(s receive.Sound) (*receive.Speaker, error) { return receive.OpenSpeaker(s, receive.BackendNull) }})
	if c.echo == nil {
		t.Fatal("no echo canceller")
	}
	var j protocol.RoomJoin
	pollCall(t, c, "joined", func() bool { var ok bool; j, ok = c.joined(); return ok })
	bc := broadcast.Start(broadcast.Config{
		PublishConfig: sender.PublishConfig{Relay: r.URL, Stream: j.Stream, Key: j.PublishKey, CAFile: r.CAFile(), Takeover: true},
		Video:         media.Source{Type: media.SourceTest}, Audio: media.Source{Type: media.SourceTest},
		Options: media.Options{Width: 320, Height: 240, FPS: 15, Echo: c.echoCapture()},
	})
	defer bc.Stop()
	pollCall(t, c, "their sound played and mine captured through the canceller", func() bool {
		return c.status().Played.Read > SampleRate10ms*200 && c.echo.Stats().Frames > 200
	})
	s := c.echo.Stats()
	t.Logf("echo canceller: %+v; played %+v", s, c.status().Played)
	if s.FarMissing > s.Frames/2 {
		t.Errorf("%d of %d captured frames had no speaker sound to compare with: the speaker's sound does not reach the canceller", s.FarMissing, s.Frames)
	}
	if !r.Live(t, "team.me") {
		t.Error("my stream is not live")
	}
}
