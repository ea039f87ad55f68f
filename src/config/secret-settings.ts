/**
 * Where secrets may come from, and what a usable one looks like. Secrets are read from the
 * environment, from files, or from the YAML file, never from command-line flags: a flag shows in
 * `ps`, in shell history and in process accounting. Every secret variable `X` can also be given as
 * `X_FILE`, the path of a file that holds it (Docker and Kubernetes secrets).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError } from './config-error.js';

/** The environment variables that carry secrets; each also has an `_FILE` form. */
export const SECRET_VARIABLES = [
  'LIVEKIT_API_SECRET',
  'CONNECTOR_API_KEYS',
  'WHATSAPP_APP_SECRET',
  'WHATSAPP_VERIFY_TOKEN',
  'WHATSAPP_ACCESS_TOKEN',
  'REDIS_URL',
] as const;

export type SecretVariable = (typeof SECRET_VARIABLES)[number];

/**
 * Shortest API secret accepted, in characters. LiveKit's server refuses shorter ones for the same
 * reason: the secret signs every access token (HS256), and a short one can be brute-forced offline
 * from a single token.
 */
export const MIN_API_SECRET_LENGTH = 32;

/**
 * The value of secret variable `name`: `name` itself, or the content of the file `name_FILE`
 * names (one trailing newline dropped, as `echo` and editors leave one).
 * @throws ConfigError naming the variable when both are set or the file cannot be read.
 */
export function readSecretVariable(
  env: NodeJS.ProcessEnv,
  name: SecretVariable,
): string | undefined {
  const fileVariable = `${name}_FILE`;
  const path = env[fileVariable];
  if (path === undefined || path === '') return env[name];
  if (env[name] !== undefined && env[name] !== '') {
    throw new ConfigError(fileVariable, `set either ${name} or ${fileVariable}, not both`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    // The error names the path and the reason, never the content.
    throw new ConfigError(fileVariable, `cannot read ${path}: ${(err as Error).message}`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new ConfigError(fileVariable, `${path} is empty`);
  return value;
}

/**
 * Replace every `X_FILE` secret variable of `env` by `X` with the file's content, in place, so that
 * code reading `process.env.X` sees file-provided secrets too. The CLI does this once at start.
 * @throws ConfigError naming the variable at fault.
 */
export function resolveSecretFiles(env: NodeJS.ProcessEnv): void {
  for (const name of SECRET_VARIABLES) {
    const fileVariable = `${name}_FILE`;
    if (env[fileVariable] === undefined || env[fileVariable] === '') continue;
    const value = readSecretVariable(env, name);
    env[name] = value;
    delete env[fileVariable];
  }
}

/**
 * Refuse an API secret shorter than {@link MIN_API_SECRET_LENGTH}.
 * @param setting - where it came from, as the user wrote it (e.g. `LIVEKIT_API_SECRET`).
 * @throws ConfigError naming the setting, with its length but never the secret.
 */
export function checkApiSecret(setting: string, secret: string): void {
  if (secret.length < MIN_API_SECRET_LENGTH) {
    throw new ConfigError(
      setting,
      `API secrets must be at least ${MIN_API_SECRET_LENGTH} characters, this one has ${secret.length} (generate one with: openssl rand -base64 32)`,
    );
  }
}

/** True for `localhost` and addresses in 127.0.0.0/8 or `::1` (a URL's hostname, brackets allowed). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** A URL with its password (and a user name standing alone, which Redis uses as one) hidden. */
export function redactUrlCredentials(value: string): string {
  try {
    const url = new URL(value);
    if (!url.password && !url.username) return value;
    if (url.password) url.password = '***';
    else url.username = '***';
    return url.toString();
  } catch {
    return '(not a URL)';
  }
}
