/**
 * The console's stylesheet, page script and icon: plain files in `src/console/assets/`, copied next to
 * the compiled modules by the build (`dist/console/assets/`), served from this origin only.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

function assetDirectory(): string {
  const beside = fileURLToPath(new URL('./assets/', import.meta.url));
  if (existsSync(beside)) return beside;
  // A build made without the asset copy (plain tsc): the sources' copy, in a checkout.
  return fileURLToPath(new URL('../../src/console/assets/', import.meta.url));
}

const directory = assetDirectory();
const cache = new Map<string, Buffer>();

/** An asset by file name, with its content type; undefined for unknown names. */
export async function consoleAsset(
  name: string,
): Promise<{ body: Buffer; type: string } | undefined> {
  const type = Object.hasOwn(TYPES, name) ? TYPES[name] : undefined;
  if (!type) return undefined;
  let body = cache.get(name);
  if (!body) {
    body = await readFile(`${directory}${name}`);
    cache.set(name, body);
  }
  return { body, type };
}
