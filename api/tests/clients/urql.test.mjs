// urql's core client with its default settings: `preferGetMethod` stays 'within-url-limit', so
// queries go by GET (as the GraphQL-over-HTTP spec allows) and mutations by POST;
// subscriptions through subscriptionExchange over graphql-ws, as urql's docs show.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client, cacheExchange, fetchExchange, gql, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';

import { cifarImages, collector, manifestClasses, startServer, withTimeout } from './server.mjs';

let server;
let wsClient;
let client;
let bundle;
/** Every HTTP request urql made: `{ method, url, accept }`. */
const requests = [];

before(async () => {
  server = await startServer();
  bundle = await server.bundle();
  // Node 20 has no global WebSocket: graphql-ws takes the `ws` package.
  wsClient = createWsClient({ url: server.wsUrl, webSocketImpl: WebSocket });
  client = new Client({
    url: server.graphqlUrl,
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || '' };
          return {
            subscribe(sink) {
              const unsubscribe = wsClient.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
    // The global fetch, only recorded; every other setting is urql's default.
    fetch: (url, init) => {
      const headers = new Headers(init?.headers);
      requests.push({ url: String(url), method: init?.method ?? 'GET', accept: headers.get('accept') });
      return fetch(url, init);
    },
  });
});

after(async () => {
  await wsClient?.dispose();
  await server?.stop();
});

test('a query goes by GET (urql default) and is executed', async () => {
  const before = requests.length;
  const result = await client
    .query(
      gql`
        query Overview($window: Int!) {
          classes
          throughput(windowSeconds: $window) {
            windowSeconds
            imagesCompleted
          }
          models {
            name
            kind
          }
        }
      `,
      { window: 30 },
    )
    .toPromise();
  const sent = requests.slice(before);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].method, 'GET', `urql sent ${sent[0].method} ${sent[0].url}`);
  assert.match(sent[0].url, /[?&]query=/);
  assert.equal(result.error, undefined, `urql error: ${result.error?.message}`);
  assert.deepEqual(result.data.classes, manifestClasses());
  assert.equal(result.data.throughput.windowSeconds, 30);
  assert.ok(result.data.throughput.imagesCompleted >= 0);
  assert.ok(result.data.models.some((m) => m.kind === 'CLASSIFIER'));
});

test('a mutation goes by POST', async () => {
  const head = bundle.heads[0].name;
  const before = requests.length;
  const result = await client
    .mutation(
      gql`
        mutation Stop($model: String!) {
          stopAbTest(model: $model)
        }
      `,
      { model: head },
    )
    .toPromise();
  const sent = requests.slice(before);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].method, 'POST');
  assert.equal(result.error, undefined, `urql error: ${result.error?.message}`);
  assert.equal(result.data.stopAbTest, false, 'no A/B test ran');
});

test('predictionAdded over graphql-ws: one prediction per head for an uploaded image', async () => {
  const events = collector();
  const { unsubscribe } = client
    .subscription(
      gql`
        subscription Predictions {
          predictionAdded {
            id
            imageId
            model
            modelVersion
            predictedClass
            confidence
            correct
            topK {
              class
              probability
            }
          }
        }
      `,
      {},
    )
    .subscribe((result) => {
      if (result.error) events.fail(result.error);
      else events.push(result.data.predictionAdded);
    });
  try {
    // The subscribe message is out once the socket is acknowledged; a query answered over the
    // same socket after it tells that the server has read it.
    await withTimeout(
      new Promise((resolve, reject) => {
        wsClient.subscribe({ query: '{ __typename }' }, { next: () => undefined, error: reject, complete: resolve });
      }),
      30_000,
      'a round trip over the WebSocket',
    );
    const [image] = cifarImages(1, { classes: ['deer'], skip: 2 });
    const uploaded = await server.upload(image);
    assert.equal(uploaded.label, 'deer');

    for (const head of bundle.heads) {
      const p = await events.waitFor(
        (v) => v.imageId === uploaded.id && v.model === head.name && v.modelVersion === head.version,
        `predictionAdded of ${uploaded.id} by ${head.name}@${head.version}`,
      );
      assert.ok(bundle.classes.includes(p.predictedClass), p.predictedClass);
      assert.ok(p.confidence > 0 && p.confidence <= 1, String(p.confidence));
      assert.equal(p.correct, p.predictedClass === 'deer');
      assert.ok(p.topK.length >= 1);
      assert.equal(p.topK[0].class, p.predictedClass, 'top-k is best first');
      assert.ok(Math.abs(p.topK[0].probability - p.confidence) < 1e-6);
    }
    const mine = events.values.filter((v) => v.imageId === uploaded.id);
    assert.equal(mine.length, bundle.heads.length, 'one prediction per served head version');
  } finally {
    unsubscribe();
  }
});
