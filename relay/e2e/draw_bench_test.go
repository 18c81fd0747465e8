package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/relay/e2e/browser"
)

// drawPage times, in a worker as static/render.js does, the two ways of
// putting a decoded-like frame (I420 in memory, BT.601) of ?w×?h on a
// page's canvas handed over as an OffscreenCanvas: drawImage, and the
// browser's own conversion to RGB (VideoFrame.copyTo, format RGBX) with
// putImageData. window.drawCost is {draw, copy} in ms per frame, or
// {error}.
const drawPage = `<!doctype html><canvas id="c"></canvas><script>
const worker = ` + "`" + `
onmessage = async (e) => {
  const {canvas, w, h, n} = e.data;
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext('2d', {alpha: false});
  const yuv = new Uint8Array(w * h * 3 / 2);
  for (let i = 0; i < yuv.length; i++) yuv[i] = (i * 7) & 255;
  const colorSpace = {primaries: 'smpte170m', transfer: 'smpte170m', matrix: 'smpte170m', fullRange: false};
  const frame = (i) => new VideoFrame(yuv, {format: 'I420', codedWidth: w, codedHeight: h, timestamp: i, colorSpace});
  const rgba = new Uint8ClampedArray(w * h * 4), image = new ImageData(rgba, w, h);
  const time = async (put) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) { const f = frame(i); await put(f); f.close(); }
    return (performance.now() - t0) / n;
  };
  try {
    const draw = await time((f) => ctx.drawImage(f, 0, 0, w, h));
    const copy = await time(async (f) => { await f.copyTo(rgba, {format: 'RGBX'}); ctx.putImageData(image, 0, 0); });
    postMessage({draw, copy});
  } catch (err) {
    postMessage({error: String(err)});
  }
};` + "`" + `;
const p = new URLSearchParams(location.search);
const w = new Worker(URL.createObjectURL(new Blob([worker])));
w.onmessage = (e) => { window.drawCost = e.data; };
const canvas = document.getElementById('c').transferControlToOffscreen();
w.postMessage({canvas, w: +p.get('w'), h: +p.get('h'), n: 100}, [canvas]);
</script>`

// drawCost is drawPage's answer: ms per frame each way, or what failed.
type drawCost struct {
	Draw  float64 `json:"draw"`
	Copy  float64 `json:"copy"`
	Error string  `json:"error"`
}

// BenchmarkFrameDraw: what putting one decoded frame on the player's canvas
// costs in headless Chromium on this machine (no GPU), by drawImage and by
// the browser's conversion to RGB with putImageData (static/render.js keeps
// the cheaper), at the call's, a camera's and the broadcast's sizes; ms per
// frame, 100 frames each.
func BenchmarkFrameDraw(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(drawPage))
	}))
	b.Cleanup(srv.Close)
	ctx := browser.New(b)
	for b.Loop() {
		for _, size := range [][2]int{{320, 180}, {640, 480}, {1280, 720}} {
			browser.Run(b, ctx, 20*time.Second, chromedp.Navigate(fmt.Sprintf("%s/?w=%d&h=%d", srv.URL, size[0], size[1])))
			var cost drawCost
			if err := waitFor(ctx, 60*time.Second, func() (bool, error) {
				var err error
				cost, err = eval[drawCost](ctx, `window.drawCost || {}`)
				return err == nil && (cost.Draw > 0 || cost.Error != ""), err
			}); err != nil {
				b.Fatalf("%dx%d: %v", size[0], size[1], err)
			}
			if cost.Error != "" {
				b.Fatalf("%dx%d: %s", size[0], size[1], cost.Error)
			}
			name := fmt.Sprintf("%dx%d", size[0], size[1])
			b.ReportMetric(cost.Draw, "drawImage-"+name+"-ms")
			b.ReportMetric(cost.Copy, "copyTo-"+name+"-ms")
		}
	}
}
