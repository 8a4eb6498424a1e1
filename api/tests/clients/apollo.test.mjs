// Apollo Client as an application sets it up: apollo-upload-client's UploadHttpLink (GraphQL
// multipart uploads; default settings plus `Apollo-Require-Preflight`, which Apollo documents for
// CSRF-protected servers) for queries and mutations, GraphQLWsLink over graphql-ws for
// subscriptions, joined by `split` as Apollo's docs show.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApolloClient, ApolloLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import UploadHttpLink from 'apollo-upload-client/UploadHttpLink.mjs';
import { createClient } from 'graphql-ws';
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
let wsClient;
let client;
let bundle;
/** Every HTTP request the upload link made: `{ method, multipart, headers }`. */
const requests = [];

before(async () => {
  server = await startServer();
  bundle = await server.bundle();

  // Node 20 has no global WebSocket: graphql-ws takes the `ws` package.
  wsClient = createClient({ url: server.wsUrl, webSocketImpl: WebSocket });
  const wsLink = new GraphQLWsLink(wsClient);
  const httpLink = new UploadHttpLink({
    uri: server.graphqlUrl,
    headers: { 'Apollo-Require-Preflight': 'true' },
    // The global fetch, only recorded.
    fetch: (url, init) => {
      requests.push({ url: String(url), method: init?.method ?? 'GET', multipart: init?.body instanceof FormData, headers: { ...init?.headers } });
      return fetch(url, init);
    },
  });
  const link = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    wsLink,
    httpLink,
  );
  client = new ApolloClient({ link, cache: new InMemoryCache() });
});

after(async () => {
  client?.stop();
  await wsClient?.dispose();
  await server?.stop();
});

/** Subscribes through Apollo; the socket is up and a round trip over it done before it returns. */
async function subscribe(query, variables) {
  const events = collector();
  const subscription = client.subscribe({ query, variables }).subscribe({
    next: (result) => {
      if (result.error) events.fail(result.error);
      else events.push(result.data);
    },
    error: (e) => events.fail(e),
  });
  // The subscribe message goes out once the socket is acknowledged; a query answered over the
  // same socket after it tells that the server has read it.
  await withTimeout(
    new Promise((resolve, reject) => {
      wsClient.subscribe({ query: '{ __typename }' }, { next: () => undefined, error: reject, complete: resolve });
    }),
    30_000,
    'a round trip over the WebSocket',
  );
  return { events, subscription };
}

test('a query through the upload link', async () => {
  const { data } = await client.query({
    query: gql`
      query Bundle {
        classes
        health {
          status
          ready
          components {
            name
            status
          }
        }
        models {
          name
          version
          kind
          runtime
        }
      }
    `,
  });
  assert.deepEqual(data.classes, manifestClasses());
  assert.equal(data.health.ready, true);
  assert.equal(data.health.status, 'UP', JSON.stringify(data.health.components));
  assert.ok(data.models.some((m) => m.kind === 'EXTRACTOR'));
  assert.ok(data.models.some((m) => m.kind === 'CLASSIFIER'));
  for (const m of data.models) assert.equal(m.runtime, server.runtime, `${m.name} runs on ${server.runtime}`);
  const last = requests.at(-1);
  assert.equal(last.multipart, false);
  assert.equal(last.headers['Apollo-Require-Preflight'] ?? last.headers['apollo-require-preflight'], 'true');
});

test('imageCompleted, subscribed before the upload, delivers the uploaded image with its predictions', async () => {
  const { events, subscription } = await subscribe(gql`
    subscription Completed {
      imageCompleted {
        ${COMPLETED_IMAGE_FIELDS}
      }
    }
  `);
  try {
    const [image] = cifarImages(1, { classes: ['cat'] });
    const file = new File([image.buffer], image.name, { type: image.mimeType });
    const before = requests.length;
    const { data } = await client.mutate({
      mutation: gql`
        mutation Upload($file: Upload!, $label: String) {
          uploadImage(file: $file, label: $label) {
            id
            status
            label
            contentType
            sizeBytes
            width
            height
          }
        }
      `,
      variables: { file, label: image.cls },
    });
    const uploaded = data.uploadImage;
    assert.ok(uploaded.id);
    assert.equal(uploaded.label, 'cat');
    assert.equal(uploaded.contentType, 'image/jpeg');
    assert.equal(uploaded.sizeBytes, image.buffer.length);
    assert.deepEqual([uploaded.width, uploaded.height], [32, 32]);
    assert.ok(['PENDING', 'EXTRACTED', 'COMPLETED'].includes(uploaded.status), uploaded.status);

    const sent = requests.slice(before);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].method, 'POST');
    assert.equal(sent[0].multipart, true, 'the upload went as a multipart request');

    const completed = await events.waitFor((d) => d.imageCompleted.id === uploaded.id, `imageCompleted of ${uploaded.id}`);
    checkCompletedImage(assert, completed.imageCompleted, {
      id: uploaded.id,
      label: 'cat',
      classes: bundle.classes,
      heads: bundle.heads,
    });
  } finally {
    subscription.unsubscribe();
  }
});

test('uploadImages: two files in one multipart request, both completed', async () => {
  const { events, subscription } = await subscribe(gql`
    subscription Completed {
      imageCompleted {
        ${COMPLETED_IMAGE_FIELDS}
      }
    }
  `);
  try {
    const images = cifarImages(2, { classes: ['ship', 'horse'], skip: 1 });
    const files = images.map((i) => new File([i.buffer], i.name, { type: i.mimeType }));
    const before = requests.length;
    const { data } = await client.mutate({
      mutation: gql`
        mutation UploadMany($files: [Upload!]!, $labels: [String]) {
          uploadImages(files: $files, labels: $labels) {
            id
            label
            sizeBytes
          }
        }
      `,
      variables: { files, labels: images.map((i) => i.cls) },
    });
    const uploaded = data.uploadImages;
    assert.equal(uploaded.length, 2);
    assert.notEqual(uploaded[0].id, uploaded[1].id);
    assert.deepEqual(uploaded.map((u) => u.label), ['ship', 'horse']);
    assert.deepEqual(uploaded.map((u) => u.sizeBytes), images.map((i) => i.buffer.length));
    const sent = requests.slice(before);
    assert.equal(sent.length, 1, 'one request for both files');
    assert.equal(sent[0].multipart, true);

    for (const [i, u] of uploaded.entries()) {
      const completed = await events.waitFor((d) => d.imageCompleted.id === u.id, `imageCompleted of ${u.id}`);
      checkCompletedImage(assert, completed.imageCompleted, {
        id: u.id,
        label: images[i].cls,
        classes: bundle.classes,
        heads: bundle.heads,
      });
    }
  } finally {
    subscription.unsubscribe();
  }
});
