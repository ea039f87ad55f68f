import { CONSOLE_PATH, noticeBox, publicPage } from '../console-layout.js';
import { html, type Html } from '../html.js';

export interface SignInView {
  /** Why the last attempt was refused. */
  error: string | undefined;
  /** API key to pre-fill (dev: the local key; never a secret). */
  apiKey: string;
  /** Where to go after signing in (a console path). */
  next: string;
}

/** The sign-in form: an API key and its secret, or an access token with `roomCreate`. */
export function signInPage(view: SignInView): Html {
  return publicPage(
    'Sign in',
    'sign-in',
    html`<h1>Sign in</h1>
      <p class="lead">
        The console is for the holders of an API key this connector accepts (the LiveKit key, or one
        of <code>CONNECTOR_API_KEYS</code>).
      </p>
      ${noticeBox(view.error ? { kind: 'error', text: view.error } : undefined)}
      <form method="post" action="${CONSOLE_PATH}sign-in" class="sign-in">
        <input type="hidden" name="next" value="${view.next}" />
        <fieldset>
          <legend>API key and secret</legend>
          <label for="api-key">API key</label>
          <input
            id="api-key"
            name="apiKey"
            autocomplete="username"
            spellcheck="false"
            value="${view.apiKey}"
          />
          <label for="api-secret">API secret</label>
          <input id="api-secret" name="apiSecret" type="password" autocomplete="current-password" />
        </fieldset>
        <p class="or">or</p>
        <fieldset>
          <legend>Access token</legend>
          <label for="access-token"
            >LiveKit access token with the <code>roomCreate</code> grant</label
          >
          <input
            id="access-token"
            name="token"
            type="password"
            autocomplete="off"
            spellcheck="false"
          />
        </fieldset>
        <button type="submit">Sign in</button>
      </form>`,
  );
}
