// The players' helpers (main.go in the Go program), on the watch and room
// pages and in the room page's players worker (static/players.js).

// quicastFromBase64 decodes base64 into a Uint8Array, null if malformed
// (the relay's certificate hashes).
// quicastForwardConsole, in a worker running the program: what it says on
// the console (a panic's, say) goes to the page's console too, as {log},
// where tests and people reading it without a worker's see it.
self.quicastForwardConsole = () => {
  const log = console.log;
  console.log = (...a) => { postMessage({log: a.join(' ')}); log(...a); };
};

self.quicastFromBase64 = (s) => {
  try { return Uint8Array.from(atob(s), c => c.charCodeAt(0)); } catch (e) { return null; }
};

// quicastPlayout returns what hands a player's decoded sound to its playout
// worklet node (static/worklet.js):
//  - play(audioData, conceal) fills `conceal` samples of lost audio first
//    (the ones before, faded out), then the AudioData's planes (f32-planar;
//    a mono one twice), and closes the AudioData;
//  - reset(epoch) starts a new broadcast's buffer;
//  - shared, ring and size: the ring in shared memory, when there is one
//    (static/ring.js), which quicastAudioDecoder may hand to its worker.
// One call from the player instead of a dozen between WebAssembly and
// JavaScript per 10 ms packet. Where the page is cross-origin isolated (the
// relay sends COOP and COEP) the sound goes through a ring in shared memory
// that the worklet reads at every render quantum: no message per packet,
// which cost the page's main thread more than anything else with three
// participants in a room. Elsewhere, a message per packet.
self.quicastPlayout = (node) => {
  if (!self.crossOriginIsolated || typeof SharedArrayBuffer !== 'function') {
    return {
      play(data, conceal) {
        const n = data.numberOfFrames;
        const l = new Float32Array(n);
        data.copyTo(l, {planeIndex: 0, format: 'f32-planar'});
        let r = l;
        if (data.numberOfChannels > 1) {
          r = new Float32Array(n);
          data.copyTo(r, {planeIndex: 1, format: 'f32-planar'});
        }
        data.close();
        node.port.postMessage({l, r, conceal}, r === l ? [l.buffer] : [l.buffer, r.buffer]);
      },
      reset(epoch) { node.port.postMessage({reset: epoch}); },
    };
  }
  // 2^18 samples a channel (5.4 s at 48 kHz): a power of two, so that the
  // count of samples written (mod 2^32) maps to the ring (static/ring.js).
  const size = 1 << 18;
  const ring = new SharedArrayBuffer(16 + 8 * size);
  node.port.postMessage({ring, size});
  return Object.assign({shared: true, ring, size}, self.quicastRingWriter(ring, size));
};

// The Go program's per-packet paths cross into JavaScript with numbers and
// the long-lived objects it already holds, through the functions below.
// Every object or string that reaches Go is a js.Value with a finalizer,
// and Go's garbage collector runs those finalizers in one batch: with a
// few thousand made a second (a read's promise, result and bytes, a chunk
// and its options, per packet) a call's page stalled 150–370 ms at every
// collection, long enough to run its playout buffers dry.

// quicastFloats returns f, or, where the Go program's memory
// (self.quicastMemory) grew since f was made and f no longer sees it, a new
// Float64Array of its n values at addr.
const quicastFloats = (f, addr, n) =>
  f && f.buffer === self.quicastMemory.buffer ? f : new Float64Array(self.quicastMemory.buffer, addr, n);

// quicastPlayoutReports keeps the playout worklet's reports
// (static/worklet.js, 20 a second) where the Go program reads them at its
// own pace, with no call into it per report: each writes its figures into
// a Float64Array of n values at addr in the program's memory
// (self.quicastMemory), the last `fixed` onto the holder returned. Values
// (viewer-wasm/cmd/player report*): 0 reports so far, 1 epoch, 2 pos (read
// position, samples), 3 at (its context time, s), 4 played, 5 underruns,
// 6 starved, 7 dropped, 8 trimmed, 9 buffered (samples), 10 beeps heard so
// far, 11 when the last one was heard (performance.now() time, ms), from
// ctx's output timestamp (W3C Web Audio getOutputTimestamp); a beep before
// the output starts is not counted.
self.quicastPlayoutReports = (port, ctx, addr, n) => {
  const holder = {fixed: null};
  let f = null;
  port.onmessage = (e) => {
    const d = e.data;
    f = quicastFloats(f, addr, n);
    if (d.beep !== undefined) {
      const ts = ctx.getOutputTimestamp();
      if (!(ts.contextTime > 0)) return;
      f[11] = ts.performanceTime + (d.beep - ts.contextTime) * 1000;
      f[10]++;
      return;
    }
    if (d.fixed) holder.fixed = d.fixed;
    f[1] = d.epoch; f[2] = d.pos; f[3] = d.at; f[4] = d.played; f[5] = d.underruns;
    f[6] = d.starved; f[7] = d.dropped; f[8] = d.trimmed; f[9] = d.buffered;
    f[0]++;
  };
  return holder;
};

// quicastRenderAnswers takes the render worker's answers (static/render.js:
// {id, shown, flash, copied} per frame) into a ring of n Float64 values at
// addr in the Go program's memory (self.quicastMemory), read at its next
// tick: no call into the program per frame. Value 0 counts the answers
// written; answer k is at 1 + 4 × (k mod (n − 1) / 4): the frame's id, when
// it was shown (performance.now() time of this realm, ms), whether the test
// source's flash was on it (1 or 0), whether it went by copyTo (1 or 0).
self.quicastRenderAnswers = (worker, addr, n) => {
  const slots = (n - 1) >> 2;
  let f = null;
  worker.onmessage = (e) => {
    const d = e.data;
    f = quicastFloats(f, addr, n);
    const k = 1 + 4 * (f[0] % slots);
    f[k] = d.id; f[k + 1] = d.shown - performance.timeOrigin; f[k + 2] = d.flash ? 1 : 0; f[k + 3] = d.copied ? 1 : 0;
    f[0]++;
  };
};

// quicastReadRing reads a reader of datagrams into a buffer in the Go
// program's own memory (self.quicastMemory, its WebAssembly.Memory; the
// buffer at addr, size bytes), which the program drains at its own pace:
// no call into Go per datagram. The buffer (viewer-wasm/player
// DatagramBuffer; AppendDatagram there writes it the same way), little
// endian: bytes 0–3 how many bytes of records follow byte 16 (the program
// sets it back to 0 when it drains them), 4–7 datagrams dropped for want
// of room; then per datagram its length (uint16), its arrival (float64, ms
// since the epoch) and its bytes. The promise settles when the stream ends.
self.quicastReadRing = async (reader, addr, size) => {
  const mem = self.quicastMemory;
  const HEADER = 16, RECORD = 10; // bytes: before the first record, of a record before its datagram
  let dv = null;
  for (;;) {
    let r;
    try {
      r = await reader.read();
    } catch (e) {
      return; // ended by the session's close: same as done
    }
    if (r.done) return;
    const value = r.value, n = value.byteLength, at = performance.timeOrigin + performance.now();
    if (!dv || dv.buffer !== mem.buffer) dv = new DataView(mem.buffer, addr, size); // the memory grew
    const w = dv.getUint32(0, true);
    if (n > 0xffff || HEADER + w + RECORD + n > size) { // a uint16 length; no room
      dv.setUint32(4, dv.getUint32(4, true) + 1, true);
      continue;
    }
    dv.setUint16(HEADER + w, n, true);
    dv.setFloat64(HEADER + w + 2, at, true);
    new Uint8Array(mem.buffer, addr + HEADER + w + RECORD, n).set(value);
    dv.setUint32(0, w + RECORD + n, true);
  }
};

// quicastAudioDecoder makes (or, given a, makes anew) a player's
// AudioDecoder (W3C WebCodecs) whose outputs go straight to playout.play in
// decode order, as quicastDecodeAudio planned each packet: no call into the
// program per packet. onError is the decoder's error callback. a holds dec
// (the decoder), plan (conceal, samples) of each packet in the decoder,
// pending (their samples, concealment included) and decoded (outputs so
// far, over every decoder of a). Where the playout's ring is in shared
// memory the decoder runs in a worker instead (quicastAudioWorker).
self.quicastAudioDecoder = (playout, onError, a) => {
  if (a && a.worker) return a;
  if (!a && playout && playout.shared && self.Worker) return self.quicastAudioWorker(playout);
  a = a || {decoded: 0};
  a.plan = [];
  a.pending = 0;
  a.dec = new AudioDecoder({
    output: (data) => {
      a.decoded++;
      const conceal = a.plan.length ? a.plan.shift() : -1;
      const samples = a.plan.length ? a.plan.shift() : 0;
      if (conceal >= 0 && playout) {
        a.pending -= conceal + samples;
        playout.play(data, conceal);
      } else {
        data.close();
      }
    },
    error: onError,
  });
  return a;
};

// quicastAudioWorker is quicastAudioDecoder's decoder in a worker
// (static/decoder.js), writing into the playout's ring itself. a.dec stands
// for the decoder (state, decodeQueueSize, configure, reset, close); the
// packets of one task go to the worker in one message, after it (a
// microtask), and playout.reset goes after them. A decoder error is the
// worker's to mend (it conceals what was lost): onError is not called.
self.quicastAudioWorker = (playout) => {
  const w = new Worker('/static/decoder.js');
  // outputs, in the decoder, errors, given up behind; gaps between packets
  // in (over 50 ms, over 100 ms) and between sound out (the same)
  const stats = new Int32Array(new SharedArrayBuffer(32));
  w.postMessage({ring: playout.ring, size: playout.size, stats: stats.buffer});
  let batch = new Uint8Array(8192), dv = new DataView(batch.buffer), len = 0, due = false;
  const flush = () => {
    due = false;
    if (!len) return;
    const b = batch.slice(0, len).buffer;
    len = 0;
    w.postMessage({packets: b}, [b]);
  };
  const send = (m) => { flush(); w.postMessage(m); };
  let state = 'unconfigured';
  const a = {
    worker: w,
    get decoded() { return Atomics.load(stats, 0); },
    get errors() { return Atomics.load(stats, 2); },
    get behind() { return Atomics.load(stats, 3); },
    get stalls() { return [4, 5, 6, 7].map(i => Atomics.load(stats, i)); },
    dec: {
      get state() { return state; },
      get decodeQueueSize() { return Atomics.load(stats, 1); },
      configure(config) { state = 'configured'; send({configure: config}); },
      reset() { state = 'unconfigured'; send({decoderReset: true}); },
      close() { state = 'closed'; flush(); w.terminate(); },
    },
    decode(timestamp, buf, n, conceal, samples) {
      if (len + 18 + n > batch.length) {
        const bigger = new Uint8Array(2 * (len + 18 + n));
        bigger.set(batch.subarray(0, len));
        batch = bigger; dv = new DataView(batch.buffer);
      }
      dv.setFloat64(len, timestamp, true);
      dv.setInt32(len + 8, conceal, true);
      dv.setInt32(len + 12, samples, true);
      dv.setUint16(len + 16, n, true);
      batch.set(buf.subarray(0, n), len + 18);
      len += 18 + n;
      if (!due) { due = true; queueMicrotask(flush); }
    },
  };
  playout.reset = (epoch) => send({epoch});
  playout.play = (data) => data.close(); // the worker writes the ring
  return a;
};

// quicastDecodeAudio hands the first n bytes of buf to a's decoder as one
// chunk stamped `timestamp` µs (the chunk copies them). Its output is
// played after `conceal` samples of lost audio, or not at all when −1;
// `samples` is its length as planned.
self.quicastDecodeAudio = (a, timestamp, buf, n, conceal, samples) => {
  if (a.worker) { a.decode(timestamp, buf, n, conceal, samples); return; }
  a.dec.decode(new EncodedAudioChunk({type: 'key', timestamp, data: buf.subarray(0, n)}));
  a.plan.push(conceal, samples);
  if (conceal >= 0) a.pending += conceal + samples;
};

// quicastAudioForget: a's decoder was reset or closed, the outputs planned
// will not come. Returns their samples to be played (concealment
// included), and forgets them.
self.quicastAudioForget = (a) => {
  if (a.worker) return 0; // the worker conceals what its decoder lost
  const n = a.pending;
  a.plan.length = 0;
  a.pending = 0;
  return n;
};

// quicastDecodeVideo hands the first n bytes of buf to a decoder as one
// chunk stamped `timestamp` µs (W3C WebCodecs: the chunk copies them).
self.quicastDecodeVideo = (dec, key, timestamp, buf, n) =>
  dec.decode(new EncodedVideoChunk({type: key ? 'key' : 'delta', timestamp, data: buf.subarray(0, n)}));

// quicastHeardAt returns the AudioContext time of the sample leaving the
// loudspeaker agoMs before now, from the context's own (contextTime,
// performanceTime) pair (W3C Web Audio getOutputTimestamp); 0 before the
// output starts.
self.quicastHeardAt = (ctx, agoMs) => {
  const ts = ctx.getOutputTimestamp();
  if (!(ts.contextTime > 0)) return 0;
  return ts.contextTime + (performance.now() - agoMs - ts.performanceTime) / 1000;
};
