import { Option } from 'commander';
import { CliError, EXIT_USAGE } from './cli-errors.js';

/**
 * The flag that once took a Meta access token. Secrets on the command line are visible to every
 * user of the machine (`ps`) and stay in shell history, so it only explains what to do instead.
 */
export function refusedAccessTokenFlag(): Option {
  return new Option('--access-token <token>').hideHelp();
}

/** The answer to `--access-token`: where the token goes instead. */
export function accessTokenFlagError(): CliError {
  return new CliError(
    '--access-token is not accepted (command-line arguments are visible in "ps"): set WHATSAPP_ACCESS_TOKEN or WHATSAPP_ACCESS_TOKEN_FILE, or the number\'s access_token in the configuration',
    EXIT_USAGE,
  );
}
