// quicast rendering worker: draws the video frames the player chose onto
// the page's canvas (an OffscreenCanvas handed over once), off the page's
// main thread, which must stay free to feed the audio worklet on time.
//
// In:  {canvas: OffscreenCanvas}, then {frame: VideoFrame, id} per frame
//      (the frame is transferred and closed here).
// Out: {id, shown, flash, copied} per frame, in the order they came: shown
//      is when drawing finished (performance.timeOrigin + performance.now(),
//      ms since the epoch); flash is whether the test source's white flash
//      is on the picture (a pixel at (w/2, h/10) near white: its colour bars
//      never are); copied whether it went by copyTo (below), not drawImage.
//
// Two ways to put a frame on the canvas, and the cheaper is kept for each
// picture size, timed over the first frames of each: drawImage, or the
// frame converted to RGB by the browser itself (W3C WebCodecs
// VideoFrame.copyTo with format RGBX, in the frame's colour space as
// drawImage converts it) and put on the canvas as is. Without a GPU,
// Chromium 156's drawImage of a frame took 2.6-3.4 ms at 320×180, 6-10 ms
// at 640×480 and 16-19 ms at 1280×720 (half a core at 30 frames a
// second); the conversion and putImageData 0.3, 0.7 and 1.4-1.8 ms
// (relay/e2e BenchmarkFrameDraw). Where
// the frames are in GPU memory, drawImage on an accelerated canvas is the
// cheap one, and copying them out is not.
let canvas = null, ctx = null;
const trial = 8; // frames each way is timed before choosing
let cost = null; // {draw: [ms, frames], copy: [ms, frames]} for the current size
let canCopy = true, rgba = null, image = null;
const queue = [];
let running = false;

onmessage = (e) => {
  const m = e.data;
  if (m.canvas) {
    canvas = m.canvas;
    ctx = canvas.getContext('2d', {alpha: false});
    return;
  }
  if (!m.frame) return;
  if (!ctx) { m.frame.close(); return; }
  queue.push(m);
  if (!running) pump();
};

// pump shows the queued frames one after the other (copying a frame out
// of GPU memory would finish later than it began).
async function pump() {
  running = true;
  while (queue.length) await show(queue.shift());
  running = false;
}

async function show(m) {
  const f = m.frame;
  const w = f.displayWidth, h = f.displayHeight;
  if (canvas.width !== w || canvas.height !== h || !cost) {
    canvas.width = w; canvas.height = h;
    cost = {draw: [0, 0], copy: [0, 0]};
  }
  const t0 = performance.now();
  let flash = false;
  // The copy is as large as the visible picture: only when it is the
  // picture's display size too (no aspect ratio to stretch it to).
  const vr = f.visibleRect;
  let way = canCopy && vr && vr.width === w && vr.height === h ? choose() : 'draw';
  if (way === 'copy') {
    try {
      if (!rgba || rgba.length !== w * h * 4) {
        rgba = new Uint8ClampedArray(w * h * 4);
        image = new ImageData(rgba, w, h);
      }
      await f.copyTo(rgba, {format: 'RGBX'});
      ctx.putImageData(image, 0, 0);
      const i = (((h / 10) | 0) * w + (w >> 1)) * 4;
      flash = rgba[i] > 225 && rgba[i + 1] > 225 && rgba[i + 2] > 225;
    } catch (err) {
      canCopy = false; // no RGB conversion in this browser
      way = 'draw';
    }
  }
  if (way === 'draw') {
    ctx.drawImage(f, 0, 0, w, h);
    const px = ctx.getImageData(w >> 1, (h / 10) | 0, 1, 1).data;
    flash = px[0] > 225 && px[1] > 225 && px[2] > 225;
  }
  f.close();
  const now = performance.now();
  const c = cost[way];
  if (c[1] < trial) { c[0] += now - t0; c[1]++; }
  postMessage({id: m.id, shown: performance.timeOrigin + now, flash, copied: way === 'copy'});
}

// choose says which way the next frame goes: each in turn until both were
// timed, then the cheaper.
function choose() {
  const d = cost.draw, c = cost.copy;
  if (d[1] < trial) return 'draw';
  if (c[1] < trial) return 'copy';
  return c[0] / c[1] < d[0] / d[1] ? 'copy' : 'draw';
}
