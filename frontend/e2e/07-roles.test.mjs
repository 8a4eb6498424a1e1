// F29 in the dashboard: API keys and roles. The server starts open (the dashboard says so);
// three keys are created from node (the first, an admin key, by the anonymous admin; the
// uploader and viewer keys with it), which ends open mode. Then in Chromium: the sign-in screen;
// a viewer sees no upload page, no replay control, no registry action; an uploader uploads a
// CIFAR-10 image through the Upload page and sees its predictions, its pictures loaded with the
// key; an admin lists the keys, creates one (shown once), revokes the viewer's, GraphiQL gets the
// admin's key in its headers; the revoked key no longer signs in, and a key revoked while signed
// in ends the session with a notice.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cifarImages, eventually, launchBrowser, newPage, screenshot, startServer } from './helpers.mjs';

let server;
let browser;
let heads;
/** The keys made from node: `{ key, apiKey: { id, prefix, ... } }` per role. */
const keys = {};
/** The key the admin creates in the browser (a viewer's). */
let extra = null;

const CREATE_KEY = `mutation($name: String!, $role: Role!) {
  createApiKey(name: $name, role: $role) { key apiKey { id name role prefix revokedAt } }
}`;
const STORAGE_KEY = 'vision.apiKey';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  // Asked while the server still runs open (the helper asks anonymously).
  ({ heads } = await server.bundle());
  assert.ok(heads.length > 0);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The page's problems, less the browser's log of the 401 answers this file provokes on purpose. */
function problems(page) {
  return page.problems().filter((p) => !/status of 401 \(Unauthorized\)/.test(p));
}

/** `me` asked from node with `key`: the HTTP status and the body. */
async function meWith(key) {
  const r = await fetch(`${server.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ query: '{ me { actor role open } }' }),
  });
  return { status: r.status, body: await r.json() };
}

/** Opens the dashboard at `hash` on the sign-in screen and signs in with `key`, as a user pasting it. */
async function signIn(page, key, hash = '#/') {
  await page.goto(`${server.baseUrl}/${hash}`);
  await page.getByTestId('signin').waitFor({ timeout: 15_000 });
  await page.getByTestId('signin-key').fill(key);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('account').waitFor({ timeout: 15_000 });
}

async function freshPage(t) {
  const page = await newPage(browser);
  t.after(() => page.context().close());
  return page;
}

test('open: the dashboard says no key is needed; the first key (from node) ends open mode', async (t) => {
  const page = await freshPage(t);
  await page.goto(`${server.baseUrl}/#/keys`);
  const notice = page.getByTestId('open-notice');
  await notice.waitFor({ timeout: 15_000 });
  assert.match(await notice.textContent(), /open: no API key required \(development\)/);
  const account = page.getByTestId('account');
  assert.equal(await account.getAttribute('data-role'), 'ADMIN', 'anonymous callers are admins while open');
  assert.equal(await account.getAttribute('data-open'), 'true');
  assert.equal(await account.getAttribute('data-actor'), 'anonymous');
  assert.equal(await page.getByTestId('sign-out').count(), 0, 'nothing to sign out of');
  // Everything is shown, the Keys page too (no key yet).
  for (const nav of ['upload', 'live', 'models', 'keys']) await page.getByTestId(`nav-${nav}`).waitFor();
  await page.getByTestId('keys-empty').waitFor({ timeout: 10_000 });
  await page.getByTestId('socket-state').and(page.locator('[data-state="connected"]')).waitFor({ timeout: 10_000 });
  await screenshot(page, 'roles-open');

  // The keys, from node: the first by the anonymous admin, the others with the admin key.
  keys.ADMIN = (await server.gql(CREATE_KEY, { name: 'e2e admin', role: 'ADMIN' })).createApiKey;
  const anonymous = await meWith(null);
  assert.equal(anonymous.status, 401, 'the first key ends open mode');
  assert.equal(anonymous.body.errors[0].extensions.code, 'UNAUTHENTICATED');
  keys.UPLOADER = (await server.gql(CREATE_KEY, { name: 'e2e uploader', role: 'UPLOADER' }, { key: keys.ADMIN.key })).createApiKey;
  keys.VIEWER = (await server.gql(CREATE_KEY, { name: 'e2e viewer', role: 'VIEWER' }, { key: keys.ADMIN.key })).createApiKey;
  for (const role of ['ADMIN', 'UPLOADER', 'VIEWER']) {
    assert.match(keys[role].key, /^vsk_/);
    assert.ok(keys[role].key.startsWith(keys[role].apiKey.prefix), 'the prefix is the key\'s beginning');
    const { status, body } = await meWith(keys[role].key);
    assert.equal(status, 200);
    assert.deepEqual(body.data.me, { actor: `key:${keys[role].apiKey.id}`, role, open: false });
  }

  // The page that was open learns it at its next request: the sign-in screen says why.
  await page.getByTestId('nav-history').click();
  await page.getByTestId('signin').waitFor({ timeout: 15_000 });
  assert.match(await page.getByTestId('signin-notice').textContent(), /API keys are now required/);
  assert.deepEqual(problems(page), [], 'no error in the page');
});

test('the dashboard asks for a key; a viewer sees no upload, no replay control, no registry action', async (t) => {
  const page = await freshPage(t);
  await page.goto(`${server.baseUrl}/`);
  await page.getByTestId('signin').waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId('signin-notice').count(), 0, 'no notice on a first visit');
  assert.equal(await page.getByTestId('nav').count(), 0, 'nothing of the dashboard before signing in');
  await screenshot(page, 'roles-signin');

  await page.getByTestId('signin-key').fill(keys.VIEWER.key);
  await page.getByTestId('signin-submit').click();
  const account = page.getByTestId('account');
  await account.waitFor({ timeout: 15_000 });
  assert.equal(await account.getAttribute('data-role'), 'VIEWER');
  assert.equal(await account.getAttribute('data-open'), 'false');
  assert.equal(await page.getByTestId('whoami-key').textContent(), `${keys.VIEWER.apiKey.prefix}…`);
  assert.equal(await page.evaluate((k) => localStorage.getItem(k), STORAGE_KEY), keys.VIEWER.key, 'the key is remembered');
  assert.equal(await page.getByTestId('open-notice').count(), 0);
  // The socket's connection_init carried the key (a refused one is closed with 4401).
  await page.getByTestId('socket-state').and(page.locator('[data-state="connected"]')).waitFor({ timeout: 10_000 });

  // No upload anywhere, no Keys page.
  await page.getByTestId('health').waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId('nav-upload').count(), 0, 'no Upload in the menu');
  assert.equal(await page.getByTestId('nav-keys').count(), 0, 'no Keys in the menu');
  assert.equal(await page.getByTestId('hero-upload').count(), 0, 'no upload button on the overview');
  await page.goto(`${server.baseUrl}/#/upload`);
  await page.getByTestId('needs-role').waitFor({ timeout: 10_000 });
  assert.equal(await page.getByTestId('needs-role-message').getAttribute('data-needs'), 'UPLOADER');
  assert.equal(await page.getByTestId('file-input').count(), 0, 'no file input');
  await page.goto(`${server.baseUrl}/#/keys`);
  await page.getByTestId('needs-role').waitFor({ timeout: 10_000 });

  // Live: replays are watched, not started; no webcam (it uploads).
  await page.goto(`${server.baseUrl}/#/live`);
  await page.getByTestId('replay-readonly').waitFor({ timeout: 10_000 });
  assert.equal(await page.getByTestId('replay-start').count(), 0, 'no replay start');
  assert.equal(await page.getByTestId('replay-stop').count(), 0, 'no replay stop');
  assert.equal(await page.getByTestId('webcam-panel').count(), 0, 'no webcam');
  await page.getByTestId('live-feed').waitFor();

  // Models: the registry is shown, without its actions.
  await page.goto(`${server.baseUrl}/#/models`);
  await page.getByTestId('version-row').first().waitFor({ timeout: 15_000 });
  for (const action of ['promote', 'archive', 'make-shadow', 'start-ab', 'rollback', 'stop-shadow', 'stop-ab', 'reason', 'register']) {
    assert.equal(await page.getByTestId(action).count(), 0, `no ${action} for a viewer`);
  }
  await page.getByTestId('version-more').first().waitFor();
  await screenshot(page, 'roles-viewer-models');

  // Still signed in after a reload; signing out forgets the key.
  await page.reload();
  await page.getByTestId('account').and(page.locator('[data-role="VIEWER"]')).waitFor({ timeout: 15_000 });
  await page.getByTestId('sign-out').click();
  await page.getByTestId('signin').waitFor({ timeout: 15_000 });
  assert.match(await page.getByTestId('signin-notice').textContent(), /Signed out/);
  assert.equal(await page.evaluate((k) => localStorage.getItem(k), STORAGE_KEY), null, 'the key is forgotten');
  assert.deepEqual(problems(page), [], 'no error in the page');
});

/** Waits until the <img> of `locator` has loaded; its natural size. */
async function loadedImage(locator) {
  await locator.waitFor({ timeout: 15_000 });
  return eventually(
    () => locator.evaluate((img) => (img.complete && img.naturalWidth > 0 ? { w: img.naturalWidth, h: img.naturalHeight, src: img.src } : null)),
    { what: 'the image loaded' },
  );
}

test('an uploader uploads a CIFAR-10 image through the Upload page; its pictures load with the key', async (t) => {
  const page = await freshPage(t);
  await signIn(page, keys.UPLOADER.key);
  assert.equal(await page.getByTestId('account').getAttribute('data-role'), 'UPLOADER');
  await page.getByTestId('nav-upload').waitFor();
  assert.equal(await page.getByTestId('nav-keys').count(), 0, 'no Keys for an uploader');
  await page.getByTestId('hero-upload').waitFor();

  const [cat] = cifarImages('cat', 1);
  await page.getByTestId('nav-upload').click();
  await page.getByTestId('socket-state').and(page.locator('[data-state="connected"]')).waitFor({ timeout: 10_000 });
  await page.locator('[data-testid="label-select"][data-state="ready"]').waitFor({ timeout: 10_000 });
  await page.getByTestId('label-select').selectOption('cat');
  await page.getByTestId('file-input').setInputFiles({ name: cat.name, mimeType: 'image/jpeg', buffer: cat.buffer });
  const card = page.getByTestId('upload-card');
  await card.waitFor({ timeout: 15_000 });
  const id = await card.getAttribute('data-image-id');
  for (const head of heads) await card.getByTestId(`prediction-${head}`).waitFor({ timeout: 30_000 });
  await card.getByTestId('comparison').waitFor({ timeout: 30_000 });
  await page.locator('[data-testid="upload-card"][data-status="COMPLETED"]').waitFor({ timeout: 10_000 });
  const { image } = await server.gql('query($id: ID!) { image(id: $id) { status label source predictions { model predictedClass } } }', { id }, { key: keys.UPLOADER.key });
  assert.equal(image.status, 'COMPLETED');
  assert.equal(image.label, 'cat');
  assert.equal(image.predictions.length, heads.length);
  for (const p of image.predictions) {
    assert.equal(await card.getByTestId(`prediction-${p.model}`).getAttribute('data-class'), p.predictedClass);
  }
  assert.equal((await loadedImage(card.getByTestId('thumb'))).w, 32, 'the card shows the 32x32 picture');
  await screenshot(page, 'roles-uploader-upload');

  // The stored file needs the key: the result page fetches it into an object URL.
  const plain = await fetch(`${server.baseUrl}/images/${id}/file`);
  assert.equal(plain.status, 401, 'the image file without a key is refused');
  await card.getByTestId('result-link').click();
  const result = page.getByTestId('result');
  await result.and(page.locator('[data-status="COMPLETED"]')).waitFor({ timeout: 15_000 });
  const shown = await loadedImage(result.getByTestId('thumb'));
  assert.equal(shown.w, 32, 'the result page shows the stored 32x32 file');
  assert.equal(shown.h, 32);
  assert.match(shown.src, /^blob:/, 'loaded through fetch with the key, as an object URL');
  await screenshot(page, 'roles-uploader-result');

  // History thumbnails too.
  await page.getByTestId('nav-history').click();
  const row = page.locator(`[data-testid="history-row"]`).first();
  await row.waitFor({ timeout: 15_000 });
  assert.ok((await loadedImage(row.getByTestId('thumb'))).w > 0, 'the history thumbnail loaded');

  // Live: the webcam (it uploads), no replay control; Models: no registry action.
  await page.getByTestId('nav-live').click();
  await page.getByTestId('webcam-start').waitFor({ timeout: 10_000 });
  assert.equal(await page.getByTestId('replay-start').count(), 0, 'no replay start for an uploader');
  await page.getByTestId('nav-models').click();
  await page.getByTestId('version-row').first().waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId('promote').count(), 0, 'no promote for an uploader');
  assert.equal(await page.getByTestId('register').count(), 0, 'no registration for an uploader');
  assert.deepEqual(problems(page), [], 'no error in the page');
});

/** The text of one of GraphiQL's Monaco editors (spaces as Monaco draws them, made plain). */
async function editorText(page, container) {
  const text = await page.locator(`${container} .monaco-editor .view-lines`).first().innerText();
  return text.replace(/\u00a0/g, ' ');
}

test('an admin lists the keys, creates one (shown once), revokes the viewer key; GraphiQL gets the key', async (t) => {
  const page = await freshPage(t);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.baseUrl });
  await signIn(page, keys.ADMIN.key);
  assert.equal(await page.getByTestId('account').getAttribute('data-role'), 'ADMIN');

  // Every action is there for an admin.
  await page.getByTestId('nav-live').click();
  await page.getByTestId('replay-start').waitFor({ timeout: 10_000 });
  await page.getByTestId('nav-models').click();
  await page.getByTestId('promote').first().waitFor({ timeout: 15_000 });
  await page.getByTestId('register').waitFor();

  // The Keys page lists the three keys, newest first.
  await page.getByTestId('nav-keys').click();
  const rows = page.getByTestId('key-row');
  await eventually(async () => (await rows.count()) === 3, { what: 'three keys listed' });
  const listed = await rows.evaluateAll((els) => els.map((e) => ({ prefix: e.dataset.prefix, name: e.dataset.name, role: e.dataset.role, revoked: e.dataset.revoked })));
  assert.deepEqual(
    listed,
    ['VIEWER', 'UPLOADER', 'ADMIN'].map((role) => ({ prefix: keys[role].apiKey.prefix, name: keys[role].apiKey.name, role, revoked: 'false' })),
  );
  await page.locator(`[data-testid="key-row"][data-prefix="${keys.ADMIN.apiKey.prefix}"] .badge.you`).waitFor();

  // A new key: shown once, with a copy button and the warning.
  await page.getByTestId('key-name').fill('e2e extra');
  await page.getByTestId('key-role').selectOption('VIEWER');
  await page.getByTestId('key-create').click();
  const newKey = page.getByTestId('new-key');
  await newKey.waitFor({ timeout: 10_000 });
  const secret = await newKey.inputValue();
  assert.match(secret, /^vsk_[0-9a-f]{64}$/);
  assert.match(await page.getByTestId('new-key-warning').textContent(), /will not be shown again/);
  await page.getByTestId('copy-key').click();
  await eventually(async () => (await page.getByTestId('copy-key').textContent()) === 'Copied', { what: 'the key copied' });
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret, 'the clipboard holds the key');
  await eventually(async () => (await rows.count()) === 4, { what: 'four keys listed' });
  const extraRow = rows.first();
  assert.equal(await extraRow.getAttribute('data-name'), 'e2e extra');
  assert.ok(secret.startsWith(await extraRow.getAttribute('data-prefix')));
  extra = { key: secret, id: await extraRow.getAttribute('data-id') };
  const me = await meWith(secret);
  assert.equal(me.body.data.me.role, 'VIEWER', 'the new key works, as a viewer');
  await screenshot(page, 'roles-keys-created');
  // Leaving the page and coming back: the key is not shown again.
  await page.getByTestId('nav-home').click();
  await page.getByTestId('nav-keys').click();
  await eventually(async () => (await rows.count()) === 4, { what: 'four keys listed' });
  assert.equal(await page.getByTestId('new-key').count(), 0, 'the key is shown once only');

  // Revoking the viewer key, confirmed first.
  const viewerRow = page.locator(`[data-testid="key-row"][data-prefix="${keys.VIEWER.apiKey.prefix}"]`);
  await viewerRow.getByTestId('key-revoke').click();
  await viewerRow.getByTestId('key-confirm').waitFor();
  assert.equal(await viewerRow.getAttribute('data-revoked'), 'false', 'nothing happens before the confirmation');
  await viewerRow.getByTestId('key-revoke-confirm').click();
  await page.locator(`[data-testid="key-row"][data-prefix="${keys.VIEWER.apiKey.prefix}"][data-revoked="true"]`).waitFor({ timeout: 10_000 });
  assert.match(await viewerRow.getByTestId('key-revoked').textContent(), new RegExp(`revoked.*by key:${keys.ADMIN.apiKey.id}`));
  assert.equal((await meWith(keys.VIEWER.key)).status, 401, 'the revoked key is refused at once');
  await screenshot(page, 'roles-keys');

  // GraphiQL (same origin) starts with the dashboard's key in its headers; its docs load
  // through the standard introspection query, with the key.
  await page.goto(`${server.baseUrl}/graphql`);
  const headers = '.graphiql-editor-tool[aria-label="Headers"] .graphiql-editor:not(.hidden)';
  await page.locator(`${headers} .monaco-editor`).waitFor({ timeout: 30_000 });
  assert.match(await editorText(page, headers), new RegExp(`"Authorization": "Bearer ${keys.ADMIN.key}"`));
  await page.locator('.graphiql-sidebar button[aria-label="Show Documentation Explorer"]').click();
  await eventually(async () => (await page.locator('.graphiql-doc-explorer-root-type').count()) === 3, {
    what: 'the docs with query, mutation and subscription',
  });
  assert.equal(await page.locator('.graphiql-doc-explorer-error').count(), 0, 'no schema error');
  await screenshot(page, 'roles-graphiql');

  // Back to the dashboard: signing out, then in with the revoked key, fails with a clear message.
  await page.goto(`${server.baseUrl}/#/`);
  await page.getByTestId('sign-out').click();
  await page.getByTestId('signin-key').fill(keys.VIEWER.key);
  await page.getByTestId('signin-submit').click();
  const error = page.getByTestId('signin-error');
  await error.waitFor({ timeout: 10_000 });
  assert.equal(await error.getAttribute('data-code'), 'UNAUTHENTICATED');
  assert.match(await error.locator('.error-message').textContent(), /Sign-in failed: the server does not accept this key \(unknown or revoked API key\)/);
  assert.equal(await page.getByTestId('account').count(), 0, 'not signed in');
  assert.equal(await page.evaluate((k) => localStorage.getItem(k), STORAGE_KEY), null, 'the refused key is not kept');
  await screenshot(page, 'roles-revoked-signin');
  assert.deepEqual(problems(page), [], 'no error in the page');
});

test('a key revoked while signed in ends the session at the next request, with a notice', async (t) => {
  assert.ok(extra, 'the key the admin created in the previous test');
  const page = await freshPage(t);
  await signIn(page, extra.key, '#/history');
  await page.getByTestId('history-table').waitFor({ timeout: 15_000 });
  await server.gql('mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }', { id: extra.id }, { key: keys.ADMIN.key });
  // The next request (the Statistics page's; or any the open page makes meanwhile) is refused.
  await page.evaluate(() => {
    globalThis.location.hash = '#/stats';
  });
  await page.getByTestId('signin').waitFor({ timeout: 15_000 });
  assert.match(await page.getByTestId('signin-notice').textContent(), /no longer accepts the API key/);
  assert.equal(await page.evaluate((k) => localStorage.getItem(k), STORAGE_KEY), null, 'the revoked key is forgotten');
  // A stored key that was revoked meanwhile is forgotten at start too.
  await page.evaluate(([k, v]) => localStorage.setItem(k, v), [STORAGE_KEY, extra.key]);
  await page.reload();
  await page.getByTestId('signin').waitFor({ timeout: 15_000 });
  assert.match(await page.getByTestId('signin-notice').textContent(), /stored API key was refused/);
  assert.equal(await page.evaluate((k) => localStorage.getItem(k), STORAGE_KEY), null);
  assert.deepEqual(problems(page), [], 'no error in the page');
});

test('open, the first key created on the Keys page ends open mode and signs the page in with it', async (t) => {
  // A server of its own: the one above is no longer open.
  const own = await startServer();
  t.after(() => own.stop());
  const page = await freshPage(t);
  await page.goto(`${own.baseUrl}/#/keys`);
  await page.getByTestId('keys-empty').waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId('key-role').inputValue(), 'ADMIN', 'the first key is an admin key by default');
  await page.getByTestId('key-name').fill('first admin');
  await page.getByTestId('key-create').click();
  await page.getByTestId('new-key').waitFor({ timeout: 10_000 });
  const secret = await page.getByTestId('new-key').inputValue();
  assert.match(await page.getByTestId('open-ended').textContent(), /ended open mode/);
  // Still on the page (nothing asked again without a key), until signing in with it.
  await page.getByTestId('new-key-signin').click();
  await page.getByTestId('account').and(page.locator('[data-open="false"]')).waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId('account').getAttribute('data-role'), 'ADMIN');
  assert.equal(await page.evaluate((k) => localStorage.getItem(k), STORAGE_KEY), secret);
  assert.equal(await page.getByTestId('open-notice').count(), 0, 'no longer open');
  await eventually(async () => (await page.getByTestId('key-row').count()) === 1, { what: 'the one key listed' });
  assert.equal(await page.getByTestId('new-key').count(), 0, 'the key is not shown again');
  assert.deepEqual(problems(page), [], 'no error in the page');
});
