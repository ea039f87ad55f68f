import { ConnectorError } from '../errors/index.js';

/** Meta's error code for a business-initiated call without the user's permission. */
export const NO_CALL_PERMISSION_GRAPH_CODE = 138006;

/**
 * A dial refused because the WhatsApp user has not granted (or has revoked) call permission.
 * `failed_precondition` with `meta.reason = "no_call_permission"`, and a message that says what to
 * do next, instead of Meta's bare "(#138006) Lack of call permission".
 */
export class CallPermissionError extends ConnectorError {
  override readonly name = 'CallPermissionError';

  constructor(
    readonly phoneNumberId: string,
    /** Meta's permission status, e.g. "no_permission"; or "unknown" when only the dial failed. */
    readonly permissionStatus: string,
    options?: { cause?: unknown; canSendPermissionRequest?: boolean | undefined },
  ) {
    const next =
      options?.canSendPermissionRequest === false
        ? 'a permission request cannot be sent right now either (Meta limits them per user); ask the user to allow calls from your business profile'
        : `send a call permission request first (whatsapp-connector permissions request <number> --phone-number-id ${phoneNumberId}) and dial once the user accepts`;
    super(
      'failed_precondition',
      `the WhatsApp user has not given this business permission to call (status ${permissionStatus}): ${next}`,
      {
        reason: 'no_call_permission',
        permissionStatus,
        graphCode: String(NO_CALL_PERMISSION_GRAPH_CODE),
      },
      options?.cause !== undefined ? { cause: options.cause } : undefined,
    );
  }
}
