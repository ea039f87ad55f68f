import { after, before, describe, it } from 'node:test';
import {
  signTestToken,
  startConnectorTestServer,
  TEST_API_KEY,
  TEST_API_SECRET,
  type ConnectorTestServer,
} from '../integration/connector/support/connector-test-server.js';
import {
  assertScenarioOutcomes,
  loadScenario,
  SCENARIO_PATH,
} from './support/connector-compat-scenario.js';
import { REPO_ROOT, runCompatClient, runSetupScript } from './support/run-compat-client.js';

/**
 * Rust SDK (crate livekit-api 0.10.0, pinned in test/compat/rust/Cargo.toml and Cargo.lock):
 * protobuf Twirp client (reqwest + prost), built once into .tools/compat. It cannot send
 * `ringing_timeout` at all, so the server default (30 s) must fill it for Dial and Accept.
 */

let srv: ConnectorTestServer;
let binary: string;

before(
  async () => {
    binary = await runSetupScript('scripts/compat/build-rust-client.sh');
    srv = await startConnectorTestServer();
  },
  { timeout: 900_000 },
);
after(async () => {
  await srv?.close();
});

describe('Rust livekit-api ConnectorClient against the connector', () => {
  it('runs the whole scenario: every field arrives, every answer and error surfaces', async () => {
    const outcomes = await runCompatClient(`${REPO_ROOT}${binary}`, [SCENARIO_PATH], {
      CONNECTOR_URL: srv.url,
      LIVEKIT_API_KEY: TEST_API_KEY,
      LIVEKIT_API_SECRET: TEST_API_SECRET,
      EXPIRED_TOKEN: await signTestToken({ expiresIn: -3600 }),
    });
    assertScenarioOutcomes(loadScenario(), outcomes, srv.backend, {
      dialOmitsRingingTimeout: true,
      acceptOmitsRingingTimeout: true,
    });
  });
});
