import { SCENARIO_PATH } from './support/connector-compat-scenario.js';
import { defineCompatSuite } from './support/compat-suite.js';
import { REPO_ROOT } from './support/run-compat-client.js';

/**
 * Rust SDK (crate livekit-api 0.10.0, pinned in test/compat/rust/Cargo.toml and Cargo.lock):
 * protobuf Twirp client (reqwest + prost), built once into .tools/compat. It cannot send
 * `ringing_timeout` at all, so the server default (30 s) must fill it for Dial and Accept.
 */
defineCompatSuite({
  title: 'Rust livekit-api ConnectorClient against the connector',
  setupScript: 'scripts/compat/build-rust-client.sh',
  command: (binary) => [`${REPO_ROOT}${binary}`, [SCENARIO_PATH]],
  checks: { dialOmitsRingingTimeout: true, acceptOmitsRingingTimeout: true },
});
