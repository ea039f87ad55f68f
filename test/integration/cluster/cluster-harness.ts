import { SessionDescription, type AcceptWhatsAppCallRequest } from '@livekit/protocol';
import { ConnectorClient } from 'livekit-server-sdk';
import { postTwirpJson } from '../calls/bridge-harness.js';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../../src/config/index.js';
import { createLogger } from '../../../src/log/index.js';
import { ConnectorServer } from '../../../src/server/connector-server.js';
import { WhatsAppSimulator } from '../../../src/simulator/index.js';
import { startLiveKitServer, type LiveKitServerHandle } from '../../../testbed/livekit-server.js';
import { startRedis, type RedisHandle } from '../../../testbed/redis.js';

export const APP_SECRET = 'cluster-test-app-secret';
export const KEY_PREFIX = 'cluster-test:';

/** One connector instance of the cluster under test. */
export interface ClusterInstance {
  id: string;
  server: ConnectorServer;
  config: Config;
  url: string;
  /** The internal listener: metrics, the cluster endpoint (what peers are told to call). */
  internalUrl: string;
  client: ConnectorClient;
}

/** livekit-server, Redis and the simulator as Meta, shared by every instance. */
export interface ClusterBed {
  lk: LiveKitServerHandle;
  redis: RedisHandle;
  /** A plain client of the shared Redis, to look at the keys. */
  inspect: Redis;
  simulator: WhatsAppSimulator;
  accessToken: string;
  phoneNumberId: string;
  /** Start an instance named `id`; `env` adds or overrides settings (e.g. MAX_CONCURRENT_CALLS). */
  startInstance(id: string, env?: Record<string, string>): Promise<ClusterInstance>;
  stop(): Promise<void>;
}

export async function startClusterBed(): Promise<ClusterBed> {
  const lk = await startLiveKitServer();
  const redis = await startRedis();
  const accessToken = 'test-meta-access-token';
  const simulator = await WhatsAppSimulator.start({
    accessToken,
    appSecret: APP_SECRET,
    defaultCallPermission: 'permanent',
    timing: { connectWebhookDelayMs: 50, ringingDelayMs: 50 },
  });
  const inspect = new Redis(redis.url, { lazyConnect: true });
  await inspect.connect();
  const instances: ClusterInstance[] = [];
  return {
    lk,
    redis,
    inspect,
    simulator,
    accessToken,
    phoneNumberId: simulator.defaultPhoneNumberId,
    async startInstance(id, env = {}) {
      const config = loadConfig({
        env: {
          LIVEKIT_URL: lk.wsUrl,
          LIVEKIT_API_KEY: lk.apiKey,
          LIVEKIT_API_SECRET: lk.apiSecret,
          WHATSAPP_GRAPH_URL: simulator.graphUrl,
          WHATSAPP_APP_SECRET: APP_SECRET,
          MEDIA_ICE_ADDRESSES: '127.0.0.1',
          CALL_MEDIA_TIMEOUT_SECONDS: '2',
          LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
          // Admission control measures this process, which in tests also runs the test's own room
          // listeners and simulator: a loaded test machine must not refuse calls. Tests of admission
          // control turn it on.
          ADMISSION_CONTROL: 'false',
          REDIS_URL: redis.url,
          REDIS_KEY_PREFIX: KEY_PREFIX,
          INSTANCE_ID: id,
          CLUSTER_HEARTBEAT_SECONDS: '0.3',
          ...env,
        },
        overrides: { port: 0, bindAddress: '127.0.0.1' },
      });
      const server = new ConnectorServer({
        config,
        logger: createLogger({ level: config.logLevel }),
      });
      const port = await server.start();
      const url = `http://127.0.0.1:${port}`;
      const instance = {
        id,
        server,
        config,
        url,
        internalUrl: `http://127.0.0.1:${server.internalPort}`,
        client: new ConnectorClient(url, lk.apiKey, lk.apiSecret),
      };
      instances.push(instance);
      return instance;
    },
    async stop() {
      await Promise.all(instances.map((i) => i.server.close()));
      inspect.disconnect();
      await simulator.close();
      await redis.stop();
      await lk.stop();
    },
  };
}

/** A Connector API call with plain Twirp JSON, through one instance. */
export function twirpJson(
  bed: ClusterBed,
  instance: ClusterInstance,
  method: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return postTwirpJson(instance.url, bed.lk, method, body);
}

/**
 * AcceptWhatsAppCall through `instance` for a user call the simulator placed, into `roomName` as
 * `wa-caller`, with `extra` fields on top.
 */
export function acceptThrough(
  bed: ClusterBed,
  instance: ClusterInstance,
  userCall: { id: string; metaSdp: string },
  roomName: string,
  extra: Partial<AcceptWhatsAppCallRequest> = {},
) {
  return instance.client.acceptWhatsAppCall({
    whatsappPhoneNumberId: bed.phoneNumberId,
    whatsappApiKey: bed.accessToken,
    whatsappCloudApiVersion: '24.0',
    whatsappCallId: userCall.id,
    sdp: new SessionDescription({ type: 'offer', sdp: userCall.metaSdp }),
    roomName,
    participantIdentity: 'wa-caller',
    ...extra,
  });
}
