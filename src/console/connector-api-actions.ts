/**
 * The console's actions as a Connector API client of its own instance: a hang-up is a
 * `DisconnectWhatsAppCall` and a dial a `DialWhatsAppCall` sent to the internal listener with a
 * short token of the operator's own API key, through the official SDK client, so they get exactly
 * the API's validation, call-permission check, cluster routing and error messages, as the CLI does.
 * A transfer is a `POST /api/calls/{id}/transfer` to the same listener, signed the same way.
 */
import { RoomAgentDispatch } from '@livekit/protocol';
import { AccessToken, ConnectorClient } from 'livekit-server-sdk';
import { DEFAULT_CLOUD_API_VERSION, type PhoneNumberRule } from '../gateway/gateway-config.js';
import type { ConsoleActions, ConsoleDialRequest, ConsoleOperator } from './console-sources.js';

export interface ConnectorApiActionsOptions {
  /** Required - base URL of this instance's internal listener (serves `/twirp/`). */
  apiUrl: () => string;
  /** Required - API key → secret; the operator's key signs the request. */
  apiKeys: Readonly<Record<string, string>>;
  /** Required - configured business numbers (their access tokens and API versions). */
  numbers: readonly PhoneNumberRule[];
  /** Required - the business number of a call this instance holds (for its access token). */
  phoneNumberIdOf: (callId: string) => string | undefined;
}

export class ConnectorApiActions implements ConsoleActions {
  constructor(private readonly options: ConnectorApiActionsOptions) {}

  numbers(): string[] {
    return this.options.numbers.map((n) => n.phoneNumberId);
  }

  async hangup(callId: string, operator: ConsoleOperator): Promise<void> {
    const phoneNumberId = this.options.phoneNumberIdOf(callId);
    if (phoneNumberId === undefined) throw new Error('no such call on this instance');
    const { accessToken } = this.number(phoneNumberId);
    await this.client(operator).disconnectWhatsAppCall(callId, accessToken);
  }

  async dial(
    request: ConsoleDialRequest,
    operator: ConsoleOperator,
  ): Promise<{ callId: string; roomName: string }> {
    const rule = this.number(request.phoneNumberId);
    const res = await this.client(operator).dialWhatsAppCall({
      whatsappPhoneNumberId: rule.phoneNumberId,
      whatsappToPhoneNumber: request.to.replace(/^\+/, ''),
      whatsappApiKey: rule.accessToken,
      whatsappCloudApiVersion: rule.apiVersion,
      ...(request.roomName ? { roomName: request.roomName } : {}),
      ...(request.agentName
        ? {
            agents: [
              new RoomAgentDispatch({
                agentName: request.agentName,
                metadata: request.agentMetadata,
              }),
            ],
          }
        : {}),
    });
    return { callId: res.whatsappCallId, roomName: res.roomName };
  }

  async transfer(callId: string, roomName: string, operator: ConsoleOperator): Promise<void> {
    const secret = this.options.apiKeys[operator.apiKeyId];
    if (!secret) throw new Error(`API key ${operator.apiKeyId} is no longer configured`);
    const token = new AccessToken(operator.apiKeyId, secret, { ttl: 60 });
    token.addGrant({ roomCreate: true });
    const res = await fetch(
      `${this.options.apiUrl()}/api/calls/${encodeURIComponent(callId)}/transfer`,
      {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${await token.toJwt()}`,
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({ room: roomName }),
        signal: AbortSignal.timeout(30_000),
      },
    );
    if (res.ok) return;
    const body = (await res.json().catch(() => ({}))) as { msg?: unknown };
    throw new Error(typeof body.msg === 'string' ? body.msg : `HTTP ${res.status}`);
  }

  /** The configured number (the only one when unnamed) with the token to act for it. */
  private number(phoneNumberId: string | undefined): {
    phoneNumberId: string;
    accessToken: string;
    apiVersion: string;
  } {
    const { numbers } = this.options;
    const rule =
      phoneNumberId !== undefined
        ? numbers.find((n) => n.phoneNumberId === phoneNumberId)
        : numbers.length === 1
          ? numbers[0]
          : undefined;
    const id = phoneNumberId ?? rule?.phoneNumberId;
    if (id === undefined) {
      throw new Error(
        numbers.length === 0
          ? 'no business phone number is configured (whatsapp.numbers)'
          : 'several business numbers are configured: choose one',
      );
    }
    const accessToken = rule?.accessToken;
    if (!accessToken) {
      throw new Error(
        `no access token for phone number id ${id}: configure its access_token (whatsapp.numbers, or WHATSAPP_ACCESS_TOKEN)`,
      );
    }
    return {
      phoneNumberId: id,
      accessToken,
      apiVersion: rule?.apiVersion ?? DEFAULT_CLOUD_API_VERSION,
    };
  }

  private client(operator: ConsoleOperator): ConnectorClient {
    const secret = this.options.apiKeys[operator.apiKeyId];
    // A session outlives no configuration: its key is one of these.
    if (!secret) throw new Error(`API key ${operator.apiKeyId} is no longer configured`);
    return new ConnectorClient(this.options.apiUrl(), operator.apiKeyId, secret);
  }
}
