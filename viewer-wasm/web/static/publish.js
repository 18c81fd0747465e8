// The helpers of a room participant's publishing (publish.go in the Go
// program), on the page (room.html) and in the publishing worker
// (static/publisher.js): what would otherwise be a dozen calls between
// WebAssembly and JavaScript per frame or packet.

// quicastEncodedOutput returns an encoder's output function: each chunk is
// copied into holder.buf (a Uint8Array, replaced by a larger one when a
// chunk does not fit) and encoded(byteLength, timestamp µs, kind) called,
// which copies it on before returning. kind: 1 a keyframe, 2 a frame of a
// temporal layer above the base (W3C WebCodecs SvcOutputMetadata), which
// in L1T2 no other frame is predicted from, 0 any other.
globalThis.quicastEncodedOutput = (holder, encoded) => (chunk, metadata) => {
  const n = chunk.byteLength;
  if (holder.buf.byteLength < n) holder.buf = new Uint8Array(2 * n);
  chunk.copyTo(holder.buf);
  const layer = metadata && metadata.svc ? metadata.svc.temporalLayerId : 0;
  encoded(n, chunk.timestamp, chunk.type === 'key' ? 1 : layer > 0 ? 2 : 0);
};

// quicastFeed reads a MediaStreamTrackProcessor's reader (VideoFrames or
// AudioData) into an encoder until it ends. For each it asks
// decide(queue, a, b): queue is the encoder's encodeQueueSize (−1 unless
// configured), a×b the frame's displayWidth×displayHeight, or the sound's
// numberOfChannels and sampleRate; the answer is 0 (drop), 1 (encode) or 2
// (encode as a keyframe). onEnd() at the end.
globalThis.quicastFeed = async (reader, enc, decide, onEnd) => {
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      const video = value.displayWidth !== undefined;
      const d = decide(enc.state === 'configured' ? enc.encodeQueueSize : -1,
        video ? value.displayWidth : value.numberOfChannels, video ? value.displayHeight : value.sampleRate);
      if (d > 0 && enc.state === 'configured') {
        if (video) enc.encode(value, {keyFrame: d === 2}); else enc.encode(value);
      }
      value.close();
    }
  } catch (e) {
    // the track ended or the encoder closed: same as done
  }
  onEnd();
};

// quicastFeedAudio reads a microphone's MediaStreamTrackProcessor reader
// (AudioData, ~10 ms each) into an Opus encoder until it ends, without a
// call into the program per chunk (the program wakes once per encoded
// packet instead). The first chunk says the format: first(numberOfChannels,
// sampleRate) is called, which configures the encoder, and the chunks until
// then are dropped. A chunk that comes while more than gate.maxQueue wait
// in the encoder is dropped too (real time: a starved page sends gaps the
// receivers conceal, not later and later sound), counted in gate.behind.
// gate.stalls counts the gaps between chunks: [over 50 ms, over 100 ms,
// longest ms]. onEnd() at the end.
globalThis.quicastFeedAudio = async (reader, enc, gate, first, onEnd) => {
  let last = 0, started = false;
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      const now = performance.now();
      if (last) {
        const gap = now - last;
        if (gap > 50) gate.stalls[0]++;
        if (gap > 100) gate.stalls[1]++;
        if (gap > gate.stalls[2]) gate.stalls[2] = gap;
      }
      last = now;
      if (!started) {
        started = true;
        first(value.numberOfChannels, value.sampleRate);
      } else if (enc.state === 'configured') {
        if (enc.encodeQueueSize > gate.maxQueue) gate.behind++; else enc.encode(value);
      }
      value.close();
    }
  } catch (e) {
    // the track ended or the encoder closed: same as done
  }
  onEnd();
};

// quicastWrite writes the first n bytes of buf (copied) to a stream's
// writer, a failure ignored (the session's end says why).
globalThis.quicastWrite = (writer, buf, n) => {
  writer.write(buf.slice(0, n)).catch(() => {});
};
