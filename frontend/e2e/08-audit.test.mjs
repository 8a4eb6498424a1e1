// F25 in the dashboard: the audit log, for admins. The server starts open; from node an admin key
// (by the anonymous admin) and a viewer key (with the admin key) are created, the viewer tries an
// admin mutation (`startReplay`: FORBIDDEN), a request comes with a bogus key (`authenticate`:
// UNAUTHENTICATED) and the admin uploads a CIFAR-10 image (OK). Then in Chromium: the admin's
// Audit page lists those entries as the server has them (outcomes, actors, roles, hashes), the
// filters ask the server (outcome FORBIDDEN: that one row), an actor links to the Keys page, the
// newest page follows new entries by itself and "Older" pages back with `beforeSeq`; a viewer has
// no Audit page in the menu and is told which role it needs at its URL.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cifarImages, eventually, launchBrowser, newPage, screenshot, startServer } from './helpers.mjs';

let server;
let browser;
/** `{ key, apiKey: { id, name, role, prefix } }` per role. */
const keys = {};
/** The entries provoked in `before`, as the server recorded them. */
const provoked = {};

const CREATE_KEY = `mutation($name: String!, $role: Role!) {
  createApiKey(name: $name, role: $role) { key apiKey { id name role prefix } }
}`;
const AUDIT = `query($limit: Int!, $beforeSeq: Int, $actor: String, $operation: String, $outcome: String) {
  auditLog(limit: $limit, beforeSeq: $beforeSeq, actor: $actor, operation: $operation, outcome: $outcome) {
    seq at actor role ip requestId operation outcome detail hash
  }
}`;
/** The dashboard's page size. */
const PAGE_SIZE = 50;

/** The audit log as the server answers it (admin key). */
async function auditLog(variables = {}) {
  return (await server.gql(AUDIT, { limit: 500, ...variables }, { key: keys.ADMIN.key })).auditLog;
}

/** A request with a key the server does not know: refused at authentication (401). */
async function bogusRequest(n = 0) {
  const r = await fetch(`${server.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer vsk_bogus_${n}_${'x'.repeat(32)}` },
    body: JSON.stringify({ query: '{ me { actor } }' }),
  });
  assert.equal(r.status, 401);
  return r.json();
}

/** `uploadImage` (multipart, with the CSRF header) as the caller of `key`. */
async function uploadAs(key, file) {
  const form = new FormData();
  form.append(
    'operations',
    JSON.stringify({ query: 'mutation($f: Upload!, $l: String) { uploadImage(file: $f, label: $l) { id status } }', variables: { f: null, l: file.cls } }),
  );
  form.append('map', JSON.stringify({ 0: ['variables.f'] }));
  form.append('0', new Blob([file.buffer], { type: file.mimeType }), file.name);
  const r = await fetch(`${server.baseUrl}/graphql`, {
    method: 'POST',
    body: form,
    headers: { 'apollo-require-preflight': 'true', authorization: `Bearer ${key}` },
  });
  const body = await r.json();
  if (body.errors) throw new Error(`upload failed: ${JSON.stringify(body.errors)}`);
  return body.data.uploadImage;
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();

  keys.ADMIN = (await server.gql(CREATE_KEY, { name: 'audit admin', role: 'ADMIN' })).createApiKey;
  keys.VIEWER = (await server.gql(CREATE_KEY, { name: 'audit viewer', role: 'VIEWER' }, { key: keys.ADMIN.key })).createApiKey;

  // A viewer may not start a replay.
  const refused = await server.gql('mutation StartReplay($input: ReplayInput) { startReplay(input: $input) { id } }', {}, {
    key: keys.VIEWER.key,
    allowErrors: true,
  });
  assert.equal(refused.errors?.[0]?.extensions?.code, 'FORBIDDEN', JSON.stringify(refused));
  // A key nobody made.
  const bogus = await bogusRequest();
  assert.equal(bogus.errors[0].extensions.code, 'UNAUTHENTICATED');
  // The admin uploads an image.
  const [cat] = cifarImages('cat', 1);
  provoked.imageId = (await uploadAs(keys.ADMIN.key, cat)).id;

  // `authenticate` entries are written off the request's path: wait for all five.
  const log = await eventually(
    async () => {
      const entries = await auditLog();
      return entries.length >= 5 && entries.some((e) => e.operation === 'authenticate') ? entries : null;
    },
    { what: 'the five entries in the audit log' },
  );
  const one = (what, pred) => {
    const found = log.filter(pred);
    assert.equal(found.length, 1, `one ${what} entry: ${JSON.stringify(log)}`);
    return found[0];
  };
  provoked.anonymousCreate = one('anonymous createApiKey', (e) => e.operation === 'mutation createApiKey' && e.actor === 'anonymous');
  provoked.adminCreate = one('admin createApiKey', (e) => e.operation === 'mutation createApiKey' && e.actor === `key:${keys.ADMIN.apiKey.id}`);
  provoked.forbidden = one('FORBIDDEN', (e) => e.outcome === 'FORBIDDEN');
  provoked.authenticate = one('authenticate', (e) => e.operation === 'authenticate');
  provoked.upload = one('uploadImage', (e) => e.operation === 'mutation uploadImage');

  assert.equal(provoked.anonymousCreate.outcome, 'OK');
  assert.equal(provoked.adminCreate.outcome, 'OK');
  assert.equal(provoked.adminCreate.role, 'admin');
  assert.equal(provoked.forbidden.actor, `key:${keys.VIEWER.apiKey.id}`);
  assert.equal(provoked.forbidden.role, 'viewer');
  assert.equal(provoked.forbidden.operation, 'mutation startReplay');
  assert.equal(provoked.authenticate.actor, 'unauthenticated');
  assert.equal(provoked.authenticate.outcome, 'UNAUTHENTICATED');
  assert.equal(provoked.upload.outcome, 'OK');
  assert.equal(provoked.upload.actor, `key:${keys.ADMIN.apiKey.id}`);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The page's problems, less the browser's log of the 401 answers of the sign-in screen. */
function problems(page) {
  return page.problems().filter((p) => !/status of 401 \(Unauthorized\)/.test(p));
}

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

/** The seqs of the rows shown, in order. */
async function shownSeqs(page) {
  return page.getByTestId('audit-row').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-seq'))));
}

/** Waits until the table, done loading, shows exactly the entries `expected()` (asked anew each time). */
async function showsExactly(page, expected, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const want = (await expected()).map((e) => e.seq);
    const busy = await page.getByTestId('audit-table').getAttribute('data-fetching');
    const shown = await shownSeqs(page);
    if (busy === 'false' && JSON.stringify(shown) === JSON.stringify(want)) return;
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}: want ${JSON.stringify(want)}, shown ${JSON.stringify(shown)} (fetching: ${busy})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The shared page of the admin's tests (signed in once). */
let adminPage;

test('an admin sees the audit log: the provoked entries with their outcomes, as the server has them', async (t) => {
  adminPage = await newPage(browser);
  const page = adminPage;
  await signIn(page, keys.ADMIN.key);
  assert.equal(await page.getByTestId('account').getAttribute('data-role'), 'ADMIN');
  await page.getByTestId('nav-audit').click();
  await page.getByTestId('audit-table').waitFor({ timeout: 15_000 });
  assert.equal(new URL(page.url()).hash, '#/audit');

  // Newest first, the whole log (fewer than a page) as the server lists it.
  await showsExactly(page, () => auditLog({ limit: PAGE_SIZE }), 'the newest entries');
  const seqs = await shownSeqs(page);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'newest first');
  assert.equal(await page.getByTestId('audit-older').isDisabled(), true, 'nothing older');
  assert.equal(await page.getByTestId('audit-newer').isDisabled(), true, 'nothing newer');

  for (const [name, entry] of Object.entries(provoked).filter(([, e]) => typeof e === 'object')) {
    const row = page.locator(`[data-testid="audit-row"][data-seq="${entry.seq}"]`);
    assert.equal(await row.count(), 1, `${name}: one row`);
    assert.equal(await row.getAttribute('data-actor'), entry.actor, `${name}: actor`);
    assert.equal(await row.getAttribute('data-operation'), entry.operation, `${name}: operation`);
    assert.equal(await row.getAttribute('data-request-id'), entry.requestId, `${name}: request id`);
    assert.equal((await row.getByTestId('audit-operation').textContent()).trim(), entry.operation);
    const outcome = row.getByTestId('audit-outcome');
    assert.equal(await outcome.getAttribute('data-outcome'), entry.outcome, `${name}: outcome`);
    assert.match(await outcome.textContent(), new RegExp(`${entry.outcome}$`));
    assert.equal(await outcome.getAttribute('title'), entry.detail, `${name}: the detail in the outcome's tooltip`);
    // The outcome's look: green for OK, red for a refusal (the row too).
    const refused = entry.outcome !== 'OK';
    assert.equal(await outcome.evaluate((el, cls) => el.classList.contains(cls), refused ? 'outcome-refused' : 'outcome-ok'), true);
    assert.equal(await row.evaluate((el) => el.classList.contains('outcome-refused')), refused, `${name}: the row marked when refused`);
    // The hash, shortened, the whole of it in the tooltip.
    const hash = row.getByTestId('audit-hash');
    assert.equal(await hash.textContent(), entry.hash.slice(0, 12));
    assert.equal(await hash.getAttribute('title'), entry.hash);
    assert.equal(await row.getByTestId('audit-request-id').getAttribute('title'), entry.requestId);
    assert.equal(await row.getByTestId('audit-at').getAttribute('title'), entry.at);
    assert.equal((await row.getByTestId('audit-ip').textContent()).trim(), entry.ip ?? '—');
    const role = row.getByTestId('role-badge');
    if (entry.role) assert.equal(await role.getAttribute('data-role'), entry.role.toUpperCase(), `${name}: role`);
    else assert.equal(await role.count(), 0, `${name}: no role`);
  }
  // Keys are named and link to the Keys page; the others are plain.
  const adminActor = page.locator(`[data-testid="audit-row"][data-seq="${provoked.upload.seq}"] [data-testid="audit-actor-key"]`);
  assert.equal(await adminActor.getAttribute('href'), `#/keys?key=${keys.ADMIN.apiKey.id}`);
  await eventually(async () => /audit admin/.test(await adminActor.textContent()), { what: 'the admin key named' });
  const viewerActor = page.locator(`[data-testid="audit-row"][data-seq="${provoked.forbidden.seq}"] [data-testid="audit-actor-key"]`);
  await eventually(async () => /audit viewer/.test(await viewerActor.textContent()), { what: 'the viewer key named' });
  assert.equal(
    (await page.locator(`[data-testid="audit-row"][data-seq="${provoked.authenticate.seq}"] [data-testid="audit-actor"]`).textContent()).trim(),
    'unauthenticated',
  );

  // The detail, expanded.
  const forbiddenRow = page.locator(`[data-testid="audit-row"][data-seq="${provoked.forbidden.seq}"]`);
  await forbiddenRow.getByTestId('audit-expand').click();
  const detail = page.locator(`[data-testid="audit-detail"][data-seq="${provoked.forbidden.seq}"]`);
  await detail.waitFor();
  assert.equal(await detail.getByTestId('audit-detail-text').textContent(), provoked.forbidden.detail);
  assert.match(await detail.textContent(), new RegExp(provoked.forbidden.hash));
  await screenshot(page, 'audit-admin');
  await forbiddenRow.click();
  await detail.waitFor({ state: 'detached' });
  assert.deepEqual(problems(page), [], 'no error in the page');
  t.diagnostic(`${seqs.length} entries shown`);
});

test('the filters ask the server: outcome FORBIDDEN shows that one row; operation, actor, other codes', async () => {
  const page = adminPage;
  await page.getByTestId('audit-filter-outcome').selectOption('FORBIDDEN');
  await showsExactly(page, async () => [provoked.forbidden], 'only the FORBIDDEN entry');
  assert.equal(await page.getByTestId('audit-row').getAttribute('data-outcome'), 'FORBIDDEN');
  await screenshot(page, 'audit-forbidden');

  // Operation (a substring) with the outcome: the two key creations.
  await page.getByTestId('audit-filter-outcome').selectOption('OK');
  await page.getByTestId('audit-filter-operation').fill('createApi');
  await showsExactly(page, async () => [provoked.adminCreate, provoked.anonymousCreate], 'the two createApiKey entries');
  await page.getByTestId('audit-filter-operation').fill('uploadImage');
  await showsExactly(page, async () => [provoked.upload], 'the upload');

  // Another code, typed: none recorded.
  await page.getByTestId('audit-filter-operation').fill('');
  await page.getByTestId('audit-filter-outcome').selectOption({ label: 'other code…' });
  await page.getByTestId('audit-filter-outcome-other').fill('corrupt_image');
  await showsExactly(page, async () => [], 'no CORRUPT_IMAGE entry');
  await page.getByTestId('audit-empty').waitFor();

  // One actor (exact): the unauthenticated callers, as the server lists them.
  await page.getByTestId('audit-clear-filters').click();
  await page.getByTestId('audit-filter-actor').fill('unauthenticated');
  await showsExactly(page, () => auditLog({ actor: 'unauthenticated', limit: PAGE_SIZE }), 'the unauthenticated entries');
  assert.ok((await shownSeqs(page)).includes(provoked.authenticate.seq));

  // "Only this actor" from a row's details.
  await page.getByTestId('audit-clear-filters').click();
  await showsExactly(page, () => auditLog({ limit: PAGE_SIZE }), 'every entry again');
  await page.locator(`[data-testid="audit-row"][data-seq="${provoked.forbidden.seq}"]`).click();
  await page.locator(`[data-testid="audit-detail"][data-seq="${provoked.forbidden.seq}"]`).getByTestId('audit-only-actor').click();
  assert.equal(await page.getByTestId('audit-filter-actor').inputValue(), `key:${keys.VIEWER.apiKey.id}`);
  await showsExactly(page, () => auditLog({ actor: `key:${keys.VIEWER.apiKey.id}`, limit: PAGE_SIZE }), "the viewer's entries");
  await page.getByTestId('audit-clear-filters').click();
  await showsExactly(page, () => auditLog({ limit: PAGE_SIZE }), 'every entry again');

  // A key actor opens the Keys page with that key picked out.
  await page.locator(`[data-testid="audit-row"][data-seq="${provoked.upload.seq}"] [data-testid="audit-actor-key"]`).click();
  await page.locator(`[data-testid="key-row"][data-id="${keys.ADMIN.apiKey.id}"][data-focused="true"]`).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('[data-testid="key-row"][data-focused="true"]').count(), 1);
  await page.getByTestId('nav-audit').click();
  await page.getByTestId('audit-table').waitFor({ timeout: 10_000 });
  assert.deepEqual(problems(page), [], 'no error in the page');
});

test('the newest page follows new entries by itself; "Older" pages back with beforeSeq; Refresh', async () => {
  const page = adminPage;
  await showsExactly(page, () => auditLog({ limit: PAGE_SIZE }), 'the newest entries');
  // More than a page: 60 refused authentications.
  const before = (await auditLog({ limit: 1 }))[0].seq;
  for (let i = 1; i <= 60; i++) await bogusRequest(i);
  const all = await eventually(async () => {
    const log = await auditLog();
    return log[0].seq >= before + 60 ? log : null;
  }, { what: 'the 60 new entries recorded' });
  const total = all.length;
  assert.equal(all[0].seq, total, 'seqs without gaps');

  // No click: the poll (every 5 s) brings them.
  await showsExactly(page, () => auditLog({ limit: PAGE_SIZE }), 'the newest page, polled');
  const newest = await shownSeqs(page);
  assert.equal(newest.length, PAGE_SIZE);
  assert.equal(newest[0], total);
  assert.equal(await page.getByTestId('audit-older').isDisabled(), false);
  assert.match(await page.getByTestId('audit-summary').textContent(), new RegExp(`${PAGE_SIZE} entries · seq ${total}–${total - PAGE_SIZE + 1}`));

  // Older: the entries before the last seq shown.
  const lastShown = newest[newest.length - 1];
  await page.getByTestId('audit-older').click();
  await page.locator(`[data-testid="audit-table"][data-before-seq="${lastShown}"]`).waitFor({ timeout: 10_000 });
  await showsExactly(page, () => auditLog({ beforeSeq: lastShown, limit: PAGE_SIZE }), 'the older page');
  const older = await shownSeqs(page);
  assert.equal(older[0], lastShown - 1);
  assert.equal(older[older.length - 1], 1, 'down to the first entry');
  assert.equal(older.length, total - PAGE_SIZE);
  assert.equal(await page.getByTestId('audit-older').isDisabled(), true, 'nothing older than seq 1');
  assert.match(await page.getByTestId('audit-page').textContent(), new RegExp(`before seq ${lastShown}`));
  assert.equal(await page.evaluate(() => globalThis.scrollY), 0, 'the older page is read from its top');
  await screenshot(page, 'audit-older');

  // An older page stays as it is (append-only), Newer goes back.
  await bogusRequest(99);
  await page.getByTestId('audit-newer').click();
  await showsExactly(page, () => auditLog({ limit: PAGE_SIZE }), 'the newest page again, with the new entry');
  assert.equal((await shownSeqs(page))[0], total + 1);

  // Without polling, Refresh asks again.
  await page.getByTestId('audit-auto').uncheck();
  await bogusRequest(100);
  await eventually(async () => (await auditLog({ limit: 1 }))[0].seq === total + 2, { what: 'the entry recorded' });
  await new Promise((r) => setTimeout(r, 6000));
  assert.equal((await shownSeqs(page))[0], total + 1, 'not polled while unchecked');
  await page.getByTestId('audit-refresh').click();
  await showsExactly(page, () => auditLog({ limit: PAGE_SIZE }), 'the newest page, refreshed');
  assert.equal((await shownSeqs(page))[0], total + 2);
  assert.deepEqual(problems(page), [], 'no error in the page');
  await page.context().close();
});

test('a viewer has no Audit page in the menu and is told the role it needs at its URL', async (t) => {
  const page = await freshPage(t);
  await signIn(page, keys.VIEWER.key);
  assert.equal(await page.getByTestId('account').getAttribute('data-role'), 'VIEWER');
  await page.getByTestId('nav-history').waitFor();
  assert.equal(await page.getByTestId('nav-audit').count(), 0, 'no Audit in the menu');
  assert.equal(await page.getByTestId('nav-keys').count(), 0, 'no Keys in the menu');
  const refusedBefore = (await auditLog({ outcome: 'FORBIDDEN' })).length;
  await page.goto(`${server.baseUrl}/#/audit`);
  await page.getByTestId('needs-role').waitFor({ timeout: 10_000 });
  const message = page.getByTestId('needs-role-message');
  assert.equal(await message.getAttribute('data-needs'), 'ADMIN');
  assert.match(await message.textContent(), /audit log needs an admin key/);
  assert.equal(await page.getByTestId('audit-table').count(), 0, 'no table');
  await screenshot(page, 'audit-viewer');
  // The page did not even ask (the server would have refused, and recorded it).
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await auditLog({ outcome: 'FORBIDDEN' })).length, refusedBefore, 'no refused request');
  assert.deepEqual(problems(page), [], 'no error in the page');
});
