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
import { runCompatClient, runSetupScript } from './support/run-compat-client.js';

/**
 * Kotlin/JVM SDK (io.livekit:livekit-server 0.13.0, pinned in test/compat/kotlin/pom.xml):
 * protobuf Twirp over Retrofit/OkHttp, JWT without `nbf`. Driven from a small Java program (the SDK
 * is a JVM library; no Kotlin compiler needed). Its bundled protocol predates
 * RoomAgentDispatch.deployment/attributes, so those two agent fields never reach the wire.
 */

let srv: ConnectorTestServer;
let classpath: string;

before(
  async () => {
    classpath = await runSetupScript('scripts/compat/build-kotlin-client.sh');
    srv = await startConnectorTestServer();
  },
  { timeout: 900_000 },
);
after(async () => {
  await srv?.close();
});

describe('Kotlin livekit-server ConnectorServiceClient against the connector', () => {
  it('runs the whole scenario: every field arrives, every answer and error surfaces', async () => {
    const outcomes = await runCompatClient(
      'java',
      ['-cp', classpath, 'compat.ConnectorCompatClient', SCENARIO_PATH],
      {
        CONNECTOR_URL: srv.url,
        LIVEKIT_API_KEY: TEST_API_KEY,
        LIVEKIT_API_SECRET: TEST_API_SECRET,
        EXPIRED_TOKEN: await signTestToken({ expiresIn: -3600 }),
      },
    );
    assertScenarioOutcomes(loadScenario(), outcomes, srv.backend, {
      agentsLackDeploymentAndAttributes: true,
    });
  });
});
