/**
 * Bench child process: the WhatsApp simulator as Meta, with simulated users who speak timestamped
 * tone bursts and record what they hear (with arrival times).
 */
import { createLogger } from '../../src/log/index.js';
import {
  WhatsAppSimulator,
  type SimulatedCall,
  type UserVoice,
} from '../../src/simulator/index.js';
import { USER_AUDIO_RATE } from '../../src/simulator/user-voice.js';
import {
  BurstGenerator,
  analyseBursts,
  firstToneAt,
  toneSnrDb,
  type BurstPattern,
  type TimedChunk,
} from '../lib/burst-signal.js';
import { serveRpc } from '../lib/worker-rpc.js';

class BurstVoice implements UserVoice {
  readonly description: string;
  readonly generator: BurstGenerator;
  constructor(pattern: BurstPattern) {
    this.generator = new BurstGenerator(pattern, USER_AUDIO_RATE);
    this.description = `bench bursts ${pattern.hz} Hz`;
  }
  next(samples: number): Int16Array {
    return this.generator.next(samples, Date.now());
  }
}

let sim: WhatsAppSimulator | undefined;
const voices = new Map<string, BurstVoice>();

function simulator(): WhatsAppSimulator {
  if (!sim) throw new Error('simulator not started');
  return sim;
}

function call(id: string): SimulatedCall {
  const c = simulator().call(id);
  if (!c) throw new Error(`no call ${id}`);
  return c;
}

/** What the user heard, as wall-clock-stamped chunks. */
function heard(c: SimulatedCall): TimedChunk[] {
  return c.recording().chunks.map((h) => ({ atMs: c.createdAt + h.atMs, samples: h.samples }));
}

function speak(c: SimulatedCall, pattern: BurstPattern): void {
  const voice = new BurstVoice(pattern);
  voices.set(c.id, voice);
  c.speak(voice);
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
    const c = await simulator().placeUserCall({ from: p.from });
    speak(c, p.speak);
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
    speak(c, p.speak);
    // The phone rings a moment after Meta accepted the call; it cannot be answered before.
    if (c.state === 'dialing') await c.waitForState('ringing', 10_000);
    await c.answer();
    return { answeredAtMs: Date.now() };
  },
  hangUp(p: { id: string }) {
    simulator().call(p.id)?.hangUp();
    voices.delete(p.id);
    return true;
  },
  state(p: { id: string }) {
    return simulator().call(p.id)?.state ?? 'unknown';
  },
  /** Wall-clock ms at which the user first heard tone `hz` after `fromMs` (polls until `timeoutMs`). */
  async firstTone(p: { id: string; hz: number; fromMs: number; timeoutMs: number }) {
    const c = call(p.id);
    const deadline = Date.now() + p.timeoutMs;
    let checked = 0;
    for (;;) {
      const chunks = c.recording().chunks;
      for (; checked < chunks.length; checked++) {
        const h = chunks[checked]!;
        const at = firstToneAt(
          [{ atMs: c.createdAt + h.atMs, samples: h.samples }],
          USER_AUDIO_RATE,
          p.hz,
          p.fromMs,
        );
        if (at !== undefined) return at;
      }
      if (Date.now() > deadline) return null;
      await new Promise((r) => setTimeout(r, 10));
    }
  },
  /** Bursts sent and received by the user in [fromMs, toMs). */
  analyse(p: { id: string; listen: BurstPattern; fromMs: number; toMs: number }) {
    const c = call(p.id);
    const received = analyseBursts(heard(c), USER_AUDIO_RATE, p.listen, p.fromMs, p.toMs);
    const sent = voices.get(p.id)?.generator.onsetsBetween(p.fromMs, p.toMs) ?? [];
    return { received, sent };
  },
  snr(p: { id: string; hz: number; fromMs: number; toMs: number }) {
    const c = call(p.id);
    const s = c.recordingStats();
    return {
      snrDb: toneSnrDb(heard(c), USER_AUDIO_RATE, p.hz, p.fromMs, p.toMs),
      packetsReceived: s.packetsReceived,
      packetsSent: s.packetsSent,
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
