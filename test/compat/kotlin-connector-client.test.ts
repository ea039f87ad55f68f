import { SCENARIO_PATH } from './support/connector-compat-scenario.js';
import { defineCompatSuite } from './support/compat-suite.js';

/**
 * Kotlin/JVM SDK (io.livekit:livekit-server 0.13.0, pinned in test/compat/kotlin/pom.xml):
 * protobuf Twirp over Retrofit/OkHttp, JWT without `nbf`. Driven from a small Java program (the SDK
 * is a JVM library; no Kotlin compiler needed). Its bundled protocol predates
 * RoomAgentDispatch.deployment/attributes, so those two agent fields never reach the wire.
 */
defineCompatSuite({
  title: 'Kotlin livekit-server ConnectorServiceClient against the connector',
  setupScript: 'scripts/compat/build-kotlin-client.sh',
  command: (classpath) => [
    'java',
    ['-cp', classpath, 'compat.ConnectorCompatClient', SCENARIO_PATH],
  ],
  checks: { agentsLackDeploymentAndAttributes: true },
});
