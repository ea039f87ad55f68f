import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConnectTwilioCallRequest,
  ConnectTwilioCallRequest_TwilioCallDirection as Direction,
} from '@livekit/protocol';
import {
  generateTwilioRoomName,
  validateConnectTwilioCall,
} from '../../../src/connector/twilio-call-backend.js';
import { ConnectorError } from '../../../src/errors/index.js';

function request(fields: Partial<ConnectTwilioCallRequest> = {}): ConnectTwilioCallRequest {
  return new ConnectTwilioCallRequest(fields);
}

function rejects(req: ConnectTwilioCallRequest, code: string, msg: string | RegExp): void {
  assert.throws(
    () => validateConnectTwilioCall(req),
    (err: unknown) =>
      err instanceof ConnectorError &&
      err.code === code &&
      (typeof msg === 'string' ? err.message === msg : msg.test(err.message)),
  );
}

describe('validateConnectTwilioCall', () => {
  it('fills in a twilio-<random> room and a twilio_<random> identity when absent', () => {
    const req = validateConnectTwilioCall(request());
    assert.equal(req.twilioCallDirection, Direction.INBOUND);
    assert.match(req.roomName, /^twilio-[a-z2-7]{12}$/);
    assert.match(req.participantIdentity, /^twilio_[a-z2-7]{12}$/);
    assert.notEqual(generateTwilioRoomName(), generateTwilioRoomName());
  });

  it('keeps what the client sent and upper-cases the destination country', () => {
    const req = validateConnectTwilioCall(
      request({
        twilioCallDirection: Direction.OUTBOUND,
        roomName: 'room-1',
        participantIdentity: 'caller-1',
        destinationCountry: 'us',
      }),
    );
    assert.equal(req.twilioCallDirection, Direction.OUTBOUND);
    assert.equal(req.roomName, 'room-1');
    assert.equal(req.participantIdentity, 'caller-1');
    assert.equal(req.destinationCountry, 'US');
  });

  it('refuses a direction outside the enum (a protobuf client can send any number)', () => {
    rejects(
      request({ twilioCallDirection: 7 as Direction }),
      'invalid_argument',
      /^twilio call direction must be TWILIO_CALL_DIRECTION_INBOUND or TWILIO_CALL_DIRECTION_OUTBOUND$/,
    );
  });

  it('refuses a destination country that is not ISO 3166-1 alpha-2, naming it in meta', () => {
    for (const country of ['ZZ', 'USA', 'U', 'UK']) {
      try {
        validateConnectTwilioCall(request({ destinationCountry: country }));
        assert.fail(`accepted ${country}`);
      } catch (err) {
        assert.ok(err instanceof ConnectorError);
        assert.equal(err.code, 'invalid_argument');
        assert.equal(err.message, 'destination country must be an ISO 3166-1 alpha-2 code');
        assert.deepEqual(err.meta, { destination_country: country });
      }
    }
  });
});
