import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomLeg, type RoomLegOptions } from '../../../src/room/room-leg.js';
import { ConnectorError } from '../../../src/errors/connector-error.js';

const valid: RoomLegOptions = {
  url: 'ws://127.0.0.1:1',
  apiKey: 'k',
  apiSecret: 's',
  roomName: 'r',
  identity: 'i',
  sampleRate: 48_000,
};

test('join rejects bad options with invalid_argument before touching the network', async () => {
  const cases: Partial<RoomLegOptions>[] = [
    { url: 'localhost:7880' },
    { apiKey: '' },
    { roomName: '' },
    { identity: '' },
    { sampleRate: 44_100 },
    { sampleRate: 8000 },
  ];
  for (const override of cases) {
    await assert.rejects(
      RoomLeg.join({ ...valid, ...override }),
      (e: unknown) => e instanceof ConnectorError && e.code === 'invalid_argument',
      JSON.stringify(override),
    );
  }
});
