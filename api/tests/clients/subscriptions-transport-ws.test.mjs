// The legacy `graphql-ws` WebSocket protocol, spoken by the `subscriptions-transport-ws`
// package's SubscriptionClient (default settings, the `ws` package as its WebSocket): a query
// over the socket, and a subscription that sees an image uploaded by a plain multipart POST.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import WebSocket from 'ws';

import {
  COMPLETED_IMAGE_FIELDS,
  checkCompletedImage,
  cifarImages,
  collector,
  manifestClasses,
  startServer,
  withTimeout,
} from './server.mjs';

let server;
let client;
let bundle;

before(async () => {
  server = await startServer();
  bundle = await server.bundle();
  client = new SubscriptionClient(server.wsUrl, {}, WebSocket);
});

after(async () => {
  client?.close();
  await server?.stop();
});

/** One operation over the socket to its end: `{ results, completed }`. */
function requestAll(request, what) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const results = [];
      client.request(request).subscribe({
        next: (r) => results.push(r),
        error: reject,
        complete: () => resolve(results),
      });
    }),
    30_000,
    what,
  );
}

test('the socket speaks the legacy graphql-ws subprotocol', async () => {
  await withTimeout(
    new Promise((resolve) => {
      if (client.status === WebSocket.OPEN) resolve();
      else client.onConnected(() => resolve());
    }),
    30_000,
    'the connection ack',
  );
  assert.equal(client.client.protocol, 'graphql-ws');
});

test('a query over the socket', async () => {
  const results = await requestAll(
    { query: 'query Q($n: Int!) { classes throughput(windowSeconds: $n) { windowSeconds } }', variables: { n: 12 } },
    'a query over the legacy protocol',
  );
  assert.equal(results.length, 1, JSON.stringify(results));
  assert.equal(results[0].errors, undefined, JSON.stringify(results[0].errors));
  assert.deepEqual(results[0].data.classes, manifestClasses());
  assert.equal(results[0].data.throughput.windowSeconds, 12);
});

test('a query with an error answers the error over the socket', async () => {
  let results;
  try {
    results = await requestAll({ query: '{ noSuchField }' }, 'an invalid query over the legacy protocol');
  } catch (errors) {
    // subscriptions-transport-ws hands validation errors (an `error` message) to `error`.
    results = [{ errors: Array.isArray(errors) ? errors : [errors] }];
  }
  assert.ok(results.length >= 1);
  assert.ok(results[0].errors?.length >= 1, JSON.stringify(results));
  assert.match(JSON.stringify(results[0].errors), /noSuchField/);
});

test('imageCompleted, subscribed before a multipart upload, delivers that image', async () => {
  const events = collector();
  const subscription = client
    .request({ query: `subscription { imageCompleted { ${COMPLETED_IMAGE_FIELDS} } }` })
    .subscribe({
      next: (r) => (r.errors ? events.fail(new Error(JSON.stringify(r.errors))) : events.push(r.data.imageCompleted)),
      error: (e) => events.fail(e),
    });
  try {
    // Messages on one socket are read in order: once a later query is answered, the server has
    // started the subscription.
    await requestAll({ query: '{ __typename }' }, 'a round trip over the socket');

    const [image] = cifarImages(1, { classes: ['truck'], skip: 3 });
    const uploaded = await server.upload(image);
    assert.equal(uploaded.label, 'truck');

    const completed = await events.waitFor((v) => v.id === uploaded.id, `imageCompleted of ${uploaded.id}`);
    checkCompletedImage(assert, completed, {
      id: uploaded.id,
      label: 'truck',
      classes: bundle.classes,
      heads: bundle.heads,
    });
  } finally {
    subscription.unsubscribe();
  }
});
