// F1/F2/F18: uploads through the page; every head's prediction and the comparison appear live;
// a refused file shows its error code; the card opens the result page.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cifarImages, eventually, launchBrowser, newPage, screenshot, startServer } from './helpers.mjs';

let server;
let browser;
// The served bundle's heads and class names (from the server's `models` and `classes`).
let heads;
let classes;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  ({ heads, classes } = await server.bundle());
  assert.ok(heads.length > 0 && classes.length > 0, 'the server names its heads and classes');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the label picker lists exactly the server's classes, in its order", async (t) => {
  const page = await newPage(browser);
  t.after(() => page.context().close());
  await page.goto(`${server.baseUrl}/#/upload`);
  const select = page.locator('[data-testid="label-select"][data-state="ready"]');
  await select.waitFor({ timeout: 10_000 });
  const options = await select.locator('option').evaluateAll((els) => els.map((e) => ({ value: e.value, text: e.textContent })));
  assert.deepEqual(options[0], { value: '', text: '— none —' }, 'first the empty choice');
  assert.deepEqual(options.slice(1).map((o) => o.value), classes, 'then every class the server names, in its order');
  assert.deepEqual(options.slice(1).map((o) => o.text), classes);
  assert.deepEqual(page.problems(), [], 'no error in the page');
});

test('one CIFAR-10 JPEG uploaded through the page gets a prediction per head and the comparison, live', async (t) => {
  const page = await newPage(browser);
  t.after(() => page.context().close());
  const [cat] = cifarImages('cat', 1);

  await page.goto(`${server.baseUrl}/#/upload`);
  await page.getByTestId('socket-state').and(page.locator('[data-state="connected"]')).waitFor({ timeout: 10_000 });
  await page.getByTestId('label-select').selectOption('cat');
  await page.getByTestId('file-input').setInputFiles({ name: cat.name, mimeType: 'image/jpeg', buffer: cat.buffer });

  const card = page.getByTestId('upload-card');
  await card.waitFor({ timeout: 15_000 });
  const id = await card.getAttribute('data-image-id');
  assert.ok(id, 'the card carries the image id');

  // Every head fills in, then the comparison, without reload.
  for (const head of heads) {
    await card.getByTestId(`prediction-${head}`).waitFor({ timeout: 30_000 });
  }
  await card.getByTestId('comparison').waitFor({ timeout: 30_000 });
  await page.locator(`[data-testid="upload-card"][data-status="COMPLETED"]`).waitFor({ timeout: 10_000 });

  // What the page shows is what the server recorded.
  const { image } = await server.gql(
    `query($id: ID!) { image(id: $id) { status label predictions { model predictedClass confidence } comparison { consensusClass fastestModel mostConfidentModel agreement } } }`,
    { id },
  );
  assert.equal(image.status, 'COMPLETED');
  assert.equal(image.label, 'cat');
  assert.equal(image.predictions.length, heads.length);
  for (const p of image.predictions) {
    const shown = await card.getByTestId(`prediction-${p.model}`).getAttribute('data-class');
    assert.equal(shown, p.predictedClass, `class shown for ${p.model}`);
    assert.ok(classes.includes(shown));
    const conf = await card.getByTestId(`prediction-${p.model}`).getByTestId('confidence').textContent();
    assert.equal(conf, `${(p.confidence * 100).toFixed(1)}%`);
  }
  assert.equal(await card.getByTestId('fastest-model').textContent(), image.comparison.fastestModel);
  assert.equal(await card.getByTestId('most-confident-model').textContent(), image.comparison.mostConfidentModel);
  assert.equal(await card.getByTestId('agreement').textContent(), `${Math.round(image.comparison.agreement * 100)}%`);
  if (image.comparison.consensusClass) {
    assert.match(await card.getByTestId('consensus').textContent(), new RegExp(image.comparison.consensusClass));
  }
  // The thumbnail is the local object URL of the file.
  const thumbOk = await card.getByTestId('thumb').evaluate((img) => img.complete && img.naturalWidth === 32);
  assert.ok(thumbOk, 'the thumbnail shows the 32x32 CIFAR image');
  await screenshot(page, 'upload');

  // The card opens the result page, with the top-k of each head.
  await card.getByTestId('result-link').click();
  await page.waitForURL(`**/#/images/${id}`);
  const result = page.getByTestId('result');
  await result.and(page.locator('[data-status="COMPLETED"]')).waitFor({ timeout: 10_000 });
  assert.equal(await result.getByTestId('meta-label').textContent(), 'cat');
  for (const head of heads) {
    const topk = result.getByTestId(`prediction-${head}`).getByTestId('topk');
    await topk.waitFor();
    assert.ok((await topk.locator('.topk-row').count()) >= 2, `${head} shows its top-k`);
  }
  await result.getByTestId('comparison').waitFor();
  await screenshot(page, 'result');
  assert.deepEqual(page.problems(), [], 'no error in the page');
});

test('several images at once go through uploadImages and all complete', async (t) => {
  const page = await newPage(browser);
  t.after(() => page.context().close());
  const files = [...cifarImages('ship', 2), ...cifarImages('horse', 1)];

  await page.goto(`${server.baseUrl}/#/upload`);
  await page.getByTestId('file-input').setInputFiles(files.map((f) => ({ name: f.name, mimeType: f.mimeType, buffer: f.buffer })));
  await eventually(async () => (await page.locator('[data-testid="upload-card"][data-status="COMPLETED"]').count()) === 3, {
    timeoutMs: 40_000,
    what: 'three completed cards',
  });
  for (const card of await page.getByTestId('upload-card').all()) {
    assert.equal(await card.getByTestId('predictions').getAttribute('data-count'), String(heads.length));
    await card.getByTestId('comparison').waitFor();
  }
  const { images } = await server.gql('{ images(first: 10) { totalCount } }');
  assert.equal(images.totalCount, 4, 'one image from the first test plus this batch of three');
  assert.deepEqual(page.problems(), []);
});

test('a file that is not an image shows UNSUPPORTED_MEDIA_TYPE', async (t) => {
  const page = await newPage(browser);
  t.after(() => page.context().close());
  await page.goto(`${server.baseUrl}/#/upload`);
  await page
    .getByTestId('file-input')
    .setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('this is not an image\n'.repeat(20)) });
  const error = page.getByTestId('upload-error');
  await error.waitFor({ timeout: 15_000 });
  assert.equal(await error.getAttribute('data-code'), 'UNSUPPORTED_MEDIA_TYPE');
  assert.equal(await error.getByTestId('error-code').textContent(), 'UNSUPPORTED_MEDIA_TYPE');
  assert.ok((await error.locator('.error-message').textContent()).length > 0, 'the message is shown');
  await page.getByTestId('upload-refused').waitFor();

  // In a batch (all or none), the error names the file at fault; the other file is not stored.
  const [good] = cifarImages('bird', 1);
  await page.getByTestId('file-input').setInputFiles([
    { name: good.name, mimeType: good.mimeType, buffer: good.buffer },
    { name: 'readme.md', mimeType: 'text/markdown', buffer: Buffer.from('# not an image\n'.repeat(10)) },
  ]);
  const batchError = page.getByTestId('batch-error');
  await batchError.waitFor({ timeout: 15_000 });
  assert.equal(await batchError.getAttribute('data-code'), 'UNSUPPORTED_MEDIA_TYPE');
  await eventually(async () => (await page.getByTestId('upload-refused').count()) === 3, { what: 'three refused cards' });
  const codes = await page.locator('[data-testid="upload-refused"] [data-testid="upload-error"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-code')));
  assert.deepEqual(codes.sort(), ['NOT_STORED', 'UNSUPPORTED_MEDIA_TYPE', 'UNSUPPORTED_MEDIA_TYPE']);
  await screenshot(page, 'upload-error');
  // Nothing was stored for the refused files.
  const { images } = await server.gql('{ images(first: 10) { totalCount } }');
  assert.equal(images.totalCount, 4);
  assert.deepEqual(page.problems(), []);
});
