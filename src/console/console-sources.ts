/**
 * What the console reads and does, as narrow interfaces. The service wiring
 * (`src/server/connector-server.ts`) provides them from the calls, the gateway, the state store
 * and the cluster; a source that is absent (no gateway, no Redis, no state store) is left out
 * and its page says so instead of failing.
 */
import type { CallSummary } from '../calls/whatsapp-call.js';
import type { WebhookReceipt } from '../gateway/webhook-receipts.js';
import type { MediaQuality } from '../media/media-quality.js';
import type { DeadLetter, QueueSizes } from '../store/durable-queue.js';

/** The calls held by this instance. */
export interface ConsoleCallSource {
  /** Every call held now: live, ending, and recently ended ones still retained. */
  list(): CallSummary[];
  /** Live media quality of a call; undefined when unknown (no media leg yet, or ended). */
  quality(callId: string): MediaQuality | undefined;
  /** Calls as they end (with their end reason); returns the unsubscribe function. */
  onEnded(listener: (call: CallSummary) => void): () => void;
}

/** Webhooks received by the gateway, newest first. */
export interface ConsoleWebhookSource {
  recent(limit: number): WebhookReceipt[];
}

/** Forwarding of webhooks to the business's own URL. */
export interface ConsoleForwardingSource {
  /** Where webhooks go, reduced to scheme, host and path (no query, no credentials). */
  readonly target: string;
  /** Counts since start. */
  counts(): { delivered: number; failed: number; inFlight: number };
}

/** A durable queue (webhooks, forwards) as the console shows it. */
export interface ConsoleQueue {
  readonly name: string;
  sizes(): Promise<QueueSizes>;
  deadLetters(limit: number): Promise<DeadLetter[]>;
}

/** There is no state store to read (yet): nothing was ever queued where this instance looks. */
export class StateStoreAbsentError extends Error {
  override readonly name = 'StateStoreAbsentError';
}

/**
 * The state store's queues, when the store can be opened.
 * Methods throw {@link StateStoreAbsentError} when there is no store, other errors when it
 * cannot be read.
 */
export interface ConsoleQueueSource {
  /** Where the store is (file or Redis host, never a password). */
  location(): Promise<string>;
  queues(): Promise<ConsoleQueue[]>;
}

/** A call permission reply a user sent, as recorded from webhooks. */
export interface ConsolePermission {
  phoneNumberId: string;
  /** The user's number, digits; the BSUID for a user Meta named without a number. */
  waId: string;
  /** The user's BSUID, when Meta sent one. */
  userId?: string | undefined;
  /** The user's parent BSUID, when Meta sent one. */
  parentUserId?: string | undefined;
  response: 'accept' | 'reject';
  isPermanent: boolean;
  /** Unix seconds; temporary accepts only. */
  expiresAt: number | undefined;
  source: string | undefined;
  /** Unix seconds. */
  repliedAt: number;
}

/** What Meta says about calling one user now. */
export interface ConsolePermissionVerdict {
  phoneNumberId: string;
  to: string;
  status: string;
  expiresAt: number | undefined;
  canCall: boolean;
  canRequest: boolean | undefined;
}

export interface ConsolePermissionSource {
  /** Replies seen in webhooks (in memory, since start). */
  list(): ConsolePermission[];
  /** Ask Meta now (`whatsapp-connector permissions check`). */
  check?(to: string, phoneNumberId: string | undefined): Promise<ConsolePermissionVerdict>;
}

/** One instance of the service. */
export interface ConsoleInstance {
  id: string;
  url: string;
  activeCalls: number;
  maxCalls: number;
  /** Epoch ms. */
  startedAt: number;
  /** Epoch ms of its last heartbeat. */
  updatedAt: number;
}

export interface ConsoleClusterSource {
  /** This instance's id. */
  readonly selfId: string;
  /** Whether instances share state through Redis (else this instance is the only one). */
  readonly shared: boolean;
  instances(): Promise<ConsoleInstance[]>;
}

/** A dial from the console (the Connector API's Dial, with the configured number's token). */
export interface ConsoleDialRequest {
  /** The user: phone number (digits, with country code) or BSUID. */
  to: string;
  /** Business number to call from; default the only configured one. */
  phoneNumberId: string | undefined;
  /** Room to join; generated when empty. */
  roomName: string;
  /** Agent to dispatch into the room, if any. */
  agentName: string;
  agentMetadata: string;
}

/** What an operator action is done as, for logs. */
export interface ConsoleOperator {
  /** The API key the operator signed in with. */
  apiKeyId: string;
}

/** The actions of the console. Failures are errors whose message is shown to the operator. */
export interface ConsoleActions {
  /** End a call at WhatsApp and in its room (Disconnect, business-initiated). */
  hangup(callId: string, operator: ConsoleOperator): Promise<void>;
  /** Call a user into a room, with the call-permission check the API does. */
  dial(
    request: ConsoleDialRequest,
    operator: ConsoleOperator,
  ): Promise<{ callId: string; roomName: string }>;
  /**
   * Move a call into another room. Present only when the backend can transfer calls; the console
   * shows the action disabled, with the reason, while it is absent.
   */
  transfer?(callId: string, roomName: string, operator: ConsoleOperator): Promise<void>;
  /** Business numbers a dial may use (ids), for the form. */
  numbers(): string[];
}

/** Everything the console is given. Only `calls` and `actions` are required. */
export interface ConsoleSources {
  calls: ConsoleCallSource;
  actions: ConsoleActions;
  webhooks?: ConsoleWebhookSource | undefined;
  forwarding?: ConsoleForwardingSource | undefined;
  queues?: ConsoleQueueSource | undefined;
  permissions?: ConsolePermissionSource | undefined;
  cluster: ConsoleClusterSource;
  /** Directory `make bench` writes its results to (`bench/results/`). */
  benchResultsDir: string;
}
