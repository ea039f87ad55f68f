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
 * Python SDK (PyPI livekit-api, pinned in scripts/compat/install-python-client.sh, installed
 * into the git-ignored .venv): protobuf Twirp client with lowercase `authorization` header.
 */

let srv: ConnectorTestServer;
let python: string;

before(
  async () => {
    python = await runSetupScript('scripts/compat/install-python-client.sh');
    srv = await startConnectorTestServer();
  },
  { timeout: 900_000 },
);
after(async () => {
  await srv?.close();
});

describe('Python livekit-api ConnectorService against the connector', () => {
  it('runs the whole scenario: every field arrives, every answer and error surfaces', async () => {
    const outcomes = await runCompatClient(
      `${REPO_ROOT}${python}`,
      ['test/compat/python/connector_compat_client.py', SCENARIO_PATH],
      {
        CONNECTOR_URL: srv.url,
        LIVEKIT_API_KEY: TEST_API_KEY,
        LIVEKIT_API_SECRET: TEST_API_SECRET,
        EXPIRED_TOKEN: await signTestToken({ expiresIn: -3600 }),
      },
    );
    assertScenarioOutcomes(loadScenario(), outcomes, srv.backend);
  });
});
