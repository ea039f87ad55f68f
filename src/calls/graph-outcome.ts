import { GraphApiError } from '../whatsapp/graph-api-error.js';
import { GraphTransportError } from '../whatsapp/graph-transport-error.js';

/**
 * Whether a Graph request that failed may nevertheless have been applied at Meta. Only a refusal
 * Meta answered on the first try (a 4xx with no earlier attempt whose outcome is unknown) and a
 * failure known never to have reached Meta prove it was not; timeouts, lost connections, 5xx
 * answers and a 4xx after a timed-out attempt ("already accepted") may hide an applied request.
 */
export function mayHaveBeenApplied(err: unknown): boolean {
  if (err instanceof GraphApiError || err instanceof GraphTransportError) return err.outcomeUnknown;
  // Anything else (a bug, an abort we did not expect): assume the worst.
  return true;
}
