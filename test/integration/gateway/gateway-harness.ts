import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ProcessedWebhookEvent } from '../../../src/gateway/index.js';
import type { WhatsAppSimulatorOptions } from '../../../src/simulator/index.js';
import { startBridge, type Bridge } from '../calls/bridge-harness.js';

export const APP_SECRET = 'test-app-secret';
export const VERIFY_TOKEN = 'test-verify-token';

/** A bridge whose simulator sends its webhooks to our gateway, configured by a YAML file. */
export interface GatewayBridge extends Bridge {
  webhookUrl: string;
  /** Every event the gateway finished, in order. */
  processed: ProcessedWebhookEvent[];
  /** Resolves with the first processed event matching `predicate` (past or future). */
  waitForProcessed(
    predicate: (p: ProcessedWebhookEvent) => boolean,
    timeoutMs?: number,
  ): Promise<ProcessedWebhookEvent>;
}

/**
 * Start livekit-server, the simulator and the connector with `whatsapp` (snake_case, as in the
 * YAML file) as the configuration's `whatsapp` section. The access token of the simulator is the
 * harness's `accessToken`.
 */
export async function startGatewayBridge(
  whatsapp: Record<string, unknown>,
  options: { simulator?: WhatsAppSimulatorOptions; env?: Record<string, string> } = {},
): Promise<GatewayBridge> {
  const dir = mkdtempSync(join(tmpdir(), 'wa-gateway-'));
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, stringify({ whatsapp }));
  const bridge = await startBridge({
    env: {
      WHATSAPP_CONNECTOR_CONFIG: configFile,
      WHATSAPP_APP_SECRET: APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
      ...options.env,
    },
    simulator: { appSecret: APP_SECRET, ...options.simulator },
  });
  rmSync(dir, { recursive: true, force: true });
  const webhookUrl = `${bridge.connectorUrl}${bridge.config.whatsapp.webhookPath}`;
  bridge.simulator.setWebhookUrl(webhookUrl);
  const processed: ProcessedWebhookEvent[] = [];
  const waiters = new Set<() => void>();
  bridge.server.gateway!.on('processed', (p) => {
    processed.push(p);
    for (const w of [...waiters]) w();
  });
  return {
    ...bridge,
    webhookUrl,
    processed,
    waitForProcessed(predicate, timeoutMs = 10_000) {
      const found = processed.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no matching gateway event within ${timeoutMs} ms; saw ${processed
                .map((p) => `${p.event.kind}:${p.outcome}`)
                .join(', ')}`,
            ),
          );
        }, timeoutMs);
        const check = () => {
          const match = processed.find(predicate);
          if (!match) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(match);
        };
        waiters.add(check);
      });
    },
  };
}

/** Predicate: event of `kind` for `callId` with `outcome` (any outcome when omitted). */
export function about(
  callId: string,
  kind: ProcessedWebhookEvent['event']['kind'],
  outcome?: ProcessedWebhookEvent['outcome'],
): (p: ProcessedWebhookEvent) => boolean {
  return (p) =>
    p.event.kind === kind &&
    'callId' in p.event &&
    p.event.callId === callId &&
    (outcome === undefined || p.outcome === outcome);
}

/** Call actions (`pre_accept`, `accept`, `reject`, `terminate`) the simulator received for a call. */
export function graphActions(bridge: Bridge, callId: string): string[] {
  return bridge.simulator.requestLog.flatMap((r) => {
    const body = r.body as { action?: unknown; call_id?: unknown } | null;
    return body && body.call_id === callId && typeof body.action === 'string' ? [body.action] : [];
  });
}
