/**
 * Serves the softphone page (`/softphone/`): plain HTML, CSS and browser JavaScript from
 * `src/simulator/softphone/`, with a content security policy that allows nothing but this origin,
 * so the page works offline and never loads a CDN or an external font.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

const ASSETS: Record<string, { file: string; type: string }> = {
  '/softphone/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/softphone/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/softphone/softphone.css': { file: 'softphone.css', type: 'text/css; charset=utf-8' },
  '/softphone/softphone.js': { file: 'softphone.js', type: 'text/javascript; charset=utf-8' },
};

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "media-src 'self' blob: mediastream:",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The assets sit next to this module in the sources; a compiled build (dist/simulator/) does not
 * copy them, so it reads them from the package's src/ folder.
 */
function assetDirectory(): string {
  const beside = new URL('./softphone/', import.meta.url);
  if (existsSync(fileURLToPath(beside))) return fileURLToPath(beside);
  return fileURLToPath(new URL('../../src/simulator/softphone/', import.meta.url));
}

const directory = assetDirectory();

export async function serveSoftphonePage(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  if (url.pathname === '/softphone') {
    res.writeHead(308, { Location: `/softphone/${url.search}` }).end();
    return;
  }
  const asset = ASSETS[url.pathname];
  if (!asset || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found');
    return;
  }
  const body = await readFile(`${directory}${asset.file}`);
  res.writeHead(200, {
    'Content-Type': asset.type,
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
