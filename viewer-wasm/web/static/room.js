// Room page glue: lists the participants (GET /api/rooms/NAME once a
// second), shows each one as the watch page in a frame (its own player,
// jitter buffer and lip-sync), highlights who speaks from their sound's
// level, and starts the Go program, which takes the camera and microphone
// and publishes into the room when "Join" is clicked. The Go side keeps
// body[data-call] (idle, joining, live, reconnecting, left, error) and
// body[data-self] (this participant's stream) up to date.
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
  window.quicastFromBase64 = (s) => {
    try { return Uint8Array.from(atob(s), c => c.charCodeAt(0)); } catch (e) { return null; }
  };

  // Participants, by stream; a tile goes after two polls without them.
  const shown = new Map();
  const poll = async () => {
    let info;
    try {
      const r = await fetch('/api/rooms/' + encodeURIComponent(room), {cache: 'no-store'});
      if (r.status === 401) { location.href = '/login?next=' + encodeURIComponent(location.pathname); return; }
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
      const frame = document.createElement('iframe');
      frame.src = '/watch/' + encodeURIComponent(p.stream) + '?embed=1';
      frame.allow = 'autoplay';
      frame.title = p.user;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = p.user;
      tile.append(frame, name);
      tiles.append(tile);
      shown.set(p.stream, {tile, frame, missed: 0});
    }
    for (const [stream, t] of shown) {
      if (here.has(stream)) continue;
      if (++t.missed >= 2) { t.tile.remove(); shown.delete(stream); }
    }
    const n = shown.size + (document.body.dataset.call === 'live' ? 1 : 0);
    count.textContent = n === 1 ? '1 participant' : n + ' participants';
    empty.hidden = shown.size > 0 || document.body.dataset.call === 'live';
  };
  poll();
  setInterval(poll, 1000);

  // Who is speaking: the peak level of each participant's sound.
  setInterval(() => {
    for (const t of shown.values()) {
      let db = -100;
      try { db = t.frame.contentWindow.quicastLevel ? t.frame.contentWindow.quicastLevel() : -100; } catch (e) {}
      t.tile.classList.toggle('speaking', db > -40);
    }
  }, 150);
  // For tests and the curious: every participant's player figures.
  window.quicastRoomStats = () => {
    const out = {};
    for (const [stream, t] of shown) {
      try { out[stream] = t.frame.contentWindow.quicastStats ? t.frame.contentWindow.quicastStats() : null; } catch (e) { out[stream] = null; }
    }
    return out;
  };

  const mute = document.getElementById('mute');
  const camera = document.getElementById('camera');
  document.getElementById('join').addEventListener('click', () => window.quicastJoin && window.quicastJoin());
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

  const go = new Go();
  const res = await WebAssembly.instantiateStreaming(fetch('/static/main.wasm'), go.importObject);
  go.run(res.instance);
  // Answered from a ringing page: join at once.
  if (new URLSearchParams(location.search).has('join') && window.quicastJoin) window.quicastJoin();
})().catch(e => {
  document.body.dataset.call = 'error';
  document.getElementById('call-status').textContent = 'The room page failed to start: ' + e.message;
});
