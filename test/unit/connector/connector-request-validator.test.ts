import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Duration } from '@bufbuild/protobuf';
import {
  AcceptWhatsAppCallRequest,
  ConnectWhatsAppCallRequest,
  DialWhatsAppCallRequest,
  DisconnectWhatsAppCallRequest,
  DisconnectWhatsAppCallRequest_DisconnectReason as Reason,
  SessionDescription,
} from '@livekit/protocol';
import { ConnectorError } from '../../../src/errors/index.js';
import { generateWhatsAppRoomName } from '../../../src/calls/participant-defaults.js';
import { ConnectorRequestValidator } from '../../../src/connector/index.js';

const validator = new ConnectorRequestValidator();

function dial(fields: Partial<DialWhatsAppCallRequest> = {}): DialWhatsAppCallRequest {
  return new DialWhatsAppCallRequest({
    whatsappPhoneNumberId: '1065',
    whatsappToPhoneNumber: '15550001111',
    whatsappApiKey: 'EAAB',
    whatsappCloudApiVersion: '23.0',
    ...fields,
  });
}

function accept(fields: Partial<AcceptWhatsAppCallRequest> = {}): AcceptWhatsAppCallRequest {
  return new AcceptWhatsAppCallRequest({
    whatsappPhoneNumberId: '1065',
    whatsappApiKey: 'EAAB',
    whatsappCloudApiVersion: '24.0',
    whatsappCallId: 'wacid.1',
    sdp: new SessionDescription({ type: 'offer', sdp: 'v=0\r\n' }),
    ...fields,
  });
}

function rejects(fn: () => unknown, code: string, msg: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConnectorError, 'a ConnectorError');
    assert.equal(err.code, code);
    if (typeof msg === 'string') assert.equal(err.message, msg);
    else assert.match(err.message, msg);
    return true;
  });
}

describe('Dial request validation', () => {
  it('rejects missing required fields with LiveKit catalogue messages, in field order', () => {
    rejects(
      () => validator.dial(dial({ whatsappPhoneNumberId: '', whatsappToPhoneNumber: '' })),
      'invalid_argument',
      'whatsapp phone number id is required',
    );
    rejects(
      () => validator.dial(dial({ whatsappToPhoneNumber: '  ', whatsappApiKey: '' })),
      'invalid_argument',
      'whatsapp to_phone_number is required',
    );
    rejects(
      () => validator.dial(dial({ whatsappApiKey: '' })),
      'invalid_argument',
      'whatsapp api key is required',
    );
    rejects(
      () => validator.dial(dial({ whatsappCloudApiVersion: '' })),
      'invalid_argument',
      'whatsapp cloud api version not supported',
    );
  });

  it('accepts versions 23.0, 24.0, 25.0 with or without a leading v and hands over the bare version', () => {
    for (const [given, expected] of [
      ['23.0', '23.0'],
      ['v24.0', '24.0'],
      ['V25.0', '25.0'],
      [' 24.0 ', '24.0'],
    ]) {
      assert.equal(
        validator.dial(dial({ whatsappCloudApiVersion: given })).whatsappCloudApiVersion,
        expected,
      );
    }
    for (const bad of ['22.0', '26.0', 'v21.0', 'latest', '24.0.1', 'vv24.0']) {
      rejects(
        () => validator.dial(dial({ whatsappCloudApiVersion: bad })),
        'invalid_argument',
        'whatsapp cloud api version not supported',
      );
    }
  });

  it('fills room name, identity and ringing timeout when unset', () => {
    const req = validator.dial(dial({ whatsappToPhoneNumber: '+1 555 000 1111' }));
    assert.match(req.roomName, /^whatsapp-[a-z2-7]{12}$/);
    assert.equal(req.participantIdentity, 'whatsapp_15550001111');
    assert.equal(req.ringingTimeout?.seconds, 30n);
    assert.equal(req.ringingTimeout?.nanos, 0);
  });

  it('keeps what the client set', () => {
    const req = validator.dial(
      dial({
        roomName: 'r1',
        participantIdentity: 'id1',
        ringingTimeout: new Duration({ seconds: 45n, nanos: 500_000_000 }),
      }),
    );
    assert.equal(req.roomName, 'r1');
    assert.equal(req.participantIdentity, 'id1');
    assert.equal(req.ringingTimeout?.seconds, 45n);
    assert.equal(req.ringingTimeout?.nanos, 500_000_000);
  });

  it('uses the configured ringing timeout and keeps the phone number out of identities when asked', () => {
    const v = new ConnectorRequestValidator({ ringingTimeoutSeconds: 12.5, hidePhoneNumber: true });
    const req = v.dial(dial());
    assert.equal(req.ringingTimeout?.seconds, 12n);
    assert.equal(req.ringingTimeout?.nanos, 500_000_000);
    assert.match(req.participantIdentity, /^whatsapp_[a-z2-7]{12}$/);
    assert.ok(!req.participantIdentity.includes('1111'));
  });

  it('rejects negative or excessive ringing timeouts', () => {
    for (const d of [
      new Duration({ seconds: -5n }),
      new Duration({ seconds: 0n, nanos: -1 }),
      new Duration({ seconds: 301n }),
    ]) {
      rejects(
        () => validator.dial(dial({ ringingTimeout: d })),
        'invalid_argument',
        /ringing timeout must be greater than 0 and at most 300s/,
      );
    }
  });

  it('checks destination_country as ISO 3166-1 alpha-2 and upper-cases it', () => {
    assert.equal(validator.dial(dial({ destinationCountry: 'de' })).destinationCountry, 'DE');
    assert.equal(validator.dial(dial({ destinationCountry: '' })).destinationCountry, '');
    for (const bad of ['UK', 'XX', 'DEU', 'D', '1A', ' DE']) {
      rejects(
        () => validator.dial(dial({ destinationCountry: bad })),
        'invalid_argument',
        'destination country must be an ISO 3166-1 alpha-2 code',
      );
    }
  });

  it('generates distinct room names', () => {
    const names = new Set(Array.from({ length: 200 }, () => generateWhatsAppRoomName()));
    assert.equal(names.size, 200);
  });
});

describe('Accept request validation', () => {
  it('checks the sdp type before anything else, even before a missing call id', () => {
    rejects(
      () =>
        validator.accept(
          accept({
            whatsappCallId: '',
            whatsappPhoneNumberId: '',
            sdp: new SessionDescription({ type: 'answer', sdp: 'v=0' }),
          }),
        ),
      'invalid_argument',
      'incorrect sdp type',
    );
    rejects(
      () => validator.accept(accept({ sdp: undefined })),
      'invalid_argument',
      'incorrect sdp type',
    );
  });

  it('requires phone number id, api key, call id, version and sdp text', () => {
    rejects(
      () => validator.accept(accept({ whatsappPhoneNumberId: '' })),
      'invalid_argument',
      'whatsapp phone number id is required',
    );
    rejects(
      () => validator.accept(accept({ whatsappApiKey: '' })),
      'invalid_argument',
      'whatsapp api key is required',
    );
    rejects(
      () => validator.accept(accept({ whatsappCallId: '' })),
      'invalid_argument',
      'whatsapp call id is required',
    );
    rejects(
      () => validator.accept(accept({ whatsappCloudApiVersion: '20.0' })),
      'invalid_argument',
      'whatsapp cloud api version not supported',
    );
    rejects(
      () => validator.accept(accept({ sdp: new SessionDescription({ type: 'offer', sdp: '' }) })),
      'invalid_argument',
      'sdp is required',
    );
  });

  it('defaults room, identity from the call id, and ringing timeout', () => {
    const req = validator.accept(accept());
    assert.match(req.roomName, /^whatsapp-[a-z2-7]{12}$/);
    assert.equal(req.participantIdentity, 'whatsapp_wacid.1');
    assert.equal(req.ringingTimeout?.seconds, 30n);
    assert.equal(req.waitUntilAnswered, false);
  });
});

describe('Connect request validation', () => {
  it('requires an answer sdp and a call id, sdp type first', () => {
    rejects(
      () =>
        validator.connect(
          new ConnectWhatsAppCallRequest({
            sdp: new SessionDescription({ type: 'offer', sdp: 'v=0' }),
          }),
        ),
      'invalid_argument',
      'incorrect sdp type',
    );
    rejects(
      () =>
        validator.connect(
          new ConnectWhatsAppCallRequest({
            sdp: new SessionDescription({ type: 'answer', sdp: 'v=0' }),
          }),
        ),
      'invalid_argument',
      'whatsapp call id is required',
    );
    const ok = validator.connect(
      new ConnectWhatsAppCallRequest({
        whatsappCallId: 'wacid.2',
        sdp: new SessionDescription({ type: 'answer', sdp: 'v=0' }),
      }),
    );
    assert.equal(ok.whatsappCallId, 'wacid.2');
  });
});

describe('Disconnect request validation', () => {
  it('requires the api key only for BUSINESS_INITIATED (the default)', () => {
    rejects(
      () => validator.disconnect(new DisconnectWhatsAppCallRequest({ whatsappCallId: 'w' })),
      'invalid_argument',
      'whatsapp api key is required',
    );
    const user = validator.disconnect(
      new DisconnectWhatsAppCallRequest({
        whatsappCallId: 'w',
        disconnectReason: Reason.USER_INITIATED,
      }),
    );
    assert.equal(user.whatsappApiKey, '');
    rejects(
      () => validator.disconnect(new DisconnectWhatsAppCallRequest({ whatsappApiKey: 'k' })),
      'invalid_argument',
      'whatsapp call id is required',
    );
  });

  it('rejects reasons outside the enum', () => {
    rejects(
      () =>
        validator.disconnect(
          new DisconnectWhatsAppCallRequest({
            whatsappCallId: 'w',
            whatsappApiKey: 'k',
            disconnectReason: 7 as Reason,
          }),
        ),
      'invalid_argument',
      'unknown disconnect reason',
    );
  });
});
