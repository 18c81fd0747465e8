// Room page glue: lists the participants (GET /api/rooms/NAME once a
// second), shows each one on a tile played by the Go program
// (quicastWatch: its own session, jitter buffer, decoders and lip-sync, all
// players in the one program), plays their sound through one AudioContext
// (a worklet node each), highlights who speaks from their sound's level,
// and lets the Go program take the camera and microphone and publish into
// the room when "Join" is clicked. The Go side keeps body[data-call] (idle,
// joining, live, reconnecting, left, error) and body[data-self] (this
// participant's stream) up to date, and each tile's data-state and
// data-muted.
(async () => {
  const room = decodeURIComponent(location.pathname.replace(/^\/room\//, ''));
  document.getElementById('room-name').textContent = room;
  document.title = 'quicast — ' + room;
  const tiles = document.getElementById('tiles');
  const count = document.getElementById('room-count');
  const empty = document.getElementById('room-empty');
  const status = document.getElementById('call-status');

  const missing = [];
  if (!('WebTransport' in window)) missing.push('WebTransport');
  if (!('VideoEncoder' in window) || !('AudioEncoder' in window)) missing.push('WebCodecs');
  if (!('MediaStreamTrackProcessor' in window)) missing.push('MediaStreamTrackProcessor');
  if (!navigator.mediaDevices) missing.push('camera access (this page must be served over HTTPS)');
  if (missing.length) {
    document.getElementById('join').disabled = true;
    status.textContent = 'This browser can watch but not join: it has no ' + missing.join(', ') +
      '. Use a current Chrome or Edge on a computer.';
  }

  const go = new Go();
  const wasm = WebAssembly.instantiateStreaming(fetch('/static/main.wasm'), go.importObject);
  // "Join" clicked while the program still loads joins once it runs; so
  // does a page opened by answering a call (?join).
  let joinWanted = new URLSearchParams(location.search).has('join');
  document.getElementById('join').addEventListener('click', () => {
    if (window.quicastJoin) window.quicastJoin(); else joinWanted = true;
  });
  // The relay wants a login (it forgot this one, or the browser lost its
  // cookie): to the login page, and back into the room after it — into the
  // call too when this page was in it.
  window.quicastLogin = () => {
    const q = new URLSearchParams(location.search);
    if (['joining', 'live', 'reconnecting'].includes(document.body.dataset.call)) q.set('join', '1');
    const next = location.pathname + (q.size ? '?' + q : '');
    location.href = '/login?next=' + encodeURIComponent(next);
  };

  // The participants' sound: one context, a worklet node and a level
  // analyser per participant.
  let audio = null;
  try {
    const ctx = new AudioContext({sampleRate: 48000, latencyHint: 'interactive'});
    await ctx.audioWorklet.addModule('/static/worklet.js');
    audio = ctx;
    if (ctx.state !== 'running') {
      try { await Promise.race([ctx.resume(), new Promise(r => setTimeout(r, 300))]); } catch (e) {}
    }
    // The browser starts pages without sound: any click is the gesture
    // autoplay rules ask for.
    document.addEventListener('click', () => { if (ctx.state !== 'running') ctx.resume().catch(() => {}); });
  } catch (e) {
    console.warn('quicast: no audio output:', e);
  }
  const newOutput = () => {
    if (!audio) return null;
    const node = new AudioWorkletNode(audio, 'quicast-playout', {numberOfInputs: 0, outputChannelCount: [2]});
    node.connect(audio.destination);
    const analyser = audio.createAnalyser();
    analyser.fftSize = 1024;
    node.connect(analyser);
    return {ctx: audio, node, level: window.quicastPeakLevel(analyser), playout: window.quicastPlayout(node)};
  };

  const {module, instance} = await wasm;
  // The participant's publishing runs this same program in a worker
  // (static/publisher.js) where the browser can hand it the camera's and
  // microphone's readables; the program asks quicastPublisherWorker for
  // one and publishes on the page when the answer is null.
  window.quicastPublisherWorker = (room, video, audio, onMessage) => {
    if (typeof Worker !== 'function') return null;
    const w = new Worker('/static/publisher.js');
    try {
      w.postMessage({module, room, video, audio}, [video, audio].filter(Boolean));
    } catch (e) {
      console.warn('quicast: publishing on the page:', e);
      w.terminate();
      return null;
    }
    w.onmessage = (e) => {
      if (e.data.log) { console.warn('quicast: publishing worker:', e.data.log); return; }
      onMessage(e.data);
      if (e.data.done) w.terminate();
    };
    w.onerror = (e) => onMessage({state: 'error', message: 'the publishing stopped: ' + (e.message || 'worker error')});
    return w;
  };
  window.quicastTerminate = (w) => w.terminate();

  // The other participants' players run in a worker of their own
  // (static/players.js) where the page has shared memory for their sound
  // and can hand their canvases over; on the page otherwise.
  let players = null, tileIDs = 0;
  const playerTiles = new Map(); // tile id → its {root, status}
  const playerStats = new Map(); // tile id → its player's latest figures
  if (audio && window.crossOriginIsolated && typeof SharedArrayBuffer === 'function' && window.Worker &&
      'transferControlToOffscreen' in HTMLCanvasElement.prototype) {
    players = new Worker('/static/players.js');
    players.onmessage = (e) => {
      const m = e.data;
      if (m.log) { console.warn('quicast: players worker:', m.log); return; }
      if (m.stats) { for (const id in m.stats) playerStats.set(+id, m.stats[id]); return; }
      if (m.login) { window.quicastLogin(); return; }
      const t = m.id !== undefined && playerTiles.get(m.id);
      if (!t) return;
      if (m.status !== undefined) t.status.textContent = m.status;
      if (m.dataset) Object.assign(t.root.dataset, m.dataset);
    };
    players.onerror = (e) => console.warn('quicast: players worker:', e.message || e);
    players.postMessage({module});
    // Its priority: Chromium runs a worker that reads a live track's
    // frames (MediaStreamTrackProcessor) at the priority of its display
    // and media threads (Linux: nice −8), any other worker at the default
    // (nice 0). In a call of four browsers on two cores the default got
    // the players 3 % of a core while they waited for one 91 % of the
    // time: the others' sound and pictures a second late. A silent track
    // of the page's AudioContext (a chunk every 10 ms while the context
    // runs), read there and thrown away, gives them the priority the
    // publishing worker has, which reads the camera and microphone: 6 % of
    // a core, waiting 52 % of the time; the four-person call of two
    // windows and two browsers (120 s) went from 705 freezes on the
    // browsers' side to 228, mouth-to-ear p50/p95 405/626 → 322/364 ms.
    if (typeof MediaStreamTrackProcessor === 'function' && audio.createConstantSource) {
      try {
        const dest = audio.createMediaStreamDestination(), silence = audio.createConstantSource();
        silence.offset.value = 0;
        silence.connect(dest);
        silence.start();
        const clock = new MediaStreamTrackProcessor({track: dest.stream.getAudioTracks()[0]}).readable;
        players.postMessage({clock}, [clock]);
      } catch (e) {
        console.warn('quicast: the players keep the default priority:', e.message || e);
      }
    }
    // The AudioContext's clock, for the players' lip-sync: its output
    // timestamp, four times a second (the players extrapolate).
    setInterval(() => {
      const ts = audio.getOutputTimestamp();
      players.postMessage({audio: {state: audio.state, outputLatency: audio.outputLatency || 0, baseLatency: audio.baseLatency || 0,
        contextTime: ts.contextTime || 0, performanceTime: performance.timeOrigin + (ts.performanceTime || 0)}});
    }, 250);
  }
  // watch plays o.stream on its tile, in the players worker or on the page;
  // the answer is {stop(), stats(), resetStats()}.
  const watch = (o) => {
    if (!players || !o.audio || !o.audio.playout.shared) return window.quicastWatch(o);
    const id = tileIDs++;
    playerTiles.set(id, o);
    const canvas = o.canvas.transferControlToOffscreen(), port = o.audio.node.port;
    players.postMessage({watch: id, stream: o.stream, next: o.next, canvas, port, ring: o.audio.playout.ring, size: o.audio.playout.size},
      [canvas, port]);
    return {
      stop() { players.postMessage({stop: id}); playerTiles.delete(id); playerStats.delete(id); o.audio.node.disconnect(); },
      stats() { return Object.assign({state: 'connecting'}, playerStats.get(id), {inWorker: true}); },
      resetStats() { players.postMessage({resetStats: id}); },
    };
  };
  window.quicastMemory = instance.exports.mem; // static/player.js quicastReadRing writes into it
  go.run(instance);
  if (joinWanted) window.quicastJoin();

  // Participants, by stream; a tile goes after two polls without them.
  const shown = new Map();
  const poll = async () => {
    let info;
    try {
      const r = await fetch('/api/rooms/' + encodeURIComponent(room), {cache: 'no-store'});
      if (r.status === 401) { window.quicastLogin(); return; }
      if (r.status === 404) { status.textContent = 'There is no room named “' + room + '” on this relay.'; return; }
      info = await r.json();
    } catch (e) {
      return; // the relay is unreachable: the frames say so themselves
    }
    const self = document.body.dataset.self || '';
    const here = new Set();
    for (const p of info.participants || []) {
      if (p.stream === self) continue;
      here.add(p.stream);
      if (shown.has(p.stream)) { shown.get(p.stream).missed = 0; continue; }
      const tile = document.createElement('div');
      tile.className = 'tile';
      tile.dataset.stream = p.stream;
      tile.dataset.state = 'connecting';
      const canvas = document.createElement('canvas');
      canvas.width = 640; canvas.height = 360;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = p.user;
      const state = document.createElement('span');
      state.className = 'state';
      state.setAttribute('role', 'status');
      tile.append(canvas, name, state);
      tiles.append(tile);
      const out = newOutput();
      const player = watch({stream: p.stream, root: tile, canvas, status: state, audio: out, next: location.pathname});
      shown.set(p.stream, {tile, player, out, missed: 0});
    }
    for (const [stream, t] of shown) {
      if (here.has(stream)) continue;
      if (++t.missed < 2) continue;
      t.player.stop();
      t.tile.remove();
      shown.delete(stream);
    }
    const n = shown.size + (document.body.dataset.call === 'live' ? 1 : 0);
    count.textContent = n === 1 ? '1 participant' : n + ' participants';
    empty.hidden = shown.size > 0 || document.body.dataset.call === 'live';
  };
  poll();
  setInterval(poll, 1000);

  // Who is speaking: the peak level of each participant's sound.
  window.quicastRoomLevel = (stream) => {
    const t = shown.get(stream);
    return t && t.out ? t.out.level() : -200;
  };
  // A tile stays outlined for speakHold after its sound last rose above
  // -40 dBFS: the outline follows the talk, not each syllable, and each
  // change repaints the page (no transition either: an animated outline
  // repainted the page and recomposited it at the display's rate, a tenth
  // of a core per browser in a two-person call).
  const speakHold = 600;
  setInterval(() => {
    const now = performance.now();
    for (const t of shown.values()) {
      if (t.out && t.out.level() > -40) t.spokeAt = now;
      t.tile.classList.toggle('speaking', now - (t.spokeAt || -Infinity) < speakHold);
    }
  }, 150);
  // For tests and the curious: every participant's player figures, and
  // the measurement windows started over.
  window.quicastRoomStats = () => {
    const out = {};
    for (const [stream, t] of shown) out[stream] = t.player.stats();
    return out;
  };
  window.quicastRoomResetStats = () => { for (const t of shown.values()) t.player.resetStats(); };
  // The sound output's latencies and, where the browser counts them, its
  // own underruns (W3C Web Audio AudioPlaybackStats), all in seconds.
  window.quicastAudioOutput = () => {
    if (!audio) return null;
    const o = {baseLatency: audio.baseLatency, outputLatency: audio.outputLatency};
    const ps = audio.playbackStats;
    if (ps) {
      for (const k of ['underrunDuration', 'underrunEvents', 'totalDuration', 'averageLatency', 'minimumLatency', 'maximumLatency']) o[k] = ps[k];
    }
    return o;
  };

  const mute = document.getElementById('mute');
  const camera = document.getElementById('camera');
  document.getElementById('leave').addEventListener('click', () => window.quicastLeave && window.quicastLeave());
  mute.addEventListener('click', () => {
    const on = mute.getAttribute('aria-pressed') !== 'true';
    mute.setAttribute('aria-pressed', on);
    mute.textContent = on ? 'Unmute' : 'Mute';
    window.quicastMute(on);
  });
  camera.addEventListener('click', () => {
    const off = camera.getAttribute('aria-pressed') !== 'true';
    camera.setAttribute('aria-pressed', off);
    camera.textContent = off ? 'Camera on' : 'Camera off';
    window.quicastCamera(!off);
  });

  // Calling a person to this room: it rings on their pages and windows.
  const inviteForm = document.getElementById('invite-form');
  const inviteStatus = document.getElementById('invite-status');
  inviteForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = inviteForm.user.value.trim();
    if (!user) return;
    const r = await fetch('/api/rooms/' + encodeURIComponent(room) + '/invite', {method: 'POST',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify({user})});
    const inv = await r.json();
    if (!r.ok) { inviteStatus.textContent = inv.error || r.statusText; return; }
    inviteStatus.textContent = 'Ringing ' + user + '…';
    for (;;) {
      await new Promise(res => setTimeout(res, 1000));
      const s = await (await fetch('/api/invites/' + encodeURIComponent(inv.id), {cache: 'no-store'})).json();
      if (s.state === 'ringing') continue;
      inviteStatus.textContent = {answered: user + ' answered and is joining.', declined: user + ' declined the call.',
        missed: user + ' did not answer.'}[s.state] || s.state;
      return;
    }
  });
})().catch(e => {
  document.body.dataset.call = 'error';
  document.getElementById('call-status').textContent = 'The room page failed to start: ' + e.message;
});
