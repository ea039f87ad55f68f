/** Exit codes: 0 ok, 1 failure, 2 bad usage or configuration, 3 no call permission. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_NO_PERMISSION = 3;

/** A failure the CLI reports as one line and an exit code (no stack trace). */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
  }
}
