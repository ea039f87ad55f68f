/*
 * The softphone: this browser tab is a WhatsApp user's phone. It signals with the simulator
 * (src/simulator/softphone-api.ts) over an event stream and JSON posts, and sends its microphone
 * over WebRTC to the simulator, which bridges it to Meta's relay leg of the call. Plain browser
 * JavaScript, no framework, nothing loaded from outside this origin.
 *
 * For tests, `window.softphone` exposes the state, the meter levels and a recording of what the
 * page plays.
 */
/* global window, document, EventSource, RTCPeerConnection, MediaStream,
   MediaStreamTrackProcessor, Option */
'use strict';

const API = '/_simulator';
const SOFTPHONE_API = `${API}/softphone`;
/** Meter scale: -60 dBFS (empty) to 0 dBFS (full). */
const METER_FLOOR_DB = -60;
/** How often the meters are updated, ms. */
const METER_INTERVAL_MS = 150;
/** Longest wait for ICE gathering before the offer goes out with what was found, ms. */
const GATHERING_TIMEOUT_MS = 3000;
const KEYS = '0123456789*#';

const END_REASONS = {
  user_hangup: 'you hung up',
  user_reject: 'you declined',
  business_terminate: 'the business hung up',
  business_reject: 'the business declined the call',
  accept_timeout: 'the business did not answer',
  ring_timeout: 'you did not answer',
  media_timeout: 'no audio from the business',
  relay_failed: 'the media connection failed',
  simulator_closed: 'the simulator stopped',
};

const el = (id) => document.getElementById(id);

const app = {
  /** Softphone session id from the `hello` event. */
  session: null,
  user: null,
  events: null,
  phoneNumbers: [],
  /** The current call: { id, direction, state, businessNumber, pc, mic, remote, sender }. */
  call: null,
  /** What the page shows: idle | ready | outgoing | incoming | connecting | active | ended. */
  view: 'idle',
  activeSince: 0,
  timer: null,
  levels: { sent: -Infinity, heard: -Infinity },
  sentDigits: '',
  heardDigits: '',
};

// ------------------------------------------------------------------------------------- helpers

function log(text) {
  const list = el('event-log');
  const item = document.createElement('li');
  const time = new Date().toLocaleTimeString([], { hour12: false });
  item.textContent = `${time}  ${text}`;
  list.append(item);
  while (list.children.length > 60) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text === '' ? {} : JSON.parse(text);
  if (!res.ok) throw new Error(data.error?.message ?? `HTTP ${res.status}`);
  return data;
}

function plus(number) {
  return number ? `+${number}` : '';
}

function setStatus(text) {
  el('call-status').textContent = text;
}

function showButtons(names) {
  for (const name of ['call', 'answer', 'decline', 'hangup']) {
    el(`${name}-button`).hidden = !names.includes(name);
  }
}

function setView(view) {
  app.view = view;
  el('call-title').closest('section').dataset.state = view;
  const business = plus(app.call?.businessNumber);
  const keypadOn = view === 'active';
  for (const key of el('keypad').querySelectorAll('button')) key.disabled = !keypadOn;
  switch (view) {
    case 'idle':
      showButtons(['call']);
      el('call-button').disabled = true;
      setStatus('Choose who you are to start.');
      break;
    case 'ready':
      showButtons(['call']);
      el('call-button').disabled = false;
      setStatus('Ready. Call the business, or wait for it to call you.');
      break;
    case 'outgoing':
      showButtons(['hangup']);
      setStatus(`Calling the business ${business}…`);
      break;
    case 'incoming':
      showButtons(['answer', 'decline']);
      setStatus(`The business ${business} is calling you.`);
      el('answer-button').focus();
      break;
    case 'connecting':
      showButtons(['hangup']);
      setStatus('Connecting…');
      break;
    case 'active':
      showButtons(['hangup']);
      setStatus(`In a call with the business ${business}.`);
      break;
    default:
      break;
  }
}

function startTimer() {
  app.activeSince = Date.now();
  clearInterval(app.timer);
  const show = () => {
    const s = Math.floor((Date.now() - app.activeSince) / 1000);
    el('call-timer').textContent =
      `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  };
  show();
  app.timer = setInterval(show, 500);
}

function stopTimer() {
  clearInterval(app.timer);
  app.timer = null;
}

// -------------------------------------------------------------------------------------- meters

/**
 * The meters read WebRTC's own audio levels (`getStats`): the microphone (`media-source`) and what
 * is played from the simulator (`inbound-rtp`), each a recent peak, linear 0..1 of full scale.
 * They keep working where Web Audio gets audio in bursts (no output device, background tabs).
 */
function toDb(linear) {
  return linear > 0 ? 20 * Math.log10(linear) : -Infinity;
}

function showLevel(name, db) {
  const meter = el(`${name}-meter`);
  const clamped = Math.max(METER_FLOOR_DB, Math.min(0, db));
  const text = Number.isFinite(db) && db > METER_FLOOR_DB ? `${Math.round(db)} dB` : 'silent';
  meter.firstElementChild.style.width = `${((clamped - METER_FLOOR_DB) / -METER_FLOOR_DB) * 100}%`;
  meter.setAttribute('aria-valuenow', String(Math.round(clamped)));
  meter.setAttribute('aria-valuetext', text);
  el(`${name}-value`).textContent = text;
}

async function readLevels() {
  const levels = { sent: -Infinity, heard: -Infinity };
  const pc = app.call?.pc;
  if (pc && pc.connectionState !== 'closed') {
    const stats = await pc.getStats();
    stats.forEach((report) => {
      if (report.kind !== 'audio' || typeof report.audioLevel !== 'number') return;
      if (report.type === 'media-source') levels.sent = toDb(report.audioLevel);
      if (report.type === 'inbound-rtp') levels.heard = toDb(report.audioLevel);
    });
  }
  app.levels = levels;
  showLevel('sent', levels.sent);
  showLevel('heard', levels.heard);
}

setInterval(() => void readLevels().catch(() => undefined), METER_INTERVAL_MS);

// --------------------------------------------------------------------------------------- media

function waitForGathering(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHERING_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/**
 * Microphone, peer connection and a complete offer for the simulator to answer; the media go on
 * `call` (the remote track once it arrives).
 */
async function startMedia(call) {
  const processing = el('processing-checkbox').checked;
  const mic = await navigator.mediaDevices.getUserMedia({
    audio: {
      echoCancellation: processing,
      noiseSuppression: processing,
      autoGainControl: processing,
    },
  });
  const pc = new RTCPeerConnection({ iceServers: [] });
  const sender = pc.addTrack(mic.getAudioTracks()[0], mic);
  Object.assign(call, { pc, mic, sender, remote: null });
  pc.addEventListener('track', (event) => {
    const remote = new MediaStream([event.track]);
    call.remote = event.track;
    el('remote-audio').srcObject = remote;
    el('remote-audio')
      .play()
      .catch(() => undefined);
  });
  pc.addEventListener('connectionstatechange', () => {
    log(`media to the simulator: ${pc.connectionState}`);
  });
  await pc.setLocalDescription(await pc.createOffer());
  await waitForGathering(pc);
  return pc.localDescription.sdp;
}

function stopMedia() {
  const call = app.call;
  if (!call) return;
  call.pc?.close();
  for (const track of call.mic?.getTracks() ?? []) track.stop();
  el('remote-audio').srcObject = null;
}

// -------------------------------------------------------------------------------- call control

function callEnded(view) {
  stopMedia();
  stopTimer();
  app.call = null;
  const reason = END_REASONS[view?.endReason] ?? view?.endReason ?? 'the call ended';
  setView(app.session ? 'ready' : 'idle');
  setStatus(`Call ended: ${reason}.`);
  log(`call ended: ${reason}`);
}

async function callBusiness() {
  if (!app.session || app.call) return;
  const phoneNumberId = el('business-select').value;
  const business = app.phoneNumbers.find((n) => n.id === phoneNumberId);
  app.call = {
    id: null,
    direction: 'USER_INITIATED',
    businessNumber: business?.displayPhoneNumber,
  };
  resetCallDisplay();
  setView('outgoing');
  try {
    const call = app.call;
    const offer = await startMedia(call);
    const placed = await api('POST', `${SOFTPHONE_API}/calls`, {
      session: app.session,
      phoneNumberId,
      offer,
    });
    call.id = placed.callId;
    await call.pc.setRemoteDescription({ type: 'answer', sdp: placed.answer });
    log(`calling ${plus(app.call.businessNumber)} (call ${placed.callId.slice(0, 18)}…)`);
  } catch (err) {
    log(`the call could not be placed: ${err.message}`);
    callEnded({ endReason: err.message });
  }
}

async function answerCall() {
  const call = app.call;
  if (!call || app.view !== 'incoming') return;
  setView('connecting');
  try {
    const offer = await startMedia(call);
    const answered = await api(
      'POST',
      `${SOFTPHONE_API}/calls/${encodeURIComponent(call.id)}/answer`,
      {
        session: app.session,
        offer,
      },
    );
    await call.pc.setRemoteDescription({ type: 'answer', sdp: answered.answer });
    log('answering…');
  } catch (err) {
    log(`the call could not be answered: ${err.message}`);
    callEnded({ endReason: err.message });
  }
}

async function endCall(how) {
  const call = app.call;
  if (!call?.id) {
    if (call) callEnded({ endReason: 'user_hangup' });
    return;
  }
  try {
    await api('POST', `${SOFTPHONE_API}/calls/${encodeURIComponent(call.id)}/${how}`, {
      session: app.session,
    });
  } catch (err) {
    log(`${how} failed: ${err.message}`);
    callEnded({ endReason: err.message });
  }
}

/** A new call starts: no digits, no duration from the last one. */
function resetCallDisplay() {
  el('call-timer').textContent = '00:00';
  app.sentDigits = '';
  app.heardDigits = '';
  el('sent-digits').value = '';
  el('heard-digits').value = '';
}

function pressKey(key) {
  const dtmf = app.call?.sender?.dtmf;
  if (app.view !== 'active' || !dtmf?.canInsertDTMF) return;
  // insertDTMF replaces the queue: keys pressed quickly are appended to what is still queued.
  dtmf.insertDTMF(dtmf.toneBuffer + key, 120, 70);
  app.sentDigits += key;
  el('sent-digits').value = app.sentDigits;
}

// ------------------------------------------------------------------------------ simulator events

function onCallView(view) {
  const call = app.call;
  if (!call || call.id !== view.id) return;
  call.state = view.state;
  if (view.state === 'active' && app.view !== 'active') {
    setView('active');
    startTimer();
    log('call connected');
  }
}

function listen(name, username) {
  app.events?.close();
  const query = new URLSearchParams({ user: name });
  if (username) query.set('username', username);
  const events = new EventSource(`${SOFTPHONE_API}/events?${query}`);
  app.events = events;
  const on = (type, handler) => events.addEventListener(type, (e) => handler(JSON.parse(e.data)));
  on('hello', (hello) => {
    app.session = hello.session;
    app.user = hello.user;
    showIdentity(hello.user);
    showBusinessNumbers(hello.phoneNumbers);
    if (!app.call) setView('ready');
    log(
      `this tab is now the phone of ${hello.user.username ?? hello.user.phoneNumber ?? hello.user.userId}`,
    );
  });
  on('incoming', (view) => {
    if (app.call) return;
    app.call = { id: view.id, direction: view.direction, businessNumber: view.businessNumber };
    resetCallDisplay();
    setView('incoming');
    log(`incoming call from ${plus(view.businessNumber)}`);
  });
  on('call', onCallView);
  on('digit', ({ id, digit }) => {
    if (app.call?.id !== id) return;
    app.heardDigits += digit;
    el('heard-digits').value = app.heardDigits;
  });
  on('ended', (view) => {
    if (app.call?.id === view.id) callEnded(view);
  });
  on('failed', ({ message }) => log(`problem: ${message}`));
  on('replaced', () => {
    events.close();
    app.session = null;
    if (app.call) callEnded({ endReason: 'another tab took over this phone' });
    setView('idle');
    setStatus('Another tab is now this phone. Reload to take it back.');
  });
  events.addEventListener('error', () => {
    if (events.readyState === EventSource.CLOSED) {
      app.session = null;
      setView('idle');
      setStatus('Lost the connection to the simulator. Reload the page.');
    }
  });
}

function showIdentity(user) {
  el('identity').hidden = false;
  el('identity-phone').textContent = user.phoneNumber
    ? plus(user.phoneNumber)
    : 'hidden (username only)';
  el('identity-bsuid').textContent = user.userId;
  el('identity-username').textContent = user.username ?? 'none';
}

async function useUser(name, username) {
  if (app.call) {
    log('finish the current call before changing who you are');
    return;
  }
  try {
    // Creates (or finds) the user and checks the name before the event stream opens.
    const user = await api(
      'POST',
      `${API}/users/${encodeURIComponent(name)}`,
      username ? { username } : {},
    );
    listen(user.userId, undefined);
    const url = new URL(window.location.href);
    url.searchParams.set('user', name);
    window.history.replaceState(null, '', url);
  } catch (err) {
    setStatus(`That user cannot be used: ${err.message}`);
    log(`user refused: ${err.message}`);
  }
}

/** The business numbers to call; keeps the current choice when it still exists. */
function showBusinessNumbers(phoneNumbers) {
  app.phoneNumbers = phoneNumbers;
  const select = el('business-select');
  const chosen = select.value;
  select.replaceChildren(...phoneNumbers.map((n) => new Option(plus(n.displayPhoneNumber), n.id)));
  if (phoneNumbers.some((n) => n.id === chosen)) select.value = chosen;
}

async function loadBusinessNumbers() {
  try {
    const { phoneNumbers } = await api('GET', API);
    showBusinessNumbers(phoneNumbers);
  } catch {
    // Filled in again when the event stream says hello.
  }
}

async function loadKnownUsers() {
  try {
    const { users } = await api('GET', `${API}/users`);
    el('known-users').replaceChildren(
      ...users.map((u) => {
        const option = document.createElement('option');
        option.value = u.waId ?? u.userId;
        option.label = u.username ? `${u.name} (@${u.username})` : u.name;
        return option;
      }),
    );
  } catch {
    // The list only helps typing; the form works without it.
  }
}

// --------------------------------------------------------------------------------- test surface

window.softphone = {
  /** What the page shows and the current call. */
  state() {
    return {
      view: app.view,
      session: app.session,
      user: app.user,
      callId: app.call?.id ?? null,
      callState: app.call?.state ?? null,
      connection: app.call?.pc?.connectionState ?? null,
      sentDigits: app.sentDigits,
      heardDigits: app.heardDigits,
    };
  },
  /** Meter levels in dBFS (what the meters show). */
  levels() {
    return { ...app.levels };
  },
  /**
   * What the page plays for `ms` milliseconds: the remote track's PCM, first channel, 16-bit
   * little-endian, base64 (compact to hand over).
   */
  async recordHeard(ms) {
    const remote = app.call?.remote;
    if (!remote) throw new Error('nothing is playing');
    const track = remote.clone();
    const reader = new MediaStreamTrackProcessor({ track }).readable.getReader();
    const samples = [];
    let sampleRate = 0;
    const until = performance.now() + ms;
    try {
      while (performance.now() < until) {
        const { value, done } = await reader.read();
        if (done) break;
        sampleRate = value.sampleRate;
        const plane = new Float32Array(value.numberOfFrames);
        value.copyTo(plane, { planeIndex: 0, format: 'f32-planar' });
        value.close();
        for (const x of plane)
          samples.push(Math.max(-32768, Math.min(32767, Math.round(x * 32767))));
      }
    } finally {
      await reader.cancel().catch(() => undefined);
      track.stop();
    }
    const bytes = new Uint8Array(Int16Array.from(samples).buffer);
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return { sampleRate, pcm: window.btoa(binary) };
  },
};

// --------------------------------------------------------------------------------------- wiring

el('user-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = el('user-input').value.trim();
  const username = el('username-input').value.trim();
  if (name !== '') void useUser(name, username);
});
el('call-button').addEventListener('click', () => void callBusiness());
el('answer-button').addEventListener('click', () => void answerCall());
el('decline-button').addEventListener('click', () => void endCall('decline'));
el('hangup-button').addEventListener('click', () => void endCall('hangup'));
el('keypad').addEventListener('click', (event) => {
  const key = event.target.closest('button')?.dataset.key;
  if (key) pressKey(key);
});
document.addEventListener('keydown', (event) => {
  const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(event.target.tagName);
  if (!typing && KEYS.includes(event.key) && app.view === 'active') pressKey(event.key);
});

setView('idle');
void loadBusinessNumbers();
void loadKnownUsers();
const preset = new URLSearchParams(window.location.search).get('user');
if (preset) {
  el('user-input').value = preset;
  void useUser(preset, '');
}
