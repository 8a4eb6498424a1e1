// Shared helpers of the client tests: the real `vision serve` on a free port with a fresh data
// directory, GraphQL from plain fetch, CIFAR-10 JPEGs from the shared data set.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** api/tests/clients -> the repository root, three levels up. */
export const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const MODELS_DIR = join(REPO_DIR, 'models');
export const CIFAR10_DIR = process.env.VISION_CIFAR10_DIR || resolve(REPO_DIR, '..', 'shared', 'data', 'cifar10');

/** How long a test waits for one event (an image through the pipeline, a message). */
export const WAIT_MS = 60_000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

/**
 * Starts `$VISION_BIN serve` on a free port with a fresh data directory and waits for
 * `GET /ready` to answer 200. Never skips: a missing VISION_BIN or binary is an error.
 * Returns `{ baseUrl, graphqlUrl, wsUrl, logs, stop, gql, bundle, upload }`.
 */
export async function startServer({ env = {}, readyTimeoutMs = 90_000 } = {}) {
  const bin = process.env.VISION_BIN;
  if (!bin) {
    throw new Error(
      'VISION_BIN is not set: point it at the vision binary, e.g.\n' +
        '  VISION_BIN=/root/.cache/vision/target/debug/vision npm --prefix api/tests/clients test',
    );
  }
  if (!existsSync(bin)) throw new Error(`VISION_BIN=${bin} does not exist (build it with cargo first)`);

  const runtime = env.VISION_RUNTIME ?? (process.env.ORT_DYLIB_PATH ? 'ort' : 'tract');
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'vision-clients-'));
  const serverEnv = {
    ...process.env,
    VISION_ADDR: `127.0.0.1:${port}`,
    VISION_DATA_DIR: dataDir,
    VISION_MODELS_DIR: MODELS_DIR,
    VISION_RUNTIME: runtime,
    RUST_LOG: 'warn',
    ...env,
  };
  const child = spawn(bin, ['serve'], { env: serverEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const keep = (chunk) => {
    for (const line of chunk.toString().split('\n')) if (line) lines.push(line);
    if (lines.length > 400) lines.splice(0, lines.length - 400);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  let spawnError = null;
  const exitedPromise = new Promise((r) => child.on('exit', r));
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  child.on('error', (e) => {
    spawnError = e;
  });

  const baseUrl = `http://127.0.0.1:${port}`;
  const logs = (n = 60) => lines.slice(-n).join('\n');

  async function stop() {
    if (!exited && !spawnError) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exitedPromise;
      clearTimeout(t);
    }
    rmSync(dataDir, { recursive: true, force: true });
  }

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (spawnError || exited) {
      await stop();
      throw new Error(
        `vision serve ${spawnError ? `could not start (${spawnError.message})` : `exited early (${JSON.stringify(exited)})`}; its last lines:\n${logs()}`,
      );
    }
    try {
      const r = await fetch(`${baseUrl}/ready`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`vision serve not ready after ${readyTimeoutMs} ms; its last lines:\n${logs()}`);
    }
    await sleep(250);
  }

  const graphqlUrl = `${baseUrl}/graphql`;
  const wsUrl = `ws://127.0.0.1:${port}/graphql`;

  /** A query or mutation by POST (JSON); throws on GraphQL errors. */
  async function gql(query, variables = {}) {
    const r = await fetch(graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
      body: JSON.stringify({ query, variables }),
    });
    const text = await r.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`POST /graphql answered ${r.status} with a body that is not JSON: ${text.slice(0, 300)}`);
    }
    if (body.errors) throw new Error(`GraphQL errors (HTTP ${r.status}): ${JSON.stringify(body.errors)}`);
    return body.data;
  }

  /** The classes and the CLASSIFIER models the server serves (never a copy of our own). */
  async function bundle() {
    const { classes, models } = await gql('{ classes models { name version kind shadow } }');
    const heads = models.filter((m) => m.kind === 'CLASSIFIER');
    if (heads.length === 0) throw new Error(`the server serves no classifier head: ${JSON.stringify(models)}`);
    return { classes, heads, models };
  }

  /**
   * `uploadImage` as a plain multipart request (GraphQL multipart request spec), with the
   * `apollo-require-preflight` header a CSRF-protected server asks for.
   */
  async function upload(image, { label = image.cls } = {}) {
    const form = new FormData();
    form.append(
      'operations',
      JSON.stringify({
        query: 'mutation($f: Upload!, $l: String) { uploadImage(file: $f, label: $l) { id status label } }',
        variables: { f: null, l: label },
      }),
    );
    form.append('map', JSON.stringify({ 0: ['variables.f'] }));
    form.append('0', new Blob([image.buffer], { type: image.mimeType }), image.name);
    const r = await fetch(graphqlUrl, { method: 'POST', body: form, headers: { 'apollo-require-preflight': 'true' } });
    const body = await r.json();
    if (body.errors) throw new Error(`upload failed (HTTP ${r.status}): ${JSON.stringify(body.errors)}`);
    return body.data.uploadImage;
  }

  return { baseUrl, graphqlUrl, wsUrl, port, dataDir, runtime, logs, stop, gql, bundle, upload };
}

let cifarCache = null;

/** Every JPEG of CIFAR-10's test.tar.gz as `{ name, mimeType, buffer, cls }` (a minimal ustar reader). */
function cifarTestJpegs() {
  if (cifarCache) return cifarCache;
  const archive = join(CIFAR10_DIR, 'test.tar.gz');
  if (!existsSync(archive)) throw new Error(`CIFAR-10 archive missing: ${archive} (set VISION_CIFAR10_DIR)`);
  const tar = gunzipSync(readFileSync(archive));
  const out = [];
  let off = 0;
  let longName = null;
  while (off + 512 <= tar.length) {
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
      if ((type === '0' || type === '\0') && parts.length >= 2 && /\.jpe?g$/i.test(name)) {
        const cls = parts[parts.length - 2];
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
  cifarCache = out;
  return out;
}

/**
 * `count` CIFAR-10 test JPEGs of distinct classes (in the order of `classes` when given), as
 * `{ name, mimeType, buffer, cls }`; `skip` takes later images of each class.
 */
export function cifarImages(count, { classes = null, skip = 0 } = {}) {
  const all = cifarTestJpegs();
  const order = classes ?? [...new Set(all.map((i) => i.cls))].sort();
  const out = [];
  for (const cls of order) {
    if (out.length === count) break;
    const img = all.filter((i) => i.cls === cls)[skip];
    if (img) out.push(img);
  }
  if (out.length < count) throw new Error(`only ${out.length} CIFAR-10 images of distinct classes found (wanted ${count})`);
  return out;
}

/** Rejects with `what` after `ms` unless `promise` settles first. */
export function withTimeout(promise, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

/**
 * Checks an `Image` delivered by `imageCompleted`: its id, status COMPLETED, its label, and one
 * prediction per served head (model names and versions as `models` says), each predicting one
 * of `classes` with a confidence in (0, 1] and `correct` matching the label.
 */
export function checkCompletedImage(assert, image, { id, label, classes, heads }) {
  assert.equal(image.id, id, 'the completed image is the uploaded one');
  assert.equal(image.status, 'COMPLETED');
  assert.equal(image.label, label);
  assert.ok(Array.isArray(image.predictions), 'predictions is a list');
  assert.ok(heads.length >= 1, 'the server serves at least one head');
  const expected = heads.map((h) => `${h.name}@${h.version}`).sort();
  const got = image.predictions.map((p) => `${p.model}@${p.modelVersion}`).sort();
  assert.deepEqual(got, expected, 'one prediction per served head version');
  for (const p of image.predictions) {
    assert.equal(p.imageId, id);
    assert.ok(classes.includes(p.predictedClass), `${p.predictedClass} is one of ${classes.join(', ')}`);
    assert.ok(p.confidence > 0 && p.confidence <= 1, `confidence ${p.confidence} in (0, 1]`);
    assert.equal(p.correct, p.predictedClass === label, 'correct matches the label');
  }
}

/** The selection of an `Image` that `checkCompletedImage` reads. */
export const COMPLETED_IMAGE_FIELDS = `
  id status label
  predictions { id imageId model modelVersion predictedClass confidence correct }
`;

/**
 * Collects what a subscription delivers: `push(value)` from its `next`, `fail(error)` from its
 * `error`; `waitFor(predicate, what)` resolves with the first value (past or future) matching
 * `predicate`, and rejects on a subscription error or after `ms`.
 */
export function collector() {
  const values = [];
  const waiters = [];
  let failure = null;
  const settle = () => {
    for (const w of [...waiters]) {
      const hit = values.find(w.predicate);
      if (hit !== undefined || failure) {
        waiters.splice(waiters.indexOf(w), 1);
        if (hit !== undefined) w.resolve(hit);
        else w.reject(failure);
      }
    }
  };
  return {
    values,
    push(value) {
      values.push(value);
      settle();
    },
    fail(error) {
      failure = error instanceof Error ? error : new Error(`subscription error: ${JSON.stringify(error)}`);
      settle();
    },
    waitFor(predicate, what, ms = WAIT_MS) {
      const p = new Promise((resolve, reject) => {
        waiters.push({ predicate, resolve, reject });
        settle();
      });
      return withTimeout(p, ms, `${what} (received so far: ${JSON.stringify(values).slice(0, 600)})`);
    },
  };
}

/** The classes of the model bundle the server is started with (models/manifest.json). */
export function manifestClasses() {
  return JSON.parse(readFileSync(join(MODELS_DIR, 'manifest.json'), 'utf8')).classes;
}
