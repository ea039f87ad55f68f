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
 * Go SDK (github.com/livekit/server-sdk-go/v2, pinned in test/compat/go/go.mod): the generated
 * protobuf Twirp client with livekit's xtwirp client options, built once into .tools/compat.
 */

let srv: ConnectorTestServer;
let binary: string;

before(
  async () => {
    binary = await runSetupScript('scripts/compat/build-go-client.sh');
    srv = await startConnectorTestServer();
  },
  { timeout: 900_000 },
);
after(async () => {
  await srv?.close();
});

describe('Go server-sdk-go ConnectorClient against the connector', () => {
  it('runs the whole scenario: every field arrives, every answer and error surfaces', async () => {
    const outcomes = await runCompatClient(`${REPO_ROOT}${binary}`, [SCENARIO_PATH], {
      CONNECTOR_URL: srv.url,
      LIVEKIT_API_KEY: TEST_API_KEY,
      LIVEKIT_API_SECRET: TEST_API_SECRET,
      EXPIRED_TOKEN: await signTestToken({ expiresIn: -3600 }),
    });
    assertScenarioOutcomes(loadScenario(), outcomes, srv.backend);
  });
});
