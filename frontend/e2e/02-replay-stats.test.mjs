// F15/F17/F19: a CIFAR-10 replay started from the Live page runs to the end with live progress
// and a live score per head version; the Statistics page then draws its charts and a confusion
// matrix that adds up.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, launchBrowser, newPage, paintedPixels, screenshot, startServer } from './helpers.mjs';

let server;
let browser;
// The served bundle's heads, head versions and class names (from the server's `models` and `classes`).
let heads;
let headVersions;
let classes;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  ({ heads, headVersions, classes } = await server.bundle());
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a replay of 50 images runs from the Live page, then the Statistics page is filled', async (t) => {
  const page = await newPage(browser);
  t.after(() => page.context().close());

  await page.goto(`${server.baseUrl}/#/live`);
  await page.locator('[data-testid="socket-state"][data-state="connected"]').waitFor({ timeout: 10_000 });
  await page.getByTestId('replay-split').selectOption('TEST');
  await page.getByTestId('replay-rate').fill('200');
  await page.getByTestId('replay-limit').fill('50');
  await page.getByTestId('replay-seed').fill('7');
  await page.getByTestId('replay-start').click();

  const progress = page.getByTestId('replay-progress');
  await progress.waitFor({ timeout: 10_000 });
  // Progress arrives through replayProgress: the figure climbs, then the replay finishes; the
  // per-head-version scores climb with it.
  const seen = new Set();
  const seenAnswered = new Set();
  await eventually(
    async () => {
      const now = await progress.evaluate((el) => ({
        completed: el.getAttribute('data-completed'),
        status: el.getAttribute('data-status'),
        answered: el.querySelector('[data-testid="replay-score-row"]')?.getAttribute('data-answered') ?? null,
      }));
      seen.add(now.completed);
      if (now.answered !== null) seenAnswered.add(now.answered);
      return now.status === 'FINISHED' && now.completed === '50';
    },
    { timeoutMs: 90_000, intervalMs: 100, what: 'the replay to finish with 50 completed' },
  );
  assert.equal(await page.getByTestId('replay-completed').textContent(), '50 / 50');
  assert.equal(await page.getByTestId('replay-status').textContent(), 'FINISHED');
  assert.ok(seen.size >= 2, `progress was seen changing (${[...seen].join(', ')})`);
  assert.ok(seenAnswered.size >= 2, `the scores were seen changing (${[...seenAnswered].join(', ')})`);

  // One score row per head version the server serves (in the order of its `models`), each with
  // the server's figures; the replay's own accuracy is the consensus's.
  const [served] = (await server.gql('{ replays { completed correct scores { model modelVersion answered correct accuracy } } }')).replays;
  const key = (model, version) => `${model}@${version}`;
  const scoreOf = new Map(served.scores.map((s) => [key(s.model, s.modelVersion), s]));
  assert.deepEqual(
    [...scoreOf.keys()].sort(),
    headVersions.map((h) => key(h.model, h.version)).sort(),
    'the server scores every head version it serves',
  );
  const percent = (x) => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);
  const scoreRows = await eventually(
    async () => {
      const rows = await page.getByTestId('replay-score-row').evaluateAll((els) =>
        els.map((e) => ({
          model: e.getAttribute('data-model'),
          version: e.getAttribute('data-version'),
          answered: e.querySelector('[data-testid="replay-score-answered"]').textContent,
          accuracy: e.querySelector('[data-testid="replay-score-accuracy"]').textContent,
        })),
      );
      return rows.length === headVersions.length && rows.every((r) => r.answered === '50') ? rows : false;
    },
    { timeoutMs: 10_000, what: `${headVersions.length} score rows of 50 answers` },
  );
  assert.deepEqual(
    scoreRows,
    headVersions.map(({ model, version }) => {
      const s = scoreOf.get(key(model, version));
      return { model, version, answered: String(s.answered), accuracy: percent(s.accuracy) };
    }),
  );
  assert.equal(served.completed, 50);
  assert.equal(await page.getByTestId('replay-consensus').textContent(), percent(served.correct / served.completed));
  // The live feed showed the predictions as they came.
  assert.ok((await page.getByTestId('feed-row').count()) > 0, 'the live feed has rows');
  await screenshot(page, 'live-replay');

  const { replays } = await server.gql('{ replays { status completed limit } }');
  assert.deepEqual(replays[0], { status: 'FINISHED', completed: 50, limit: 50 });

  await page.getByTestId('nav-stats').click();
  await page.waitForURL('**/#/stats');
  // The page opens on the bundle's first head, and can switch to its last.
  const [first, last] = [heads[0], heads[heads.length - 1]];
  const { confusionMatrix } = await server.gql('query($m: String!) { confusionMatrix(model: $m) { total } }', { m: first });
  assert.equal(confusionMatrix.total, 50, 'all 50 replayed images are labeled');

  const matrix = page.locator(`[data-testid="confusion-matrix"][data-model="${first}"]`);
  await matrix.waitFor({ timeout: 15_000 });
  // The cells shown add up to the labeled predictions counted by the server.
  const cellSum = await eventually(
    async () => {
      const cells = await matrix.getByTestId('cm-cell').allTextContents();
      const sum = cells.reduce((a, c) => a + Number(c), 0);
      return cells.length === classes.length ** 2 && sum === confusionMatrix.total ? sum : false;
    },
    { timeoutMs: 15_000, what: 'the confusion matrix to add up to the server total' },
  );
  assert.equal(cellSum, 50);

  // Charts: each canvas is drawn, with data behind it.
  for (const chart of ['chart-latency', 'chart-accuracy', 'chart-classes']) {
    const el = page.getByTestId(chart);
    await el.locator('canvas').waitFor({ timeout: 10_000 });
    const points = Number(await el.getAttribute('data-points'));
    assert.ok(points > 0, `${chart} has data (${points})`);
    const painted = await eventually(() => paintedPixels(page, `[data-testid="${chart}"]`), { what: `${chart} painted` });
    assert.ok(painted > 500, `${chart} canvas is painted (${painted} pixels)`);
  }
  assert.equal(await page.getByTestId('chart-latency').getAttribute('data-points'), String(heads.length));

  // Per-model table, per-class metrics, last 50 predictions, throughput.
  const rows = page.getByTestId('model-stats-row');
  assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-model'))), heads);
  assert.equal(await page.getByTestId('class-metrics-row').count(), classes.length);
  await eventually(async () => (await page.getByTestId('recent-row').count()) === 50, { what: '50 recent predictions' });
  assert.equal(await page.getByTestId('total-predictions').textContent(), String(50 * heads.length));

  // The model selector switches the matrix.
  await page.getByTestId(`model-select-${last}`).click();
  await page.locator(`[data-testid="confusion-matrix"][data-model="${last}"]`).waitFor({ timeout: 10_000 });
  const lastSum = (await page.locator('[data-testid="confusion-matrix"] [data-testid="cm-cell"]').allTextContents()).reduce(
    (a, c) => a + Number(c),
    0,
  );
  assert.equal(lastSum, 50);
  await screenshot(page, 'stats');
  assert.deepEqual(page.problems(), [], 'no error in the page');
});

test('a slow replay can be stopped from the Live page', async (t) => {
  const page = await newPage(browser);
  t.after(() => page.context().close());
  await page.goto(`${server.baseUrl}/#/live`);
  await page.getByTestId('replay-rate').fill('4');
  await page.getByTestId('replay-limit').fill('1000');
  await page.getByTestId('replay-start').click();
  const progress = page.getByTestId('replay-progress');
  await progress.and(page.locator('[data-status="RUNNING"]')).waitFor({ timeout: 10_000 });
  await eventually(async () => Number(await progress.getAttribute('data-completed')) >= 1, { what: 'a first image of the slow replay' });
  await page.getByTestId('replay-stop').click();
  await progress.and(page.locator('[data-status="STOPPED"]')).waitFor({ timeout: 10_000 });
  assert.equal(await page.getByTestId('replay-status').textContent(), 'STOPPED');
  assert.ok(await page.getByTestId('replay-stop').isDisabled(), 'Stop is disabled once stopped');
  assert.ok(await page.getByTestId('replay-start').isEnabled(), 'a new replay can start');
  const { replays } = await server.gql('{ replays { status limit completed } }');
  assert.equal(replays[0].status, 'STOPPED');
  assert.ok(replays[0].completed < 1000);
  assert.deepEqual(page.problems(), []);
});
