// F10/F18: the History page lists the uploaded images (filters, thumbnails) and a row opens its
// result page; the Overview page shows health, models and live figures.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cifarImages, eventually, launchBrowser, newPage, screenshot, startServer } from './helpers.mjs';

let server;
let browser;
const uploaded = [];
// The served bundle (from the server's `models` and `classes`).
let bundle;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  bundle = await server.bundle();
  const files = [...cifarImages('dog', 2), ...cifarImages('airplane', 1), ...cifarImages('frog', 1)];
  for (const f of files) {
    const image = await server.upload(f, { label: f.cls });
    uploaded.push({ id: image.id, cls: f.cls });
  }
  // One unlabeled upload from another source.
  const [extra] = cifarImages('truck', 1);
  const image = await server.upload(extra, { source: 'cli' });
  uploaded.push({ id: image.id, cls: null });
  for (const u of uploaded) await server.waitCompleted(u.id);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('history lists every image, filters them, and a row opens the result page', async (t) => {
  const page = await newPage(browser);
  t.after(() => page.context().close());

  await page.goto(`${server.baseUrl}/#/history`);
  const rows = page.getByTestId('history-row');
  await eventually(async () => (await rows.count()) === uploaded.length, { what: `${uploaded.length} history rows` });
  assert.equal(await page.getByTestId('history-total').textContent(), `${uploaded.length} images`);
  const ids = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-image-id')));
  assert.deepEqual(new Set(ids), new Set(uploaded.map((u) => u.id)));
  // Newest first.
  assert.equal(ids[0], uploaded[uploaded.length - 1].id);
  for (const row of await rows.all()) {
    assert.equal(await row.getByTestId('status').textContent(), 'COMPLETED');
  }
  // Thumbnails come from the gateway's /images/<id>/file.
  await eventually(
    () => page.locator('[data-testid="history-row"] img[data-testid="thumb"]').evaluateAll((imgs) => imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0)),
    { what: 'history thumbnails loaded from /images/<id>/file' },
  );
  await screenshot(page, 'history');

  // Filters: by label, then by source.
  await page.getByTestId('filter-label').selectOption('dog');
  await eventually(async () => (await rows.count()) === 2, { what: 'two dog rows' });
  await page.getByTestId('filter-label').selectOption('');
  await page.getByTestId('filter-source').fill('upload');
  await eventually(async () => (await rows.count()) === 4, { what: 'four rows with source upload' });
  await page.getByTestId('filter-source').fill('cli');
  await eventually(async () => (await rows.count()) === 1, { what: 'one row with source cli' });
  await page.getByTestId('filter-source').fill('');
  await page.getByTestId('filter-status').selectOption('FAILED');
  await page.getByTestId('history-empty').waitFor();
  await page.getByTestId('filter-status').selectOption('');
  await eventually(async () => (await rows.count()) === uploaded.length, { what: 'all rows again' });

  // A row opens its result page.
  const target = uploaded.find((u) => u.cls === 'airplane');
  await page.locator(`[data-testid="history-row"][data-image-id="${target.id}"]`).click();
  await page.waitForURL(`**/#/images/${target.id}`);
  const result = page.locator(`[data-testid="result"][data-image-id="${target.id}"]`);
  await result.waitFor({ timeout: 10_000 });
  assert.equal(await result.getAttribute('data-status'), 'COMPLETED');
  assert.equal(await result.getByTestId('meta-label').textContent(), 'airplane');
  assert.equal(await result.getByTestId('meta-source').textContent(), 'upload');
  for (const head of bundle.heads) await result.getByTestId(`prediction-${head}`).waitFor();
  await result.getByTestId('comparison').waitFor();
  await eventually(() => result.getByTestId('thumb').evaluate((i) => i.complete && i.naturalWidth === 32), {
    what: 'the result image loaded from /images/<id>/file',
  });
  await screenshot(page, 'result-from-history');
  assert.deepEqual(page.problems(), [], 'no error in the page');
});

test('an unknown image id shows a not-found card', async (t) => {
  const page = await newPage(browser);
  t.after(() => page.context().close());
  await page.goto(`${server.baseUrl}/#/images/00000000-0000-0000-0000-000000000000`);
  await page.getByTestId('image-not-found').waitFor({ timeout: 10_000 });
});

test('the overview shows health, the models and live figures per head', async (t) => {
  const page = await newPage(browser);
  t.after(() => page.context().close());
  await page.goto(`${server.baseUrl}/`);
  await page.getByTestId('health').waitFor({ timeout: 10_000 });
  assert.match(await page.getByTestId('health-status').textContent(), /^UP/);
  assert.ok((await page.getByTestId('health-component').count()) >= 3);
  assert.equal(await page.getByTestId('model-row').count(), bundle.models.length, 'the extractor and every head');
  for (const head of bundle.heads) {
    const card = page.getByTestId(`head-${head}`);
    await eventually(async () => (await card.getByTestId('head-count').textContent()) === String(uploaded.length), {
      what: `${head} count = ${uploaded.length}`,
    });
  }
  // A new image moves the figures live (statsUpdated), without reload.
  const [more] = cifarImages('deer', 1);
  const image = await server.upload(more, { label: 'deer' });
  await server.waitCompleted(image.id);
  const first = bundle.heads[0];
  await eventually(async () => (await page.getByTestId(`head-${first}`).getByTestId('head-count').textContent()) === String(uploaded.length + 1), {
    what: `the ${first} count to move live`,
  });
  await screenshot(page, 'home');
  assert.deepEqual(page.problems(), [], 'no error in the page');
});
