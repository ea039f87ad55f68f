/**
 * Bench child process: the WhatsApp simulator as Meta, with simulated users who replay the
 * pre-encoded burst signal and keep what they hear as packets with arrival times (see
 * lib/replay-phone.ts: no Opus encoder or decoder runs per call while the bench measures).
 */
import { createLogger } from '../../src/log/index.js';
import { WhatsAppSimulator, type SimulatedCall } from '../../src/simulator/index.js';
import { USER_AUDIO_RATE } from '../../src/simulator/user-voice.js';
import { analyseBursts, firstToneAt, toneSnrDb, type BurstPattern } from '../lib/burst-signal.js';
import { BurstReplay, SharedPacer, encodedBursts } from '../lib/opus-bursts.js';
import { ReplayPhone } from '../lib/replay-phone.js';
import { serveRpc } from '../lib/worker-rpc.js';

let sim: WhatsAppSimulator | undefined;
const pacer = new SharedPacer();
const phones = new Map<string, ReplayPhone>();

function simulator(): WhatsAppSimulator {
  if (!sim) throw new Error('simulator not started');
  return sim;
}

function call(id: string): SimulatedCall {
  const c = simulator().call(id);
  if (!c) throw new Error(`no call ${id}`);
  return c;
}

function phone(id: string): ReplayPhone {
  const p = phones.get(id);
  if (!p) throw new Error(`no bench phone for call ${id}`);
  return p;
}

/** Keep what the user heard a while after the call ended (the bench may still analyse it). */
function forgetWhenEnded(c: SimulatedCall): void {
  c.once('ended', () => setTimeout(() => phones.delete(c.id), 30_000).unref());
}

function newPhone(pattern: BurstPattern): ReplayPhone {
  return new ReplayPhone(new BurstReplay(encodedBursts(pattern, USER_AUDIO_RATE)), pacer);
}

serveRpc({
  async start(p: { faults?: Record<string, number> }) {
    sim = await WhatsAppSimulator.start({
      accessToken: 'bench-meta-access-token',
      appSecret: 'bench-app-secret',
      defaultCallPermission: 'permanent',
      timing: { connectWebhookDelayMs: 50, ringingDelayMs: 50 },
      ...(p.faults ? { faults: p.faults } : {}),
      logger: createLogger({ level: 'error', name: 'bench-simulator' }),
    });
    return {
      graphUrl: sim.graphUrl,
      phoneNumberId: sim.defaultPhoneNumberId,
      accessToken: sim.accessToken,
    };
  },
  setFaults(p: Record<string, number>) {
    return simulator().setFaults(p);
  },
  async place(p: { from: string; speak: BurstPattern }) {
    const ph = newPhone(p.speak);
    const c = await simulator().placeUserCall({ from: p.from, phone: ph });
    phones.set(c.id, ph);
    forgetWhenEnded(c);
    return { id: c.id, metaSdp: c.metaSdp };
  },
  async waitBusinessCall(p: { timeoutMs: number }) {
    const c = await simulator().waitForBusinessCall(p.timeoutMs);
    return { id: c.id, metaSdp: c.metaSdp };
  },
  /** Meta's SDP answer of a business-initiated call (what the connect webhook would carry). */
  metaSdp(p: { id: string }) {
    return call(p.id).metaSdp;
  },
  async answer(p: { id: string; speak: BurstPattern }) {
    const c = call(p.id);
    const ph = newPhone(p.speak);
    c.usePhone(ph);
    phones.set(c.id, ph);
    forgetWhenEnded(c);
    // The phone rings a moment after Meta accepted the call; it cannot be answered before.
    if (c.state === 'dialing') await c.waitForState('ringing', 10_000);
    await c.answer();
    return { answeredAtMs: Date.now() };
  },
  hangUp(p: { id: string }) {
    simulator().call(p.id)?.hangUp();
    return true;
  },
  state(p: { id: string }) {
    return simulator().call(p.id)?.state ?? 'unknown';
  },
  /** Wall-clock ms at which the user first heard tone `hz` after `fromMs` (polls until `timeoutMs`). */
  async firstTone(p: { id: string; hz: number; fromMs: number; timeoutMs: number }) {
    const ph = phone(p.id);
    const deadline = Date.now() + p.timeoutMs;
    let checked = 0;
    for (;;) {
      const chunks = ph.recorder.chunks();
      for (; checked < chunks.length; checked++) {
        const at = firstToneAt([chunks[checked]!], USER_AUDIO_RATE, p.hz, p.fromMs);
        if (at !== undefined) return at;
      }
      if (Date.now() > deadline) return null;
      await new Promise((r) => setTimeout(r, 10));
    }
  },
  /** Bursts sent and received by the user in [fromMs, toMs). */
  analyse(p: { id: string; listen: BurstPattern; fromMs: number; toMs: number }) {
    const ph = phone(p.id);
    const chunks = ph.recorder.chunks();
    const received = analyseBursts(chunks, USER_AUDIO_RATE, p.listen, p.fromMs, p.toMs);
    const sent = ph.voice.onsetsBetween(p.fromMs, p.toMs);
    ph.recorder.prune(p.toMs - 1000);
    ph.voice.prune(p.toMs - 1000);
    return { received, sent };
  },
  snr(p: { id: string; hz: number; fromMs: number; toMs: number }) {
    const ph = phone(p.id);
    return {
      snrDb: toneSnrDb(ph.recorder.chunks(), USER_AUDIO_RATE, p.hz, p.fromMs, p.toMs),
      packetsReceived: ph.recorder.packets,
    };
  },
  activeCalls() {
    return simulator().activeCalls().length;
  },
  async stop() {
    await sim?.close();
    sim = undefined;
    return true;
  },
});

process.on('SIGTERM', () => {
  void (async () => {
    await sim?.close();
    process.exit(0);
  })();
});
