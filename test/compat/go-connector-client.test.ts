import { SCENARIO_PATH } from './support/connector-compat-scenario.js';
import { defineCompatSuite } from './support/compat-suite.js';
import { REPO_ROOT } from './support/run-compat-client.js';

/**
 * Go SDK (github.com/livekit/server-sdk-go/v2, pinned in test/compat/go/go.mod): the generated
 * protobuf Twirp client with livekit's xtwirp client options, built once into .tools/compat.
 */
defineCompatSuite({
  title: 'Go server-sdk-go ConnectorClient against the connector',
  setupScript: 'scripts/compat/build-go-client.sh',
  command: (binary) => [`${REPO_ROOT}${binary}`, [SCENARIO_PATH]],
});
