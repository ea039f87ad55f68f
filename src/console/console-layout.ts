import { html, type Html } from './html.js';

/** Where the console is served. */
export const CONSOLE_PATH = '/console/';

/** The pages, in navigation order. */
export const CONSOLE_PAGES = [
  { id: 'calls', path: `${CONSOLE_PATH}calls`, title: 'Live calls' },
  { id: 'ended', path: `${CONSOLE_PATH}ended`, title: 'Ended calls' },
  { id: 'webhooks', path: `${CONSOLE_PATH}webhooks`, title: 'Webhooks' },
  { id: 'permissions', path: `${CONSOLE_PATH}permissions`, title: 'Call permissions' },
  { id: 'cluster', path: `${CONSOLE_PATH}cluster`, title: 'Instances' },
  { id: 'bench', path: `${CONSOLE_PATH}bench`, title: 'Benchmark' },
] as const;

export type ConsolePageId = (typeof CONSOLE_PAGES)[number]['id'];

/** A message shown once at the top of the next page (after an action). */
export interface Notice {
  kind: 'ok' | 'error';
  text: string;
}

/** What every signed-in page shows around its content. */
export interface PageFrame {
  page: ConsolePageId;
  /** The API key the operator signed in with. */
  operator: string;
  instanceId: string;
  csrfToken: string;
  notice: Notice | undefined;
}

/** The hidden field every form of a session carries. */
export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}" />`;
}

function document(title: string, page: string, body: Html): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <link rel="icon" href="${CONSOLE_PATH}assets/favicon.svg" type="image/svg+xml" />
        <title>${title} · whatsapp-connector console</title>
        <link rel="stylesheet" href="${CONSOLE_PATH}assets/console.css" />
        <script src="${CONSOLE_PATH}assets/console.js" defer></script>
      </head>
      <body data-page="${page}">
        ${body}
      </body>
    </html> `;
}

export function noticeBox(notice: Notice | undefined): Html {
  if (!notice) return html``;
  return html`<p
    class="notice notice-${notice.kind}"
    role="${notice.kind === 'error' ? 'alert' : 'status'}"
  >
    ${notice.text}
  </p>`;
}

/** A signed-in page: top bar with navigation and sign-out, then the content. */
export function consolePage(frame: PageFrame, content: Html): Html {
  const current = CONSOLE_PAGES.find((p) => p.id === frame.page);
  const nav = CONSOLE_PAGES.map(
    (p) =>
      html`<li>
        <a href="${p.path}" ${p.id === frame.page ? html` aria-current="page"` : ''}>${p.title}</a>
      </li>`,
  );
  return document(
    current?.title ?? 'Console',
    frame.page,
    html`<a class="skip-link" href="#content">Skip to content</a>
      <header class="topbar">
        <p class="brand">whatsapp-connector <span>console</span></p>
        <nav aria-label="Console pages">
          <ul>
            ${nav}
          </ul>
        </nav>
        <div class="session">
          <p>
            Signed in with <strong>${frame.operator}</strong> · instance
            <span class="mono">${frame.instanceId}</span>
          </p>
          <form method="post" action="${CONSOLE_PATH}sign-out">
            ${csrfField(frame.csrfToken)}<button type="submit" class="secondary">Sign out</button>
          </form>
        </div>
      </header>
      <main id="content" tabindex="-1">${noticeBox(frame.notice)} ${content}</main>`,
  );
}

/** A page outside a session (the sign-in page). */
export function publicPage(title: string, page: string, content: Html): Html {
  return document(
    title,
    page,
    html`<main id="content" class="public">
      <p class="brand">whatsapp-connector <span>console</span></p>
      ${content}
    </main>`,
  );
}
