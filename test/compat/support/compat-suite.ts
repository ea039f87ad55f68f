import { after, before, describe, it } from 'node:test';
import {
  signTestToken,
  startConnectorTestServer,
  TEST_API_KEY,
  TEST_API_SECRET,
  type ConnectorTestServer,
} from '../../integration/connector/support/connector-test-server.js';
import {
  assertScenarioOutcomes,
  loadScenario,
  type ScenarioCheckOptions,
} from './connector-compat-scenario.js';
import { runCompatClient, runSetupScript } from './run-compat-client.js';

export interface CompatSuite {
  /** Suite title, naming the SDK and its client class. */
  title: string;
  /** Idempotent script that installs or builds the client; prints what `command` needs. */
  setupScript: string;
  /** The command running the client, from the setup script's output. */
  command: (built: string) => [command: string, args: string[]];
  /** What this SDK cannot send, so the scenario does not expect it. */
  checks?: ScenarioCheckOptions;
}

/**
 * One official SDK runs the shared scenario (connector-scenario.json) against a connector with
 * a recording backend: every request field must arrive decoded, every answer and error surface.
 */
export function defineCompatSuite(suite: CompatSuite): void {
  let srv: ConnectorTestServer;
  let built: string;

  before(
    async () => {
      built = await runSetupScript(suite.setupScript);
      srv = await startConnectorTestServer();
    },
    // A cold build of an SDK client (Rust, Go) takes minutes on two cores.
    { timeout: 900_000 },
  );
  after(async () => {
    await srv?.close();
  });

  describe(suite.title, () => {
    it('runs the whole scenario: every field arrives, every answer and error surfaces', async () => {
      const [command, args] = suite.command(built);
      const outcomes = await runCompatClient(command, args, {
        CONNECTOR_URL: srv.url,
        LIVEKIT_API_KEY: TEST_API_KEY,
        LIVEKIT_API_SECRET: TEST_API_SECRET,
        EXPIRED_TOKEN: await signTestToken({ expiresIn: -3600 }),
      });
      assertScenarioOutcomes(loadScenario(), outcomes, srv, suite.checks);
    });
  });
}
