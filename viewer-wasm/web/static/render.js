// quicast video worker: decodes a player's video and draws the frames the
// player chooses onto the page's canvas (an OffscreenCanvas handed over
// once), off the player's thread. The player's thread also plays the sound
// and, in a room, every participant's: a VideoDecoder there waits for that
// thread's turn after every frame (its output and the next chunk's
// dispatch are tasks of that thread), which on a busy machine let it fall
// seconds behind. Here its turn comes at once.
//
// In:  {canvas: OffscreenCanvas} once;
//      {configure: VideoDecoderConfig, gen, maxQueue}: (re)configure the
//        decoder (a new one after an error closed it), dropping the frames
//        held; gen tags the frames decoded from then on;
//      {reset: true, gen}: reset the decoder and drop the frames held;
//      {chunk: ArrayBuffer, key, ts}: an encoded frame, ts in µs (W3C
//        WebCodecs EncodedVideoChunk); before a keyframe after a
//        configure, reset, error or overflow, a delta frame is dropped;
//      {close: [ts…]}: frames the player will not show;
//      {show: ts, id}: draw that frame (and close it).
// Out: {decoded: ts, w, h, q, gen} per frame decoded (q: the decoder's
//        queue after it), kept here until shown or closed;
//      {full: ts}: a delta frame not decoded for the decoder's queue over
//        maxQueue — no more until a keyframe;
//      {error: message}: the decoder failed and closed;
//      {id, shown, flash} per frame drawn: shown is when drawing finished
//        (performance.timeOrigin + performance.now(), ms since the epoch);
//        flash is whether the test source's white flash is on the picture
//        (a pixel at (w/2, h/10) near white: its colour bars never are);
//      {id, missing: true}: the frame to show is no longer held.
let canvas = null, ctx = null;
let dec = null, gen = 0, maxQueue = 16, needKey = true;
const frames = new Map(); // ts → VideoFrame decoded, in decoding order
const maxFrames = 64;     // held at most, should the player lose count

const closeAll = () => {
  for (const f of frames.values()) f.close();
  frames.clear();
};

const newDecoder = () => new VideoDecoder({
  output(f) {
    const old = frames.get(f.timestamp);
    if (old) old.close();
    frames.set(f.timestamp, f);
    if (frames.size > maxFrames) {
      const [ts, first] = frames.entries().next().value;
      first.close();
      frames.delete(ts);
    }
    postMessage({decoded: f.timestamp, w: f.displayWidth, h: f.displayHeight, q: dec.decodeQueueSize, gen});
  },
  error(e) {
    needKey = true;
    postMessage({error: String(e && e.message || e)});
  },
});

const draw = (f, id) => {
  if (!ctx) { f.close(); return; }
  const w = f.displayWidth, h = f.displayHeight;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  ctx.drawImage(f, 0, 0, w, h);
  f.close();
  const px = ctx.getImageData(w >> 1, (h / 10) | 0, 1, 1).data;
  postMessage({id, shown: performance.timeOrigin + performance.now(),
    flash: px[0] > 225 && px[1] > 225 && px[2] > 225});
};

onmessage = (e) => {
  const m = e.data;
  if (m.chunk) {
    if (!dec || dec.state !== 'configured') return;
    if (!m.key && needKey) return; // the decoder wants a keyframe first
    if (!m.key && dec.decodeQueueSize > maxQueue) {
      needKey = true;
      postMessage({full: m.ts});
      return;
    }
    needKey = false;
    dec.decode(new EncodedVideoChunk({type: m.key ? 'key' : 'delta', timestamp: m.ts, data: m.chunk}));
    return;
  }
  if (m.show !== undefined) {
    const f = frames.get(m.show);
    if (!f) { postMessage({id: m.id, missing: true}); return; }
    frames.delete(m.show);
    draw(f, m.id);
    return;
  }
  if (m.close) {
    for (const ts of m.close) {
      const f = frames.get(ts);
      if (f) { f.close(); frames.delete(ts); }
    }
    return;
  }
  if (m.configure) {
    if (!dec || dec.state === 'closed') dec = newDecoder();
    else dec.reset();
    closeAll();
    gen = m.gen;
    if (m.maxQueue) maxQueue = m.maxQueue;
    needKey = true;
    dec.configure(m.configure);
    return;
  }
  if (m.reset) {
    if (dec && dec.state !== 'closed') dec.reset();
    closeAll();
    gen = m.gen;
    needKey = true;
    return;
  }
  if (m.canvas) {
    canvas = m.canvas;
    ctx = canvas.getContext('2d', {alpha: false});
  }
};
