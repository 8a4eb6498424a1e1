// F12: GraphiQL at /graphql, built from the project's own assets (dist/graphiql.html): it loads
// and works with no network but the server's own origin; a query, the Authorization header from
// the Headers tab (HTTP and the WebSocket's connection_init), a subscription, and uploads of
// CIFAR-10 images through the upload bar (GraphQL multipart request).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cifarImages, eventually, launchBrowser, newPage, screenshot, startServer } from './helpers.mjs';

let server;
let browser;

// GraphiQL's editors (Monaco): the operation, the result, the Headers tab (when shown).
const QUERY = '.graphiql-query-editor';
const RESULT = '.graphiql-response';
const HEADERS = '.graphiql-editor-tool[aria-label="Headers"] .graphiql-editor:not(.hidden)';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * A page that may reach the server's own origin only: every other request (HTTP or WebSocket)
 * is aborted and recorded in `blocked()`, so a page that needs a CDN fails here.
 */
async function isolatedPage(t) {
  const page = await newPage(browser);
  t.after(() => page.context().close());
  const { origin, host } = new URL(server.baseUrl);
  const blocked = [];
  await page.context().route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('data:') || new URL(url).origin === origin) return route.continue();
    blocked.push(url);
    return route.abort('blockedbyclient');
  });
  page.on('websocket', (ws) => {
    if (new URL(ws.url()).host !== host) blocked.push(ws.url());
  });
  page.blocked = () => blocked;
  return page;
}

/** Opens GET /graphql as a browser does and waits for GraphiQL's editors. */
async function openGraphiQL(page) {
  const response = await page.goto(`${server.baseUrl}/graphql`);
  assert.equal(response.status(), 200, 'GET /graphql answers 200');
  assert.match(response.headers()['content-type'] ?? '', /^text\/html/);
  assert.equal(
    await page.locator('#graphiql-root').count(),
    1,
    "GET /graphql must serve the dashboard's own GraphiQL (dist/graphiql.html), not another page",
  );
  await page.getByTestId('upload-bar').waitFor({ timeout: 15_000 });
  await page.locator(`${QUERY} .monaco-editor`).waitFor({ timeout: 30_000 });
  await page.locator(`${RESULT} .monaco-editor`).waitFor({ timeout: 30_000 });
}

/** Replaces the text of one of GraphiQL's Monaco editors, as a user pasting into it. */
async function setEditor(page, container, text) {
  await page.locator(`${container} .monaco-editor .view-lines`).first().click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

/** The text an editor shows (Monaco renders spaces as no-break spaces). */
async function editorText(page, container) {
  const text = await page.locator(`${container} .monaco-editor .view-lines`).first().innerText();
  return text.replace(/\u00a0/g, ' ');
}

/**
 * The result pane as JSON, once it holds a complete document. Read from its Monaco model (the
 * screen wraps long lines and draws only the visible ones): `__MONACO` is GraphiQL's Monaco.
 */
async function responseJson(page) {
  const text = await page.evaluate(() => {
    const model = globalThis.__MONACO?.editor.getModels().find((m) => m.uri.path.endsWith('response.json'));
    return model ? model.getValue() : null;
  });
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function run(page) {
  await page.locator('.graphiql-execute-button').click();
}

/** Runs `query` and waits for a result in the pane that satisfies `accept`. */
async function runAndWait(page, query, accept, what) {
  await setEditor(page, QUERY, query);
  await run(page);
  return eventually(
    async () => {
      const body = await responseJson(page);
      return body && accept(body) ? body : null;
    },
    { timeoutMs: 30_000, what },
  );
}

test('GET /graphql serves GraphiQL from the server alone and a query shows its answer', async (t) => {
  const page = await isolatedPage(t);
  await openGraphiQL(page);

  // The Headers tab is open by default and says where the API key goes; so does the bar.
  await page.locator(`${HEADERS} .monaco-editor`).waitFor({ timeout: 10_000 });
  assert.match(await editorText(page, HEADERS), /Authorization.*Bearer <key>/);
  assert.match(await page.getByTestId('auth-hint').textContent(), /"Authorization": "Bearer <key>"/);

  const { classes } = await server.gql('{ classes }');
  const body = await runAndWait(page, '{ health { status } classes }', (b) => b.data || b.errors, 'the query result');
  assert.equal(body.errors, undefined, `no error: ${JSON.stringify(body.errors)}`);
  assert.ok(['UP', 'DOWN'].includes(body.data.health.status));
  assert.deepEqual(body.data.classes, classes, "the server's classes, as it answers them");
  await screenshot(page, 'graphiql-query');

  // The schema came through introspection: the docs list the three root types.
  await page.locator('.graphiql-sidebar button[aria-label="Show Documentation Explorer"]').click();
  await eventually(async () => (await page.locator('.graphiql-doc-explorer-root-type').count()) === 3, {
    what: 'the docs with query, mutation and subscription',
  });
  assert.deepEqual(await page.locator('.graphiql-doc-explorer-root-type').allTextContents(), ['query', 'mutation', 'subscription']);
  assert.equal(await page.locator('.graphiql-doc-explorer-error').count(), 0, 'no schema error');
  await screenshot(page, 'graphiql-docs');

  assert.deepEqual(page.blocked(), [], 'GraphiQL reached no other host');
  assert.deepEqual(page.problems(), [], 'no error in the page');
});

test('the Authorization header of the Headers tab goes with HTTP requests and in connection_init', async (t) => {
  const page = await isolatedPage(t);
  const sent = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/graphql') sent.push(r.headers());
  });
  const inits = [];
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      try {
        const msg = JSON.parse(typeof f.payload === 'string' ? f.payload : f.payload.toString());
        if (msg.type === 'connection_init') inits.push(msg.payload ?? null);
      } catch {
        // not JSON
      }
    });
  });
  await openGraphiQL(page);
  // What is sent, whatever the server makes of this key (a server with API keys in force
  // refuses an unknown one: the answer is not checked here, nor the browser's log of a 401).
  await setEditor(page, HEADERS, '{ "Authorization": "Bearer e2e-key" }');

  sent.length = 0;
  await runAndWait(page, '{ classes }', (b) => b.data || b.errors, 'the query result');
  assert.ok(
    sent.some((h) => h.authorization === 'Bearer e2e-key'),
    `the POST carried the header (sent: ${JSON.stringify(sent)})`,
  );

  await setEditor(page, QUERY, 'subscription { statsUpdated(intervalMs: 250) { model count } }');
  await run(page);
  await eventually(() => inits.length > 0, { what: 'a connection_init' });
  assert.deepEqual(inits[0], { Authorization: 'Bearer e2e-key' }, 'connection_init carries the headers');
  // Stops the subscription if it still runs (a refused one has ended by itself).
  if (/stop/i.test((await page.locator('.graphiql-execute-button').getAttribute('aria-label')) ?? '')) await run(page);
  assert.deepEqual(page.blocked(), []);
  assert.deepEqual(
    page.problems().filter((p) => p.startsWith('pageerror')),
    [],
    'no uncaught error in the page',
  );
});

test('a subscription streams into the result pane', async (t) => {
  const page = await isolatedPage(t);
  await openGraphiQL(page);
  await setEditor(page, QUERY, 'subscription { predictionAdded { imageId model predictedClass } }');
  await run(page);
  // The execute button turns into a stop button while the subscription runs.
  await eventually(async () => (await page.locator('.graphiql-execute-button').getAttribute('aria-label'))?.match(/stop/i), {
    what: 'the subscription running',
  });
  // Give the server a moment to register the subscription, then make a prediction happen.
  await page.waitForTimeout(500);
  const [ship] = cifarImages('ship', 1);
  const uploaded = await server.upload(ship, { label: 'ship' });
  const body = await eventually(
    async () => {
      const b = await responseJson(page);
      return b?.data?.predictionAdded?.imageId === uploaded.id ? b : null;
    },
    { timeoutMs: 30_000, what: 'a predictionAdded event in the result pane' },
  );
  assert.ok(body.data.predictionAdded.model);
  assert.ok(body.data.predictionAdded.predictedClass);
  await screenshot(page, 'graphiql-subscription');
  await run(page); // stops it
  assert.deepEqual(page.blocked(), []);
  assert.deepEqual(page.problems(), []);
});

test('files chosen in the upload bar go as a GraphQL multipart request: uploadImage and uploadImages', async (t) => {
  const page = await isolatedPage(t);
  const multipart = [];
  page.on('request', (r) => {
    const h = r.headers();
    if (r.method() === 'POST' && (h['content-type'] ?? '').startsWith('multipart/form-data')) multipart.push(h);
  });
  await openGraphiQL(page);

  // One image to $file (uploadImage).
  const [cat] = cifarImages('cat', 1);
  await page.getByTestId('upload-files').setInputFiles({ name: cat.name, mimeType: cat.mimeType, buffer: cat.buffer });
  assert.match(await page.getByTestId('upload-summary').textContent(), new RegExp(`1 file attached: ${cat.name}`));
  assert.equal(await page.getByTestId('upload-variable').inputValue(), 'file');
  const one = await runAndWait(
    page,
    'mutation Upload($file: Upload!) { uploadImage(file: $file, label: "cat") { id status label } }',
    (b) => b.data || b.errors,
    'the uploadImage result',
  );
  assert.equal(one.errors, undefined, `no error: ${JSON.stringify(one.errors)}`);
  const id = one.data.uploadImage.id;
  assert.ok(id, 'the response names the image id');
  assert.equal(one.data.uploadImage.label, 'cat');
  assert.equal(multipart.length, 1, 'sent as multipart/form-data');
  assert.equal(multipart[0]['apollo-require-preflight'], 'true', 'with apollo-require-preflight');
  await screenshot(page, 'graphiql-upload');
  const stored = await server.waitCompleted(id);
  assert.equal(stored.status, 'COMPLETED', 'the server classified the uploaded image');
  const { image } = await server.gql('query($id: ID!) { image(id: $id) { label source } }', { id });
  assert.deepEqual(image, { label: 'cat', source: 'upload' });

  // Two images: the variable becomes $files (uploadImages), one file per index.
  const ships = cifarImages('ship', 2);
  await page.getByTestId('upload-files').setInputFiles(ships.map((f) => ({ name: f.name, mimeType: f.mimeType, buffer: f.buffer })));
  assert.equal(await page.getByTestId('upload-variable').inputValue(), 'files');
  assert.match(await page.getByTestId('upload-summary').textContent(), /2 files attached/);
  const many = await runAndWait(
    page,
    'mutation UploadMany($files: [Upload!]!) { uploadImages(files: $files, labels: ["ship", "ship"]) { id label } }',
    (b) => b.data || b.errors,
    'the uploadImages result',
  );
  assert.equal(many.errors, undefined, `no error: ${JSON.stringify(many.errors)}`);
  assert.equal(many.data.uploadImages.length, 2);
  for (const img of many.data.uploadImages) {
    assert.ok(img.id);
    assert.equal(img.label, 'ship');
  }

  // Cleared, a query goes as JSON again.
  await page.getByTestId('upload-clear').click();
  assert.match(await page.getByTestId('upload-summary').textContent(), /no file attached/);
  const sentBefore = multipart.length;
  const listed = await runAndWait(page, '{ images(first: 3) { edges { node { id } } } }', (b) => b.data || b.errors, 'the latest images');
  assert.deepEqual(
    listed.data.images.edges.map((e) => e.node.id).sort(),
    [id, ...many.data.uploadImages.map((i) => i.id)].sort(),
    'the three uploaded images are the newest',
  );
  assert.equal(multipart.length, sentBefore, 'no multipart request without files');

  assert.deepEqual(page.blocked(), []);
  assert.deepEqual(page.problems(), []);
});
