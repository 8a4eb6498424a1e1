// F16: the Live page's webcam with Chromium's fake camera sends frames and draws the latest
// predictions over the video. Also: a replay without the dataset shows DATASET_UNAVAILABLE.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, launchBrowser, newPage, screenshot, startServer } from './helpers.mjs';

let server;
let browser;
// The served bundle's heads and class names (from the server's `models` and `classes`).
let heads;
let classes;
// This server has no CIFAR-10 (an empty directory), to see the replay error.
const emptyCifar = mkdtempSync(join(tmpdir(), 'vision-e2e-nocifar-'));

before(async () => {
  server = await startServer({ env: { VISION_CIFAR10_DIR: emptyCifar } });
  browser = await launchBrowser();
  ({ heads, classes } = await server.bundle());
});

after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(emptyCifar, { recursive: true, force: true });
});

test('the fake camera sends frames and the overlay shows every head', async (t) => {
  const page = await newPage(browser);
  t.after(() => page.context().close());

  await page.goto(`${server.baseUrl}/#/live`);
  await page.locator('[data-testid="socket-state"][data-state="connected"]').waitFor({ timeout: 10_000 });
  await page.getByTestId('webcam-resolution').selectOption({ label: '320 × 240' });
  await page.getByTestId('webcam-fps').selectOption('5');
  await page.getByTestId('webcam-start').click();

  const video = page.getByTestId('webcam-video');
  await eventually(() => video.evaluate((v) => v.readyState >= 2 && v.videoWidth > 0), { what: 'the video to play' });

  const overlay = page.getByTestId('webcam-overlay');
  await overlay.waitFor({ timeout: 30_000 });
  for (const head of heads) {
    const row = overlay.getByTestId(`overlay-${head}`);
    await row.waitFor();
    const cls = await row.locator('.overlay-class').textContent();
    assert.ok(classes.includes(cls), `${head} shows a class (${cls})`);
    assert.match(await row.locator('.overlay-conf').textContent(), /^\d+%$/);
  }
  assert.match(await overlay.getByTestId('overlay-consensus').textContent(), /consensus|no consensus/);

  // Several frames go out and come back; the round trip is measured.
  await eventually(async () => Number(await page.getByTestId('frames-completed').textContent()) >= 3, {
    timeoutMs: 30_000,
    what: 'three frames completed',
  });
  assert.ok(Number(await page.getByTestId('frames-sent').textContent()) >= 3);
  assert.match(await page.getByTestId('rtt').textContent(), /\d+(\.\d+)? (ms|s)$/);
  // The overlay follows newer frames.
  const first = Number(await overlay.getAttribute('data-frame'));
  await eventually(async () => Number(await overlay.getAttribute('data-frame')) > first, { what: 'a newer frame in the overlay' });
  await screenshot(page, 'live-webcam');

  await page.getByTestId('webcam-stop').click();
  await page.getByTestId('webcam-start').waitFor();

  const { images } = await server.gql('{ images(first: 100, filter: { source: "webcam" }) { totalCount edges { node { width height contentType status } } } }');
  assert.ok(images.totalCount >= 3, `webcam frames stored (${images.totalCount})`);
  const node = images.edges[0].node;
  assert.equal(node.contentType, 'image/jpeg');
  assert.equal(node.width, 320);
  assert.equal(node.height, 240);
  assert.deepEqual(page.problems(), [], 'no error in the page');
});

test('a replay without the dataset shows DATASET_UNAVAILABLE', async (t) => {
  const page = await newPage(browser);
  t.after(() => page.context().close());
  await page.goto(`${server.baseUrl}/#/live`);
  await page.getByTestId('replay-limit').fill('10');
  await page.getByTestId('replay-start').click();
  const error = page.getByTestId('replay-error');
  await error.waitFor({ timeout: 10_000 });
  assert.equal(await error.getAttribute('data-code'), 'DATASET_UNAVAILABLE');
  assert.match(await error.textContent(), /not available/);
  assert.equal(await page.getByTestId('replay-progress').count(), 0);
  await screenshot(page, 'live-dataset-unavailable');
});
