// quicast rendering worker: draws the video frames the player chose onto
// the page's canvas (an OffscreenCanvas handed over once), off the page's
// main thread, which must stay free to feed the audio worklet on time.
//
// In:  {canvas: OffscreenCanvas}, then {frame: VideoFrame, id} per frame
//      (the frame is transferred and closed here).
// Out: {id, shown, flash} per frame: shown is when drawing finished
//      (performance.timeOrigin + performance.now(), ms since the epoch);
//      flash is whether the test source's white flash is on the picture
//      (a pixel at (w/2, h/10) near white: its colour bars never are).
let canvas = null, ctx = null;
onmessage = (e) => {
  const m = e.data;
  if (m.canvas) {
    canvas = m.canvas;
    ctx = canvas.getContext('2d', {alpha: false});
    return;
  }
  const f = m.frame;
  if (!f) return;
  if (!ctx) { f.close(); return; }
  const w = f.displayWidth, h = f.displayHeight;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  ctx.drawImage(f, 0, 0, w, h);
  f.close();
  const px = ctx.getImageData(w >> 1, (h / 10) | 0, 1, 1).data;
  postMessage({id: m.id, shown: performance.timeOrigin + performance.now(),
    flash: px[0] > 225 && px[1] > 225 && px[2] > 225});
};
