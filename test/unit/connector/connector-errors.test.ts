import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectorError } from '../../../src/errors/index.js';
import { connectorErrors, whatsAppApiError } from '../../../src/connector/index.js';

describe('Connector error catalogue', () => {
  it("reproduces LiveKit's connector errors (code, HTTP status, message)", () => {
    const expected: Array<[ConnectorError, string, number, string]> = [
      [
        connectorErrors.missingPhoneNumberId(),
        'invalid_argument',
        400,
        'whatsapp phone number id is required',
      ],
      [
        connectorErrors.missingToNumber(),
        'invalid_argument',
        400,
        'whatsapp to_phone_number is required',
      ],
      [connectorErrors.missingCallId(), 'invalid_argument', 400, 'whatsapp call id is required'],
      [connectorErrors.missingApiKey(), 'invalid_argument', 400, 'whatsapp api key is required'],
      [connectorErrors.callNotFound(), 'not_found', 404, 'whatsapp call not found'],
      [
        connectorErrors.cloudApiVersionNotSupported(),
        'invalid_argument',
        400,
        'whatsapp cloud api version not supported',
      ],
      [
        connectorErrors.missingCallIdInInitiateResponse(),
        'invalid_argument',
        400,
        'missing call id in initiate response',
      ],
      [
        connectorErrors.whatsAppApiCallFailedReasonUnknown(),
        'invalid_argument',
        400,
        'whatsapp api call failed with unknown reason',
      ],
      [
        connectorErrors.acceptTimeout(),
        'deadline_exceeded',
        408,
        'timeout waiting for call to be accepted',
      ],
      [
        connectorErrors.roomNotReady(),
        'deadline_exceeded',
        408,
        'timeout waiting for participants to publish in the livekit room before accepting the call',
      ],
      [connectorErrors.incorrectSdpType(), 'invalid_argument', 400, 'incorrect sdp type'],
      [
        connectorErrors.sdpAnswerTimeout(),
        'deadline_exceeded',
        408,
        'timeout waiting for SDP answer',
      ],
      [connectorErrors.connectionClosed(), 'failed_precondition', 412, 'connection is closed'],
      [connectorErrors.connectorNotFound(), 'not_found', 404, 'connector not found'],
      [
        connectorErrors.serverBusy(),
        'resource_exhausted',
        429,
        'server is busy and cannot accept new calls',
      ],
    ];
    for (const [err, code, status, msg] of expected) {
      assert.ok(err instanceof ConnectorError);
      assert.equal(err.code, code, msg);
      assert.equal(err.httpStatus, status, msg);
      assert.equal(err.message, msg);
      assert.deepEqual(err.meta, {});
    }
  });

  it('gives every throw its own error object', () => {
    assert.notEqual(connectorErrors.callNotFound(), connectorErrors.callNotFound());
  });
});

describe('whatsAppApiError', () => {
  it("carries Meta's code, subcode, details and fbtrace_id in meta", () => {
    const cause = new Error('graph said no');
    const err = whatsAppApiError(
      {
        httpStatus: 400,
        code: 138006,
        subcode: 2494100,
        type: 'OAuthException',
        message: '(#138006) Lack of call permission',
        details: 'No approved call permission',
        fbtraceId: 'AbC123',
      },
      cause,
    );
    assert.equal(err.code, 'invalid_argument');
    assert.equal(err.message, 'whatsapp api call failed: (#138006) Lack of call permission');
    assert.deepEqual(err.meta, {
      graphStatus: '400',
      graphCode: '138006',
      graphErrorSubcode: '2494100',
      graphErrorType: 'OAuthException',
      graphErrorDetails: 'No approved call permission',
      fbtraceId: 'AbC123',
    });
    assert.equal(err.cause, cause);
  });

  it('maps Meta server failures to internal, as LiveKit maps upstream server errors', () => {
    const err = whatsAppApiError({
      httpStatus: 503,
      code: 2,
      message: 'Service temporarily unavailable',
    });
    assert.equal(err.code, 'internal');
    assert.equal(err.meta.graphCode, '2');
  });

  it('falls back to the catalogue message when Meta gave neither code nor message', () => {
    const err = whatsAppApiError({ httpStatus: 400, fbtraceId: 'T1' });
    assert.equal(err.message, 'whatsapp api call failed with unknown reason');
    assert.equal(err.code, 'invalid_argument');
    assert.deepEqual(err.meta, { graphStatus: '400', fbtraceId: 'T1' });
  });

  it('uses the code when there is no message and clips very long Meta texts', () => {
    assert.equal(
      whatsAppApiError({ code: 100 }).message,
      'whatsapp api call failed: error code 100',
    );
    const long = whatsAppApiError({
      code: 100,
      message: 'x'.repeat(5000),
      details: 'y'.repeat(5000),
    });
    assert.ok(long.message.length < 600);
    assert.ok((long.meta.graphErrorDetails ?? '').length < 600);
  });
});
