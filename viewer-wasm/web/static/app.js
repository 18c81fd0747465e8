// Shared by the pages: login, stream list, who is speaking.

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
