// Shared by the pages: login, stream list, and the players' audio output.

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
window.quicastPlayout = (node) => {
  if (!window.crossOriginIsolated || typeof SharedArrayBuffer !== 'function') {
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
  return Object.assign({shared: true, ring, size}, window.quicastRingWriter(ring, size));
};

// The Go program's per-packet paths cross into JavaScript with numbers and
// the long-lived objects it already holds, through the functions below.
// Every object or string that reaches Go is a js.Value with a finalizer,
// and Go's garbage collector runs those finalizers in one batch: with a
// few thousand made a second (a read's promise, result and bytes, a chunk
// and its options, per packet) a call's page stalled 150–370 ms at every
// collection, long enough to run its playout buffers dry.

// quicastReadRing reads a reader of datagrams into a buffer in the Go
// program's own memory (window.quicastMemory, its WebAssembly.Memory; the
// buffer at addr, size bytes), which the program drains at its own pace:
// no call into Go per datagram. The buffer (viewer-wasm/player
// DatagramBuffer; AppendDatagram there writes it the same way), little
// endian: bytes 0–3 how many bytes of records follow byte 16 (the program
// sets it back to 0 when it drains them), 4–7 datagrams dropped for want
// of room; then per datagram its length (uint16), its arrival (float64, ms
// since the epoch) and its bytes. The promise settles when the stream ends.
window.quicastReadRing = async (reader, addr, size) => {
  const mem = window.quicastMemory;
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
window.quicastAudioDecoder = (playout, onError, a) => {
  if (a && a.worker) return a;
  if (!a && playout && playout.shared && window.Worker) return window.quicastAudioWorker(playout);
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
window.quicastAudioWorker = (playout) => {
  const w = new Worker('/static/decoder.js');
  const stats = new Int32Array(new SharedArrayBuffer(12)); // outputs, in the decoder, errors
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
window.quicastDecodeAudio = (a, timestamp, buf, n, conceal, samples) => {
  if (a.worker) { a.decode(timestamp, buf, n, conceal, samples); return; }
  a.dec.decode(new EncodedAudioChunk({type: 'key', timestamp, data: buf.subarray(0, n)}));
  a.plan.push(conceal, samples);
  if (conceal >= 0) a.pending += conceal + samples;
};

// quicastAudioForget: a's decoder was reset or closed, the outputs planned
// will not come. Returns their samples to be played (concealment
// included), and forgets them.
window.quicastAudioForget = (a) => {
  if (a.worker) return 0; // the worker conceals what its decoder lost
  const n = a.pending;
  a.plan.length = 0;
  a.pending = 0;
  return n;
};

// quicastDecodeVideo hands the first n bytes of buf to a decoder as one
// chunk stamped `timestamp` µs (W3C WebCodecs: the chunk copies them).
window.quicastDecodeVideo = (dec, key, timestamp, buf, n) =>
  dec.decode(new EncodedVideoChunk({type: key ? 'key' : 'delta', timestamp, data: buf.subarray(0, n)}));

// quicastHeardAt returns the AudioContext time of the sample leaving the
// loudspeaker agoMs before now, from the context's own (contextTime,
// performanceTime) pair (W3C Web Audio getOutputTimestamp); 0 before the
// output starts.
window.quicastHeardAt = (ctx, agoMs) => {
  const ts = ctx.getOutputTimestamp();
  if (!(ts.contextTime > 0)) return 0;
  return ts.contextTime + (performance.now() - agoMs - ts.performanceTime) / 1000;
};

// quicastPeakLevel returns what reads an AnalyserNode's sound now: its
// peak level in dBFS (−180 for silence).
window.quicastPeakLevel = (analyser) => {
  const samples = new Float32Array(analyser.fftSize);
  return () => {
    analyser.getFloatTimeDomainData(samples);
    let peak = 0;
    for (const v of samples) peak = Math.max(peak, Math.abs(v));
    return 20 * Math.log10(peak || 1e-9);
  };
};

// Login and stream list pages.
(() => {
  const form = document.getElementById('login-form');
  if (form) {
    const err = document.getElementById('error');
    const params = new URLSearchParams(location.search);
    if (params.get('error') === 'throttled') err.textContent = 'Too many attempts. Wait a moment and try again.';
    else if (params.get('error') === 'busy') err.textContent = 'The relay is busy. Wait a moment and try again.';
    else if (params.get('error')) err.textContent = 'Wrong username or password.';
    const next = params.get('next');
    if (next) form.querySelector('input[name="next"]').value = next;
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      const body = JSON.stringify({username: form.username.value, password: form.password.value});
      const r = await fetch('/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, body});
      if (r.ok) {
        const n = form.querySelector('input[name="next"]').value;
        location.href = n && n.startsWith('/') && !n.startsWith('//') ? n : '/';
        return;
      }
      let msg = 'Login failed.';
      try { const j = await r.json(); if (j.error) msg = j.error; } catch (e) {}
      err.textContent = msg.charAt(0).toUpperCase() + msg.slice(1) + (msg.endsWith('.') ? '' : '.');
      form.password.value = '';
      form.password.focus();
    });
  }

  const list = document.getElementById('streams');
  if (list) {
    const render = async () => {
      const r = await fetch('/api/streams');
      if (r.status === 401) { location.href = '/login'; return; }
      const streams = await r.json();
      list.replaceChildren();
      if (!streams.length) {
        const li = document.createElement('li');
        li.className = 'empty';
        li.textContent = 'No streams yet. Create one with: quicast-relay stream add NAME';
        list.append(li);
      }
      for (const s of streams) {
        const li = document.createElement('li');
        const a = document.createElement('a');
        a.href = '/watch/' + encodeURIComponent(s.name);
        a.textContent = s.name;
        const badge = document.createElement('span');
        badge.className = s.live ? 'badge live' : 'badge';
        badge.textContent = s.live ? 'LIVE' : 'offline';
        const viewers = document.createElement('span');
        viewers.className = 'viewers';
        viewers.textContent = s.viewers === 1 ? '1 viewer' : s.viewers + ' viewers';
        li.append(a, badge, viewers);
        list.append(li);
      }
    };
    render();
    setInterval(render, 3000);
  }

  const rooms = document.getElementById('rooms');
  if (rooms) {
    const render = async () => {
      const r = await fetch('/api/rooms/');
      if (!r.ok) return;
      const list = await r.json();
      rooms.replaceChildren();
      if (!list.length) {
        const li = document.createElement('li');
        li.className = 'empty';
        li.textContent = 'No rooms yet. Make one for calls with: quicast-relay room add NAME';
        rooms.append(li);
      }
      for (const room of list) {
        const li = document.createElement('li');
        const a = document.createElement('a');
        a.href = '/room/' + encodeURIComponent(room.name);
        a.textContent = room.name;
        const n = document.createElement('span');
        n.className = room.live ? 'badge live' : 'badge';
        n.textContent = room.live === 1 ? '1 in the call' : room.live + ' in the call';
        li.append(a, n);
        rooms.append(li);
      }
    };
    render();
    setInterval(render, 3000);
  }

  const fp = document.getElementById('ca-fp');
  if (fp) {
    fetch('/api/info').then(r => r.json()).then(info => {
      if (info.caFingerprint) fp.textContent = info.caFingerprint;
      else { document.getElementById('ca-some').hidden = true; document.getElementById('ca-none').hidden = false; }
    }).catch(() => { fp.textContent = '(unavailable)'; });
  }

  const what = document.getElementById('what');
  if (what && location.pathname.startsWith('/watch/')) {
    const name = decodeURIComponent(location.pathname.slice('/watch/'.length));
    what.textContent = 'There is no stream named “' + name + '” on this relay.';
  } else if (what && location.pathname.startsWith('/room/')) {
    const name = decodeURIComponent(location.pathname.slice('/room/'.length));
    what.textContent = 'There is no room named “' + name + '” on this relay. Make it with: quicast-relay room add ' + name;
  }

  // Calls to this user ring on every page of the relay they have open (not
  // in a room's frames, nor before logging in): who calls and to which
  // room, Answer (join it) or Decline; missed calls below.
  const framed = new URLSearchParams(location.search).has('embed');
  if (!form && !framed && document.getElementById('logout')) {
    const bar = document.createElement('div');
    bar.id = 'ringing';
    bar.hidden = true;
    document.body.prepend(bar);
    const missedBox = document.createElement('div');
    missedBox.id = 'missed';
    bar.after(missedBox);
    const post = (id, what) => fetch('/api/invites/' + encodeURIComponent(id) + '/' + what, {method: 'POST'});
    let shown = '';
    const show = (p) => {
      // Rebuilt only when it changes: a button being clicked stays put.
      const key = JSON.stringify([p.ringing.map(i => i.id), (p.missed || []).length]);
      if (key === shown) return;
      shown = key;
      bar.replaceChildren();
      bar.hidden = !p.ringing.length;
      for (const inv of p.ringing) {
        const row = document.createElement('div');
        const who = document.createElement('span');
        who.textContent = inv.from + ' is calling you to room “' + inv.room + '”';
        const answer = document.createElement('button');
        answer.className = 'answer';
        answer.textContent = 'Answer';
        answer.addEventListener('click', async () => {
          answer.disabled = decline.disabled = true;
          const r = await post(inv.id, 'answer');
          if (r.ok) {
            location.href = '/room/' + encodeURIComponent(inv.room) + '?join=1';
            return;
          }
          let msg = r.statusText;
          try { msg = (await r.json()).error || msg; } catch (e) {}
          who.textContent = 'Could not answer: ' + msg;
        });
        const decline = document.createElement('button');
        decline.className = 'danger';
        decline.textContent = 'Decline';
        decline.addEventListener('click', () => { answer.disabled = decline.disabled = true; post(inv.id, 'decline'); });
        row.append(who, answer, decline);
        bar.append(row);
      }
      missedBox.replaceChildren();
      for (const m of (p.missed || []).slice(-3)) {
        const d = document.createElement('div');
        d.textContent = 'Missed call from ' + m.from + ' (room “' + m.room + '”) at ' + new Date(m.at).toLocaleTimeString();
        missedBox.append(d);
      }
    };
    window.quicastInvites = null; // the latest poll, for tests and the curious
    (async () => {
      let ringing = false;
      for (;;) {
        try {
          const r = await fetch('/api/invites/?wait=' + (ringing ? 0 : 25), {cache: 'no-store'});
          if (r.status === 401) return;
          const p = await r.json();
          window.quicastInvites = p;
          show(p);
          ringing = p.ringing.length > 0;
          // While it rings, look again shortly: answered elsewhere, declined
          // or rung out, it stops.
          if (ringing) await new Promise(res => setTimeout(res, 1500));
        } catch (e) {
          await new Promise(res => setTimeout(res, 5000));
        }
      }
    })();
  }

  const logout = document.getElementById('logout');
  if (logout) {
    logout.addEventListener('click', async () => {
      await fetch('/api/logout', {method: 'POST', headers: {'Content-Type': 'application/json'}});
      location.href = '/login';
    });
  }
})();
