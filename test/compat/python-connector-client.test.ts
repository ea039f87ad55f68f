import { SCENARIO_PATH } from './support/connector-compat-scenario.js';
import { defineCompatSuite } from './support/compat-suite.js';
import { REPO_ROOT } from './support/run-compat-client.js';

/**
 * Python SDK (PyPI livekit-api, pinned in scripts/compat/install-python-client.sh, installed
 * into the git-ignored .venv): protobuf Twirp client with lowercase `authorization` header.
 */
defineCompatSuite({
  title: 'Python livekit-api ConnectorService against the connector',
  setupScript: 'scripts/compat/install-python-client.sh',
  command: (python) => [
    `${REPO_ROOT}${python}`,
    ['test/compat/python/connector_compat_client.py', SCENARIO_PATH],
  ],
});
