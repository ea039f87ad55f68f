import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SipDTMF } from '@livekit/protocol';
import { DataPacket, DataPacket_Kind, UserPacket } from '@livekit/protocol';
import {
  ReliableReceiveFilter,
  ReliableSendLog,
  decodeDataPacket,
  dtmfPacket,
  userPacket,
} from '../../../src/livekit/data-packets.js';
import { LiveKitError } from '../../../src/livekit/livekit-errors.js';

test('a DTMF packet is a reliable SipDTMF with the code and its digit', () => {
  const packet = DataPacket.fromBinary(dtmfPacket(11, '#', ['agent']).toBinary());
  assert.equal(packet.kind, DataPacket_Kind.RELIABLE);
  assert.deepEqual(packet.destinationIdentities, ['agent']);
  assert.equal(packet.value.case, 'sipDtmf');
  assert.equal((packet.value.value as SipDTMF).code, 11);
  assert.equal((packet.value.value as SipDTMF).digit, '#');
});

test('a DTMF digit that does not match its RFC 4733 code is refused', () => {
  assert.throws(
    () => dtmfPacket(5, '6'),
    (err: unknown) => err instanceof LiveKitError && err.reason === 'invalid-argument',
  );
  assert.throws(() => dtmfPacket(16, 'A'), LiveKitError);
  assert.throws(() => dtmfPacket(1.5, '1'), LiveKitError);
  // Lower-case letters are taken and sent as the canonical upper-case digit.
  assert.equal((dtmfPacket(12, 'a').value.value as SipDTMF).digit, 'A');
});

test('decoding takes the sender from the packet, or from the user packet of older senders', () => {
  const current = new DataPacket({
    participantIdentity: 'agent',
    participantSid: 'PA_1',
    value: { case: 'user', value: new UserPacket({ payload: new Uint8Array([1, 2]), topic: 't' }) },
  });
  const decoded = decodeDataPacket(current.toBinary());
  assert.deepEqual(decoded?.sender, { identity: 'agent', sid: 'PA_1' });
  assert.deepEqual(decoded?.message, { kind: 'user', payload: new Uint8Array([1, 2]), topic: 't' });

  const legacy = new DataPacket({
    value: {
      case: 'user',
      value: new UserPacket({
        payload: new Uint8Array([3]),
        participantIdentity: 'old',
        participantSid: 'PA_2',
      }),
    },
  });
  assert.deepEqual(decodeDataPacket(legacy.toBinary())?.sender, { identity: 'old', sid: 'PA_2' });
});

test('packets of kinds we do not handle, and garbage, decode to nothing', () => {
  const speaker = new DataPacket({ value: { case: 'speaker', value: { speakers: [] } as never } });
  assert.equal(decodeDataPacket(speaker.toBinary()), undefined);
  assert.equal(decodeDataPacket(new Uint8Array([0xff, 0xff, 0xff])), undefined);
});

test('a lossy user packet is marked lossy', () => {
  assert.equal(userPacket(new Uint8Array([1]), { reliable: false }).kind, DataPacket_Kind.LOSSY);
  assert.equal(userPacket(new Uint8Array([1])).kind, DataPacket_Kind.RELIABLE);
});

test('the send log numbers reliable packets from 1 and returns those after the last one received', () => {
  const log = new ReliableSendLog();
  const sent: number[] = [];
  for (let i = 0; i < 4; i++) {
    const packet = dtmfPacket(1, '1');
    log.stamp(packet);
    log.record(packet.sequence, packet.toBinary());
    sent.push(packet.sequence);
  }
  assert.deepEqual(sent, [1, 2, 3, 4]);
  const resend = log.after(2).map((bytes) => DataPacket.fromBinary(bytes).sequence);
  assert.deepEqual(resend, [3, 4]);
  log.reset();
  const next = dtmfPacket(1, '1');
  log.stamp(next);
  assert.equal(next.sequence, 1);
  assert.deepEqual(log.after(0), []);
});

test('the receive filter drops reliable packets already seen from the same sender', () => {
  const filter = new ReliableReceiveFilter();
  const packet = (sid: string, sequence: number) =>
    new DataPacket({ participantSid: sid, sequence });
  assert.equal(filter.accept(packet('PA_1', 1)), true);
  assert.equal(filter.accept(packet('PA_1', 2)), true);
  assert.equal(filter.accept(packet('PA_1', 2)), false);
  assert.equal(filter.accept(packet('PA_1', 1)), false);
  assert.equal(filter.accept(packet('PA_2', 1)), true);
  // Unsequenced (server-sent) packets always pass.
  assert.equal(filter.accept(packet('', 0)), true);
  assert.equal(filter.accept(packet('PA_1', 0)), true);
});
