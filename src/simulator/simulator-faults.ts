/** Fault injection switches of the simulator; all off by default. A live object: changes apply at once. */
export interface SimulatorFaults {
  /** Deliver every webhook twice (what Meta does after a delivery timed out). */
  duplicateWebhooks: boolean;
  /** Hold every webhook this long before delivering it, ms. */
  webhookDelayMs: number;
  /** User-initiated calls: the user hangs up at once and terminate arrives before connect. */
  terminateBeforeConnect: boolean;
  /** The next N Graph requests answer HTTP 500 (code 131000); counts down. */
  graphErrorsNext: number;
  /** The next N Graph requests are never answered; counts down. */
  graphTimeoutsNext: number;
  /**
   * The next N Graph requests are applied (the call changes state at Meta) but never answered,
   * as when Meta's answer is lost; counts down.
   */
  graphAppliedButUnansweredNext: number;
  /**
   * Only Graph requests with one of these `/calls` actions (e.g. `["accept"]`) take the three
   * Graph faults above; empty: every Graph request does.
   */
  graphFaultActions: string[];
  /** Packets dropped on the media leg, percent per direction (seeded PRNG). */
  packetLossPercent: number;
  /** Random extra delay on packets the user sends, up to this many ms (seeded PRNG). */
  jitterMs: number;
}

export const NO_FAULTS: Readonly<SimulatorFaults> = {
  duplicateWebhooks: false,
  webhookDelayMs: 0,
  terminateBeforeConnect: false,
  graphErrorsNext: 0,
  graphTimeoutsNext: 0,
  graphAppliedButUnansweredNext: 0,
  graphFaultActions: [],
  packetLossPercent: 0,
  jitterMs: 0,
};

/**
 * Validates a partial fault update (from the control API or options).
 * @returns the cleaned update; throws `Error` with a readable message on bad values.
 */
export function parseFaultUpdate(input: unknown): Partial<SimulatorFaults> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new Error('faults must be a JSON object');
  }
  const out: Partial<SimulatorFaults> = {};
  for (const [key, value] of Object.entries(input)) {
    switch (key) {
      case 'duplicateWebhooks':
      case 'terminateBeforeConnect':
        if (typeof value !== 'boolean') throw new Error(`${key} must be a boolean`);
        out[key] = value;
        break;
      case 'graphFaultActions':
        if (!Array.isArray(value) || !value.every((a) => typeof a === 'string')) {
          throw new Error(`${key} must be an array of action names`);
        }
        out[key] = [...(value as string[])];
        break;
      case 'webhookDelayMs':
      case 'graphErrorsNext':
      case 'graphTimeoutsNext':
      case 'graphAppliedButUnansweredNext':
      case 'jitterMs':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
          throw new Error(`${key} must be a non-negative integer`);
        }
        out[key] = value;
        break;
      case 'packetLossPercent':
        if (typeof value !== 'number' || value < 0 || value > 100) {
          throw new Error('packetLossPercent must be between 0 and 100');
        }
        out[key] = value;
        break;
      default:
        throw new Error(`unknown fault ${key}`);
    }
  }
  return out;
}
