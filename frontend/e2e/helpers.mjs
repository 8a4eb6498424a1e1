// Shared helpers of the browser end-to-end tests: the real `vision` server, Debian's Chromium
// through playwright-core, CIFAR-10 images, GraphQL from node, screenshots.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

export const FRONTEND_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(FRONTEND_DIR, '..');
export const DIST_DIR = join(FRONTEND_DIR, 'dist');
export const ARTIFACTS_DIR = join(FRONTEND_DIR, 'test-artifacts');
export const CIFAR10_DIR = process.env.VISION_CIFAR10_DIR || resolve(REPO_DIR, '..', 'shared', 'data', 'cifar10');

function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `<VISION_BIN> serve` on a free port with a fresh data directory and waits for
 * `GET /ready` to answer 200. Never skips: a missing binary or dist is an error.
 * `env` overrides the server's environment (e.g. VISION_CIFAR10_DIR).
 */
export async function startServer({ env = {}, readyTimeoutMs = 60_000 } = {}) {
  const bin = process.env.VISION_BIN;
  if (!bin) {
    throw new Error(
      'VISION_BIN is not set: point it at the vision binary, e.g.\n' +
        '  VISION_BIN=/root/.cache/vision/target/debug/vision npm test',
    );
  }
  if (!existsSync(bin)) throw new Error(`VISION_BIN=${bin} does not exist (build it with cargo first)`);
  if (!existsSync(join(DIST_DIR, 'index.html'))) {
    throw new Error(`${DIST_DIR}/index.html is missing: run \`npm run build\` first (npm test does it in pretest)`);
  }

  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'vision-e2e-'));
  const serverEnv = {
    ...process.env,
    VISION_ADDR: `127.0.0.1:${port}`,
    VISION_DATA_DIR: dataDir,
    VISION_MODELS_DIR: join(REPO_DIR, 'models'),
    VISION_FRONTEND_DIR: DIST_DIR,
    VISION_CIFAR10_DIR: CIFAR10_DIR,
    VISION_RUNTIME: process.env.ORT_DYLIB_PATH ? 'ort' : 'tract',
    RUST_LOG: process.env.RUST_LOG || 'warn',
    ...env,
  };
  const child = spawn(bin, ['serve'], { env: serverEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const keep = (chunk) => {
    for (const line of chunk.toString().split('\n')) {
      if (line) lines.push(line);
    }
    if (lines.length > 400) lines.splice(0, lines.length - 400);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });

  const baseUrl = `http://127.0.0.1:${port}`;
  const logs = () => lines.slice(-80).join('\n');
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited) {
      throw new Error(`vision serve exited early (${JSON.stringify(exited)}); its output:\n${logs()}`);
    }
    try {
      const r = await fetch(`${baseUrl}/ready`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`vision serve not ready after ${readyTimeoutMs} ms; its output:\n${logs()}`);
    }
    await sleep(250);
  }

  async function stop() {
    if (!exited) {
      child.kill('SIGTERM');
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    }
    rmSync(dataDir, { recursive: true, force: true });
  }

  /**
   * A GraphQL query or mutation from node; throws on errors unless `allowErrors`. `key`: an API
   * key, sent as `Authorization: Bearer <key>` (none: the anonymous caller).
   */
  async function gql(query, variables = {}, { allowErrors = false, key = null } = {}) {
    const r = await fetch(`${baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = await r.json();
    if (body.errors && !allowErrors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
    return allowErrors ? body : body.data;
  }

  /**
   * The model bundle the server serves, as the dashboard reads it: `classes` (the heads' output
   * order), `heads` (the distinct CLASSIFIER names of `models`, in order) and `headVersions`
   * (every CLASSIFIER entry of `models` as `{ model, version }`, in order: a head may be served
   * in several versions). The tests take the heads and classes from here, never from a copy of
   * their own.
   */
  async function bundle() {
    const { classes, models } = await gql('{ classes models { name version kind } }');
    const classifiers = models.filter((m) => m.kind === 'CLASSIFIER');
    const heads = [...new Set(classifiers.map((m) => m.name))];
    const headVersions = classifiers.map((m) => ({ model: m.name, version: m.version }));
    return { classes, heads, headVersions, models };
  }

  /** `uploadImage` through the GraphQL multipart request spec. */
  async function upload(file, { label = null, source = undefined } = {}) {
    const form = new FormData();
    form.append(
      'operations',
      JSON.stringify({
        query: 'mutation($f: Upload!, $l: String, $s: String) { uploadImage(file: $f, label: $l, source: $s) { id status } }',
        variables: { f: null, l: label, s: source ?? 'upload' },
      }),
    );
    form.append('map', JSON.stringify({ 0: ['variables.f'] }));
    form.append('0', new Blob([file.buffer], { type: file.mimeType }), file.name);
    // The gateway refuses a multipart POST without this header (CSRF).
    const r = await fetch(`${baseUrl}/graphql`, { method: 'POST', body: form, headers: { 'apollo-require-preflight': 'true' } });
    const body = await r.json();
    if (body.errors) throw new Error(`upload failed: ${JSON.stringify(body.errors)}`);
    return body.data.uploadImage;
  }

  /** Waits until `image(id)` is COMPLETED (or FAILED, which throws). */
  async function waitCompleted(id, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { image } = await gql('query($id: ID!) { image(id: $id) { status failureReason } }', { id });
      if (image?.status === 'COMPLETED') return image;
      if (image?.status === 'FAILED') throw new Error(`image ${id} failed: ${image.failureReason}`);
      if (Date.now() > deadline) throw new Error(`image ${id} not completed after ${timeoutMs} ms (${image?.status})`);
      await sleep(200);
    }
  }

  return { baseUrl, port, dataDir, logs, stop, gql, bundle, upload, waitCompleted, child };
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium not found at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH)`);
  }
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS });
}

/**
 * A page that records console errors and uncaught exceptions (`problems()`), so a test can
 * fail on a crashing page.
 */
export async function newPage(browser, { width = 1360, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1 });
  await context.grantPermissions(['camera']).catch(() => undefined);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  page.problems = () => problems;
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * The first `count` JPEGs of `test/<cls>/` in CIFAR-10's test.tar.gz, as
 * `{ name, mimeType, buffer, cls }` (a minimal reader of the ustar format).
 */
export function cifarImages(cls, count, { split = 'test' } = {}) {
  const archive = join(CIFAR10_DIR, `${split}.tar.gz`);
  if (!existsSync(archive)) throw new Error(`CIFAR-10 archive missing: ${archive} (set VISION_CIFAR10_DIR)`);
  const tar = gunzipSync(readFileSync(archive));
  const out = [];
  let off = 0;
  let longName = null;
  while (off + 512 <= tar.length && out.length < count) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start, len) => header.subarray(start, start + len).toString('latin1').replace(/\0.*$/s, '');
    let name = field(0, 100);
    const prefix = field(345, 155);
    if (prefix) name = `${prefix}/${name}`;
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 48);
    const dataStart = off + 512;
    if (type === 'L') {
      longName = tar.subarray(dataStart, dataStart + size).toString('latin1').replace(/\0.*$/s, '');
    } else {
      if (longName) {
        name = longName;
        longName = null;
      }
      const parts = name.split('/').filter(Boolean);
      if ((type === '0' || type === '\0') && parts.length >= 2 && parts[parts.length - 2] === cls && /\.jpe?g$/i.test(name)) {
        out.push({
          name: `${cls}-${parts[parts.length - 1]}`,
          mimeType: 'image/jpeg',
          buffer: Buffer.from(tar.subarray(dataStart, dataStart + size)),
          cls,
        });
      }
    }
    off = dataStart + Math.ceil(size / 512) * 512;
  }
  if (out.length < count) throw new Error(`only ${out.length} ${cls} images found in ${archive}`);
  return out;
}

/** Polls `fn` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function eventually(fn, { timeoutMs = 20_000, intervalMs = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(intervalMs);
  }
}

/** Counts the non-transparent pixels of the first canvas under `selector`. */
export async function paintedPixels(page, selector) {
  return page.$eval(`${selector} canvas`, (canvas) => {
    const ctx = canvas.getContext('2d');
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
    return n;
  });
}
