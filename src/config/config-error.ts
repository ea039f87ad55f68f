/** A setting that is missing or invalid; the message names it as a user would write it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    /** The setting at fault, as a user would write it (env var name or YAML path). */
    readonly setting: string,
    message: string,
  ) {
    super(`invalid configuration: ${setting}: ${message}`);
  }
}
