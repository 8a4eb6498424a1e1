// F20/F21/F24: the Models page. The registry lists the bundle's models, each with version 1 in
// production; a copy of the bundle's own fast.onnx is registered through the page's form as a
// new version of `fast`, promoted from the page (the production badge moves, a replica serves
// it, live), rolled back from the page (production is version 1 again, the history lists the
// three moves); a file that is not ONNX shows INVALID_MODEL and stores nothing. Then the copy
// runs as the shadow: the experiment card compares it with production on live images, the
// back-test scores it on the stored descriptors, and the shadow is stopped.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_DIR, cifarImages, eventually, launchBrowser, newPage, screenshot, startServer } from './helpers.mjs';

let server;
let browser;
let page;
// The served bundle (from the server's `models` and `classes`).
let bundle;
// The bundle's own fast head, registered again under another label.
let fastOnnx;
const HEAD = 'fast';
const COPY_LABEL = 'fast-copy';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  bundle = await server.bundle();
  assert.ok(bundle.heads.includes(HEAD), `the bundle serves a ${HEAD} head`);
  // The models folder the server was started on (VISION_MODELS_DIR).
  fastOnnx = readFileSync(join(server.modelsDir ?? join(REPO_DIR, 'models'), `${HEAD}.onnx`));
  page = await newPage(browser);
  await page.goto(`${server.baseUrl}/#/models`);
  await page.locator('[data-testid="socket-state"][data-state="connected"]').waitFor({ timeout: 10_000 });
});

after(async () => {
  await page?.context().close();
  await browser?.close();
  await server?.stop();
});

const card = (name) => page.getByTestId(`model-${name}`);
const versionRow = (name, version) => card(name).locator(`[data-testid="version-row"][data-version="${version}"]`);

async function registry(name) {
  const { registeredModel } = await server.gql(
    `query($name: String!) { registeredModel(name: $name) {
       versions { version label sha256 } production { version label }
       history { alias version previousVersion changedBy reason kind }
     } }`,
    { name },
  );
  return registeredModel;
}

async function productionShown(name) {
  return card(name).getAttribute('data-production-version');
}

/** The page's "Which version served at" for now (a second later than anything done so far). */
async function servedNow() {
  await new Promise((r) => setTimeout(r, 1100));
  const panel = page.getByTestId('served-at');
  const table = panel.getByTestId('served-at-table');
  const answeredAt = async () => ((await table.count()) ? table.getAttribute('data-at') : null);
  const before = await answeredAt();
  await panel.getByRole('button', { name: 'Now', exact: true }).click();
  await panel.getByTestId('served-at-run').click();
  await eventually(async () => (await answeredAt()) !== before, { what: 'a new productionAt answer' });
  const rows = await panel.getByTestId('served-at-row').evaluateAll((els) =>
    Object.fromEntries(els.map((e) => [e.getAttribute('data-model'), e.getAttribute('data-version')])),
  );
  return rows;
}

test('the registry lists every model of the bundle with version 1 in production', async () => {
  const expected = bundle.models.map((m) => m.name);
  for (const name of expected) await card(name).waitFor({ timeout: 15_000 });
  const shown = await page.locator('[data-testid^="model-"][data-kind]').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid').slice('model-'.length)));
  assert.deepEqual(new Set(shown), new Set(expected), 'one card per registered model');
  assert.deepEqual(new Set(shown), new Set(['extractor', 'fast', 'balanced', 'accurate']), 'the test bundle: the extractor and three heads');
  for (const name of expected) {
    assert.equal(await productionShown(name), '1', `${name}: version 1 in production`);
    const row = versionRow(name, 1);
    assert.equal(await row.getAttribute('data-production'), 'true');
    await row.locator('[data-testid="alias-badge"][data-alias="production"]').waitFor();
    assert.equal(await card(name).getByTestId('version-row').count(), 1, `${name} has one version`);
    // The version the bundle serves is version 1's label.
    const served = bundle.models.find((m) => m.name === name);
    assert.equal(await row.getAttribute('data-label'), served.version);
    // Its history: the bundle's import put it in production.
    const moves = card(name).getByTestId('alias-move');
    assert.equal(await moves.count(), 1);
    assert.equal(await moves.first().getAttribute('data-alias'), 'production');
    assert.equal(await moves.first().getAttribute('data-to'), '1');
  }
  // Every head's replica says what it serves, live.
  for (const head of bundle.heads) {
    await page.locator(`[data-testid="rollout-row"][data-model="${head}"]`).first().waitFor({ timeout: 15_000 });
  }
  const now = await servedNow();
  for (const name of expected) assert.equal(now[name], '1', `productionAt(${name}, now) = 1`);
  await screenshot(page, 'models');
  assert.deepEqual(page.problems(), [], 'no error in the page');
});

test(`a copy of ${HEAD}.onnx registered through the form becomes version 2`, async () => {
  const form = page.getByTestId('register');
  await form.getByTestId('register-file').setInputFiles({ name: `${HEAD}.onnx`, mimeType: 'application/octet-stream', buffer: fastOnnx });
  await form.getByTestId('register-name').fill(HEAD);
  await form.getByTestId('register-kind').selectOption('CLASSIFIER');
  await form.getByTestId('register-label').fill(COPY_LABEL);
  await form.getByTestId('register-submit').click();

  const result = form.getByTestId('register-result');
  await result.waitFor({ timeout: 30_000 });
  assert.equal(await result.getAttribute('data-name'), HEAD);
  assert.equal(await result.getAttribute('data-version'), '2');
  assert.equal(await result.getAttribute('data-label'), COPY_LABEL);

  // The registry has it, with the file's checksum; the page lists it, not in production.
  const model = await registry(HEAD);
  const v2 = model.versions.find((v) => v.version === 2);
  assert.equal(v2.label, COPY_LABEL);
  assert.equal(v2.sha256, model.versions.find((v) => v.version === 1).sha256, 'the same bytes as version 1');
  const row = versionRow(HEAD, 2);
  await row.waitFor({ timeout: 10_000 });
  assert.equal(await row.getAttribute('data-label'), COPY_LABEL);
  assert.equal(await row.getAttribute('data-production'), 'false');
  assert.equal(await productionShown(HEAD), '1');
  assert.deepEqual(page.problems(), [], 'no error in the page');
});

test('promoted from the page: the production badge moves and a replica serves it, live', async () => {
  await card(HEAD).getByTestId('reason').fill('e2e: promote the copy');
  await versionRow(HEAD, 2).getByTestId('promote').click();
  await card(HEAD).getByTestId('model-notice').waitFor({ timeout: 10_000 });
  assert.match(await card(HEAD).getByTestId('model-notice').textContent(), /production v1 → v2/);

  await eventually(async () => (await productionShown(HEAD)) === '2', { what: 'production badge on version 2' });
  assert.equal(await versionRow(HEAD, 2).getAttribute('data-production'), 'true');
  assert.equal(await versionRow(HEAD, 1).getAttribute('data-production'), 'false');
  await versionRow(HEAD, 2).locator('[data-testid="alias-badge"][data-alias="production"]').waitFor();
  assert.equal(await versionRow(HEAD, 1).locator('[data-testid="alias-badge"]').count(), 0, 'version 1 has no alias left');
  assert.equal((await registry(HEAD)).production.version, 2);

  // The replica swaps without a reload: the rollout subscription brings it.
  await page
    .locator(`[data-testid="rollout-row"][data-model="${HEAD}"][data-production="${COPY_LABEL}"]`)
    .first()
    .waitFor({ timeout: 30_000 });
  const now = await servedNow();
  assert.equal(now[HEAD], '2', `productionAt(${HEAD}, now) = 2`);
  await screenshot(page, 'models-promoted');
  assert.deepEqual(page.problems(), [], 'no error in the page');
});

test('rolled back from the page: production is version 1 again and the history lists the three moves', async () => {
  assert.equal(await card(HEAD).getByTestId('rollback').getAttribute('data-to'), '1');
  await card(HEAD).getByTestId('reason').fill('e2e: roll back');
  await card(HEAD).getByTestId('rollback').click();
  await eventually(async () => (await productionShown(HEAD)) === '1', { what: 'production badge back on version 1' });
  assert.equal(await versionRow(HEAD, 1).getAttribute('data-production'), 'true');
  assert.equal(await versionRow(HEAD, 2).getAttribute('data-production'), 'false');

  // Newest first: the rollback, the promotion, the bundle's import.
  const moves = card(HEAD).locator('[data-testid="alias-move"][data-alias="production"]');
  await eventually(async () => (await moves.count()) === 3, { what: 'three production moves' });
  const shown = await moves.evaluateAll((els) =>
    els.map((e) => [e.getAttribute('data-from'), e.getAttribute('data-to'), e.getAttribute('data-kind'), e.querySelector('.reason')?.textContent]),
  );
  assert.deepEqual(shown, [
    ['2', '1', 'ROLLBACK', 'e2e: roll back'],
    ['1', '2', 'SET', 'e2e: promote the copy'],
    ['', '1', 'SET', 'the shipped bundle'],
  ]);
  assert.match(await moves.first().locator('.move').textContent(), /rollback/);
  // Production's moves are a stack: the promotion is undone, nothing is left to roll back.
  await eventually(async () => await card(HEAD).getByTestId('rollback').isDisabled(), { what: 'nothing left to roll back' });
  // Recorded as made by the caller: with no API key (the server runs open) the anonymous one.
  const history = (await registry(HEAD)).history.filter((h) => h.alias === 'production');
  assert.deepEqual(
    history.map((h) => [h.previousVersion, h.version, h.changedBy, h.kind]),
    [
      [2, 1, 'anonymous', 'ROLLBACK'],
      [1, 2, 'anonymous', 'SET'],
      [null, 1, 'bundle', 'SET'],
    ],
  );

  // The replica swaps back, live.
  await page.locator(`[data-testid="rollout-row"][data-model="${HEAD}"][data-production="${bundle.models.find((m) => m.name === HEAD).version}"]`).first().waitFor({ timeout: 30_000 });
  assert.equal(await page.locator(`[data-testid="rollout-row"][data-model="${HEAD}"][data-production="${COPY_LABEL}"]`).count(), 0);
  await screenshot(page, 'models-rolled-back');
  assert.deepEqual(page.problems(), [], 'no error in the page');
});

test('a file that is not ONNX is refused with INVALID_MODEL and nothing is stored', async () => {
  const form = page.getByTestId('register');
  await form.getByTestId('register-file').setInputFiles({
    name: 'not-a-model.onnx',
    mimeType: 'application/octet-stream',
    buffer: Buffer.from('this is not an ONNX model\n'),
  });
  await form.getByTestId('register-name').fill(HEAD);
  await form.getByTestId('register-label').fill('not-a-model');
  await form.getByTestId('register-submit').click();
  const error = form.locator('[data-testid="register-error"][data-code="INVALID_MODEL"]');
  await error.waitFor({ timeout: 30_000 });
  assert.equal(await error.getByTestId('error-code').textContent(), 'INVALID_MODEL');
  assert.ok((await error.textContent()).length > 'INVALID_MODEL'.length, 'with the message');
  assert.equal(await form.getByTestId('register-result').count(), 0);
  assert.deepEqual(
    (await registry(HEAD)).versions.map((v) => v.version),
    [1, 2],
    'no version was added',
  );
  assert.equal(await card(HEAD).getByTestId('version-row').count(), 2);
  await screenshot(page, 'models-invalid');
  assert.deepEqual(page.problems(), [], 'no error in the page');
});

test('the copy as the shadow: its live comparison with production, a back-test, then the shadow stops', async () => {
  await versionRow(HEAD, 2).getByTestId('make-shadow').click();
  await versionRow(HEAD, 2).locator('[data-testid="alias-badge"][data-alias="shadow"]').waitFor({ timeout: 10_000 });
  // The replica serves it beside production before images are sent.
  await page.locator(`[data-testid="rollout-row"][data-model="${HEAD}"][data-shadow="${COPY_LABEL}"]`).first().waitFor({ timeout: 30_000 });

  const files = [...cifarImages('cat', 1), ...cifarImages('ship', 1), ...cifarImages('frog', 1)];
  for (const f of files) {
    const image = await server.upload(f, { label: f.cls });
    await server.waitCompleted(image.id);
  }

  // The experiment card refreshes by itself: three images, the same answers (the same model).
  const shadow = page.getByTestId(`experiments-${HEAD}`).getByTestId('shadow-comparison');
  await shadow.waitFor({ timeout: 20_000 });
  assert.equal(await shadow.getAttribute('data-shadow'), COPY_LABEL);
  const paired = shadow.getByTestId('paired-comparison');
  await eventually(async () => (await paired.getAttribute('data-n')) === String(files.length), { what: `the shadow comparison over ${files.length} images` });
  const { shadowComparison } = await server.gql(
    `query($m: String!) { shadowComparison(model: $m) { shadow comparison { n labeled agreement mcnemarB mcnemarC difference } } }`,
    { m: HEAD },
  );
  assert.equal(shadowComparison.comparison.n, files.length);
  assert.equal(await paired.getAttribute('data-labeled'), String(shadowComparison.comparison.labeled));
  assert.equal(await paired.getAttribute('data-agreement'), String(shadowComparison.comparison.agreement));
  assert.equal(await paired.getByTestId('paired-mcnemar').textContent(), `${shadowComparison.comparison.mcnemarB} / ${shadowComparison.comparison.mcnemarC}`);
  assert.equal(await paired.getByTestId('paired-agreement').textContent(), '100.0%', 'a copy answers as production does');
  await paired.getByTestId('diff-bar').waitFor();
  await screenshot(page, 'models-shadow');

  // The back-test of the copy on the stored descriptors of those images.
  const backtest = page.getByTestId('backtest');
  await backtest.getByTestId('backtest-model').selectOption(HEAD);
  await backtest.getByTestId('backtest-version').selectOption('2');
  assert.equal(await backtest.getByTestId('backtest-last').inputValue(), '10000', 'the default window');
  await backtest.getByTestId('backtest-run').click();
  const result = backtest.getByTestId('backtest-result');
  await result.waitFor({ timeout: 30_000 });
  assert.equal(await result.getAttribute('data-n'), String(files.length));
  assert.ok(Number(await result.getAttribute('data-seconds')) >= 0);
  assert.match(await result.getByTestId('backtest-seconds').textContent(), /scored in/);
  assert.equal(await result.getByTestId('paired-agreement').textContent(), '100.0%');

  // Stop the shadow from the page: the experiment card says there is none.
  await card(HEAD).getByTestId('stop-shadow').click();
  await page.getByTestId(`experiments-${HEAD}`).getByTestId('no-experiment').waitFor({ timeout: 15_000 });
  // The experiments and the registry are read apart: the badge goes at the registry's next read.
  await eventually(async () => (await versionRow(HEAD, 2).locator('[data-testid="alias-badge"][data-alias="shadow"]').count()) === 0, {
    what: 'the shadow badge gone',
  });
  await page.locator(`[data-testid="rollout-row"][data-model="${HEAD}"][data-shadow=""]`).first().waitFor({ timeout: 30_000 });
  await screenshot(page, 'models-backtest');
  assert.deepEqual(page.problems(), [], 'no error in the page');
});

test('an A/B test from the page: the copy answers half the images, the registry and the history say so, then it stops', async () => {
  await card(HEAD).getByTestId('ab-share').fill('0.5');
  await versionRow(HEAD, 2).getByTestId('start-ab').click();
  await versionRow(HEAD, 2).locator('.alias-candidate').waitFor({ timeout: 10_000 });
  assert.match(await versionRow(HEAD, 2).locator('.alias-candidate').textContent(), /50%/);
  const { registeredModel } = await server.gql(
    `query($name: String!) { registeredModel(name: $name) { abTest { version share } history { alias version kind } } }`,
    { name: HEAD },
  );
  assert.deepEqual(registeredModel.abTest, { version: 2, share: 0.5 });
  assert.deepEqual(registeredModel.history[0], { alias: 'ab', version: 2, kind: 'AB' });
  const started = card(HEAD).locator('[data-testid="alias-move"][data-kind="AB"]').first();
  await started.waitFor({ timeout: 10_000 });
  assert.equal(await started.getAttribute('data-to'), '2');
  // The replica serves it as the candidate, live.
  await page.locator(`[data-testid="rollout-row"][data-model="${HEAD}"][data-candidate="${COPY_LABEL}"]`).first().waitFor({ timeout: 30_000 });
  await screenshot(page, 'models-ab');

  await card(HEAD).getByTestId('stop-ab').click();
  await eventually(async () => (await versionRow(HEAD, 2).locator('.alias-candidate').count()) === 0, { what: 'the candidate badge gone' });
  const after = await server.gql(`query($name: String!) { registeredModel(name: $name) { abTest { version } history { alias version kind } } }`, {
    name: HEAD,
  });
  assert.equal(after.registeredModel.abTest, null);
  assert.deepEqual(after.registeredModel.history[0], { alias: 'ab', version: null, kind: 'AB' });
  await page.locator(`[data-testid="rollout-row"][data-model="${HEAD}"][data-candidate=""]`).first().waitFor({ timeout: 30_000 });
  assert.deepEqual(page.problems(), [], 'no error in the page');
});
