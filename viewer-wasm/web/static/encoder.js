// quicast audio encoding worker: a participant's microphone into Opus off
// the page's main thread. It reads the track's AudioData through a
// MediaStreamTrackProcessor's readable handed over to it (Chromium then
// delivers them here without the main thread: they kept coming every
// 10 ms while the page's main thread was blocked for 600 ms) and encodes
// them with an AudioEncoder (W3C WebCodecs), whose one-packet-at-a-time
// round trips then go through this worker's event loop, not the page's.
// In a two-browser call on a saturated 2-core machine the microphone's
// gaps of over 60 ms went from 5-8 per 20 s to none.
//
// In:  {readable, stats, bitrate, maxQueue, stallMs} once. stats is an
//      Int32Array's SharedArrayBuffer: [0] live (the page sets 1 while it
//      publishes; otherwise the sound is dropped), [1] stalls (gaps of
//      over stallMs between two chunks while live), [2] chunks dropped for
//      the encoder being more than maxQueue behind, [3] the channels (set
//      at the first chunk, when the encoder is configured for its format).
// Out: {ts, at, data} per Opus packet: its capture timestamp (µs), when it
//      came out of the encoder (ms since the epoch) and its bytes; then
//      {ended: true} when the track ends.
onmessage = async (e) => {
  const m = e.data;
  if (!m.readable) return;
  const stats = new Int32Array(m.stats);
  const enc = new AudioEncoder({
    output: (chunk) => {
      const data = new ArrayBuffer(chunk.byteLength);
      chunk.copyTo(data);
      postMessage({ts: chunk.timestamp, at: Date.now(), data}, [data]); // the program's wall clock is Date's
    },
    error: (err) => console.warn('quicast: audio encoder:', err),
  });
  const reader = m.readable.getReader();
  let last = 0, configured = false;
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      const now = performance.now(), live = Atomics.load(stats, 0) === 1;
      if (last && now - last > m.stallMs && live) Atomics.add(stats, 1, 1);
      last = now;
      if (!configured) {
        // The first sound says the format: 10 ms packets if the browser
        // can make them.
        configured = true;
        const cfg = {codec: 'opus', sampleRate: value.sampleRate, numberOfChannels: value.numberOfChannels,
          bitrate: m.bitrate, opus: {frameDuration: 10000}};
        value.close();
        try {
          if (!(await AudioEncoder.isConfigSupported(cfg)).supported) delete cfg.opus;
        } catch (err) {
          delete cfg.opus;
        }
        enc.configure(cfg);
        Atomics.store(stats, 3, cfg.numberOfChannels);
        continue;
      }
      if (!live || enc.state !== 'configured') { value.close(); continue; }
      if (enc.encodeQueueSize > m.maxQueue) {
        // Real time: a starved worker drops sound rather than sending it
        // later and later (the receivers conceal the gap).
        Atomics.add(stats, 2, 1);
        value.close();
        continue;
      }
      enc.encode(value);
      value.close();
    }
  } catch (err) {
    console.warn('quicast: microphone:', err);
  }
  if (enc.state !== 'closed') enc.close();
  postMessage({ended: true});
};
