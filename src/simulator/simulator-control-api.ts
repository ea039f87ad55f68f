/**
 * HTTP JSON control API of the simulator, under `/_simulator`, for tests, `make dev` and a
 * browser console. Routes:
 *
 *   GET    /_simulator                          info: URLs, credentials, numbers, faults
 *   GET    /_simulator/calls                    every call (snapshot)
 *   POST   /_simulator/calls                    a user calls: {from, phoneNumberId?, name?, voice?}
 *   GET    /_simulator/calls/{id}               one call
 *   POST   /_simulator/calls/{id}/answer        user answers a business call
 *   POST   /_simulator/calls/{id}/reject        user declines a business call
 *   POST   /_simulator/calls/{id}/hangup        user hangs up
 *   POST   /_simulator/calls/{id}/speak         {kind: "tone", frequencyHz, amplitude?} | {kind: "wav", path, loop?} | {kind: "silence"}
 *   POST   /_simulator/calls/{id}/dtmf          {digits, durationMs?, gapMs?}
 *   GET    /_simulator/calls/{id}/recording     stats of what the user heard (?expectHz=&lastMs=)
 *   GET    /_simulator/calls/{id}/recording.wav what the user heard, 16 kHz mono WAV
 *   GET    /_simulator/faults                   current faults
 *   POST   /_simulator/faults                   change faults (partial)
 *   GET    /_simulator/requests                 Graph request log
 *   DELETE /_simulator/requests                 clear it
 *   GET    /_simulator/webhooks                 webhook delivery log
 *   POST   /_simulator/webhook-url              {url, phoneNumberId?, verifyToken?} (verifyToken: Meta's hub.challenge check first)
 *   GET    /_simulator/users                    every known user
 *   POST   /_simulator/users                    add a user: {phoneNumber?, userId?, parentUserId?, username?, name?}
 *                                                (a username-only user has a userId and no phoneNumber)
 *   GET    /_simulator/users/{phone|BSUID}      a user and their permissions (created on first use)
 *   POST   /_simulator/users/{phone|BSUID}      {name?, username?, permission?: {status, phoneNumberId?}, permissionRequestResponse?}
 *
 * `from` of POST /calls and the user of /users/{id} are a phone number or a BSUID; a BSUID not
 * known yet makes a username-only user.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConnectorError, toConnectorError } from '../errors/connector-error.js';
import { readBody } from '../server/http-server.js';
import type { SimulatedCall } from './simulated-call.js';
import type {
  CallPermissionStatus,
  PermissionRequestResponse,
  SimulatedUser,
  SimulatedUserIdentity,
} from './simulated-user.js';
import { parseFaultUpdate } from './simulator-faults.js';
import { createUserVoice, type UserVoiceSpec, USER_AUDIO_RATE } from './user-voice.js';
import type { WhatsAppSimulator } from './whatsapp-simulator.js';

type Json = Record<string, unknown>;

const PERMISSIONS: CallPermissionStatus[] = ['no_permission', 'temporary', 'permanent'];
const RESPONSES: PermissionRequestResponse[] = [
  'accept_temporary',
  'accept_permanent',
  'reject',
  'ignore',
];

function bad(message: string): ConnectorError {
  return new ConnectorError('invalid_argument', message);
}

export class SimulatorControlApi {
  constructor(private readonly sim: WhatsAppSimulator) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
        'Access-Control-Allow-Headers': 'Content-Type',
      });
      res.end();
      return;
    }
    try {
      const body = req.method === 'POST' ? await readJson(req) : {};
      const result = await this.route(req.method ?? 'GET', url, body, res);
      if (result === undefined) return;
      res
        .writeHead(result.status ?? 200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify(result.body));
    } catch (err) {
      const e = toConnectorError(err);
      res
        .writeHead(e.httpStatus, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ error: { code: e.code, message: e.message } }));
    }
  }

  private async route(
    method: string,
    url: URL,
    body: Json,
    res: ServerResponse,
  ): Promise<{ status?: number; body: unknown } | undefined> {
    const parts = url.pathname
      .replace(/^\/_simulator\/?/, '')
      .split('/')
      .filter((p) => p !== '')
      .map(decodeURIComponent);
    const [resource, id, action, ...rest] = parts;
    const sim = this.sim;
    if (rest.length > 0) throw new ConnectorError('bad_route', 'unknown control API route');
    const route = `${method} ${resource ?? ''}${id !== undefined ? '/:id' : ''}${action !== undefined ? `/${action}` : ''}`;
    switch (route) {
      case 'GET ':
        return {
          body: {
            graphUrl: sim.graphUrl,
            controlUrl: sim.controlUrl,
            accessToken: sim.accessToken,
            appSecret: sim.appSecret,
            phoneNumbers: sim.phoneNumbers.map((n) => ({
              ...n,
              webhookUrl: sim.webhookUrlFor(n.id) ?? null,
            })),
            faults: sim.faults,
            timing: sim.timing,
          },
        };
      case 'GET calls':
        return { body: { calls: sim.calls.map((c) => c.snapshot()) } };
      case 'POST calls': {
        if (typeof body.from !== 'string') throw bad('from is required');
        const call = await sim
          .placeUserCall({
            from: body.from,
            ...(typeof body.phoneNumberId === 'string'
              ? { phoneNumberId: body.phoneNumberId }
              : {}),
            ...(typeof body.name === 'string' ? { name: body.name } : {}),
            ...(typeof body.username === 'string' ? { username: body.username } : {}),
            ...(body.voice !== undefined ? { voice: parseVoice(body.voice) } : {}),
          })
          .catch((err: unknown) => {
            throw err instanceof ConnectorError
              ? err
              : bad(err instanceof Error ? err.message : String(err));
          });
        return { status: 201, body: call.snapshot() };
      }
      case 'GET calls/:id':
        return { body: this.callOf(id).snapshot() };
      case 'POST calls/:id/answer': {
        const call = this.callOf(id);
        await call.answer();
        return { body: call.snapshot() };
      }
      case 'POST calls/:id/reject': {
        const call = this.callOf(id);
        call.reject();
        return { body: call.snapshot() };
      }
      case 'POST calls/:id/hangup': {
        const call = this.callOf(id);
        call.hangUp();
        return { body: call.snapshot() };
      }
      case 'POST calls/:id/speak': {
        const call = this.callOf(id);
        call.speak(await createUserVoice(parseVoice(body)));
        return { body: call.snapshot() };
      }
      case 'POST calls/:id/dtmf': {
        const call = this.callOf(id);
        if (typeof body.digits !== 'string' || body.digits === '') throw bad('digits is required');
        await call.pressDigits(body.digits, {
          ...(typeof body.durationMs === 'number' ? { durationMs: body.durationMs } : {}),
          ...(typeof body.gapMs === 'number' ? { gapMs: body.gapMs } : {}),
        });
        return { body: call.snapshot() };
      }
      case 'GET calls/:id/recording': {
        const call = this.callOf(id);
        const expectHz = numberParam(url, 'expectHz');
        const lastMs = numberParam(url, 'lastMs');
        const stats = call.recordingStats({
          ...(expectHz !== undefined ? { expectHz } : {}),
          ...(lastMs !== undefined ? { lastMs } : {}),
        });
        return {
          body: { ...stats, levelDbfs: Number.isFinite(stats.levelDbfs) ? stats.levelDbfs : null },
        };
      }
      case 'GET calls/:id/recording.wav': {
        const wav = encodeWav(this.callOf(id).recording().pcm);
        res.writeHead(200, { 'Content-Type': 'audio/wav', 'Content-Length': wav.length }).end(wav);
        return undefined;
      }
      case 'GET faults':
        return { body: sim.faults };
      case 'POST faults': {
        let update;
        try {
          update = parseFaultUpdate(body);
        } catch (err) {
          throw bad((err as Error).message);
        }
        return { body: sim.setFaults(update) };
      }
      case 'GET requests':
        return { body: { requests: sim.requestLog } };
      case 'DELETE requests':
        sim.clearRequestLog();
        return { body: { requests: [] } };
      case 'GET webhooks':
        return {
          body: {
            webhooks: sim.webhookLog.map((d) => ({
              seq: d.seq,
              url: d.url ?? null,
              field: d.field,
              event: d.event,
              callId: d.callId ?? null,
              duplicate: d.duplicate,
              delivered: d.delivered,
              attempts: d.attempts,
              payload: d.payload,
            })),
          },
        };
      case 'POST webhook-url': {
        if (body.url !== null && typeof body.url !== 'string')
          throw bad('url must be a string or null');
        if (typeof body.url === 'string' && !/^https?:\/\//.test(body.url))
          throw bad('url must be http(s)');
        const pnid = typeof body.phoneNumberId === 'string' ? body.phoneNumberId : undefined;
        if (pnid !== undefined && !sim.phoneNumber(pnid))
          throw new ConnectorError('not_found', 'unknown phone number id');
        if (body.verifyToken !== undefined) {
          if (typeof body.verifyToken !== 'string' || typeof body.url !== 'string') {
            throw bad('verifyToken must be a string and needs a url');
          }
          await sim.verifyWebhookUrl(body.url, body.verifyToken);
        }
        sim.setWebhookUrl(typeof body.url === 'string' ? body.url : undefined, pnid);
        return { body: { phoneNumberId: pnid ?? null, url: body.url } };
      }
      case 'GET users':
        return { body: { users: sim.users.map((u) => this.userView(u)) } };
      case 'POST users':
        return { status: 201, body: this.userView(sim.addUser(parseIdentity(body))) };
      case 'GET users/:id':
        return { body: this.userView(sim.userNamed(id ?? '')) };
      case 'POST users/:id': {
        const username = optionalString(body, 'username');
        const user = sim.userNamed(id ?? '', username);
        if (typeof body.name === 'string') user.name = body.name;
        if (username !== undefined && user.username !== username) {
          try {
            user.adoptUsername(username);
          } catch (err) {
            throw bad((err as Error).message);
          }
        }
        if (body.permissionRequestResponse !== undefined) {
          if (!RESPONSES.includes(body.permissionRequestResponse as PermissionRequestResponse)) {
            throw bad(`permissionRequestResponse must be one of ${RESPONSES.join(', ')}`);
          }
          user.permissionRequestResponse =
            body.permissionRequestResponse as PermissionRequestResponse;
        }
        if (body.permission !== undefined) {
          const p = (body.permission ?? {}) as Json;
          if (!PERMISSIONS.includes(p.status as CallPermissionStatus)) {
            throw bad(`permission.status must be one of ${PERMISSIONS.join(', ')}`);
          }
          const pnid =
            typeof p.phoneNumberId === 'string' ? p.phoneNumberId : sim.defaultPhoneNumberId;
          if (!sim.phoneNumber(pnid))
            throw new ConnectorError('not_found', 'unknown phone number id');
          user.setPermission(pnid, p.status as CallPermissionStatus);
        }
        return { body: this.userView(user) };
      }
      default:
        throw new ConnectorError(
          'bad_route',
          `unknown control API route ${method} ${url.pathname}`,
        );
    }
  }

  private callOf(id: string | undefined): SimulatedCall {
    const call = id !== undefined ? this.sim.call(id) : undefined;
    if (!call) throw new ConnectorError('not_found', 'no such call');
    return call;
  }

  private userView(user: SimulatedUser): unknown {
    return {
      waId: user.phoneNumber ?? null,
      userId: user.userId,
      parentUserId: user.parentUserId ?? null,
      username: user.username ?? null,
      name: user.name,
      permissionRequestResponse: user.permissionRequestResponse,
      permissions: Object.fromEntries(
        this.sim.phoneNumbers.map((n) => [n.id, user.permission(n.id)]),
      ),
    };
  }
}

async function readJson(req: IncomingMessage): Promise<Json> {
  const raw = (await readBody(req, 64 * 1024)).toString('utf8');
  if (raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw bad('body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw bad('body must be a JSON object');
  return parsed as Json;
}

function optionalString(body: Json, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${key} must be a string`);
  return v;
}

function parseIdentity(body: Json): SimulatedUserIdentity {
  const identity: SimulatedUserIdentity = {};
  for (const key of ['phoneNumber', 'userId', 'parentUserId', 'username', 'name'] as const) {
    const v = optionalString(body, key);
    if (v !== undefined) identity[key] = v;
  }
  return identity;
}

function parseVoice(v: unknown): UserVoiceSpec {
  const o = (typeof v === 'object' && v !== null ? v : {}) as Json;
  switch (o.kind) {
    case 'silence':
      return { kind: 'silence' };
    case 'tone':
      if (typeof o.frequencyHz !== 'number') throw bad('tone needs frequencyHz');
      if (o.amplitude !== undefined && typeof o.amplitude !== 'number')
        throw bad('amplitude must be a number');
      return {
        kind: 'tone',
        frequencyHz: o.frequencyHz,
        ...(typeof o.amplitude === 'number' ? { amplitude: o.amplitude } : {}),
      };
    case 'wav':
      if (typeof o.path !== 'string') throw bad('wav needs path');
      return { kind: 'wav', path: o.path, loop: o.loop === true };
    default:
      throw bad('voice kind must be tone, wav or silence');
  }
}

function numberParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw bad(`${name} must be a non-negative number`);
  return n;
}

/** 16-bit mono WAV of `pcm` at the user's rate. */
export function encodeWav(pcm: Int16Array): Buffer {
  const data = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(USER_AUDIO_RATE, 24);
  header.writeUInt32LE(USER_AUDIO_RATE * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}
