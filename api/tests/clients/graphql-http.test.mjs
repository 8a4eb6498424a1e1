// The GraphQL-over-HTTP spec's audits (graphql-http's `serverAudits`, the reference
// implementation) against the real server, and a few of the spec's rules checked by hand:
// GET executes queries and never mutations, both media types are served.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { serverAudits } from 'graphql-http';

import { startServer } from './server.mjs';

const ARTIFACTS_DIR = join(import.meta.dirname, 'test-artifacts');
const GQL_RESPONSE = 'application/graphql-response+json';

let server;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

const oneLine = (s, max = 400) => {
  const t = String(s ?? '').replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
};

async function describeResponse(res) {
  if (!res) return '';
  let body = '';
  try {
    body = await res.clone().text();
  } catch {
    try {
      body = await res.text();
    } catch {
      body = '<body already read>';
    }
  }
  const ct = res.headers.get('content-type') ?? '-';
  return `HTTP ${res.status} [${ct}] ${oneLine(body, 300)}`;
}

test('graphql-http serverAudits: 0 errors, 0 warnings', async () => {
  const audits = serverAudits({ url: server.graphqlUrl, fetchFn: fetch });
  assert.ok(audits.length > 20, `graphql-http has its audits (${audits.length})`);

  const rows = [];
  for (const audit of audits) {
    let result;
    try {
      result = await audit.fn();
    } catch (e) {
      // graphql-http throws only on a fatal problem (e.g. the request itself failed).
      result = { id: audit.id, name: audit.name, status: 'error', reason: `fatal: ${e?.stack ?? e}` };
    }
    const detail =
      result.status === 'ok' ? '' : `${oneLine(result.reason)} | ${await describeResponse(result.response)}`;
    rows.push({ status: result.status, id: result.id, name: result.name, detail });
  }

  const count = (s) => rows.filter((r) => r.status === s).length;
  const lines = [
    `graphql-http serverAudits against ${server.graphqlUrl}: ${rows.length} audits, ` +
      `${count('ok')} ok, ${count('notice')} notice, ${count('warn')} warn, ${count('error')} error`,
    '',
    ...rows.map((r) => `${r.status.padEnd(6)} ${r.id}  ${r.name}${r.detail ? `\n         -> ${r.detail}` : ''}`),
  ];
  const table = lines.join('\n');
  console.log(table);
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  writeFileSync(join(ARTIFACTS_DIR, 'graphql-http-audits.txt'), `${table}\n`);

  const failing = rows.filter((r) => r.status === 'error' || r.status === 'warn');
  assert.equal(
    failing.length,
    0,
    `${count('error')} error(s) and ${count('warn')} warning(s):\n` +
      failing.map((r) => `${r.status} ${r.id} ${r.name}: ${r.detail}`).join('\n'),
  );
});

test('GET executes a query: application/graphql-response+json', async () => {
  const res = await fetch(`${server.graphqlUrl}?query=${encodeURIComponent('{__typename}')}`, {
    headers: { accept: GQL_RESPONSE },
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/graphql-response\+json/);
  assert.deepEqual(JSON.parse(text), { data: { __typename: 'Query' } });
});

test('GET executes a query with variables: application/json', async () => {
  const query = 'query Q($n: Int!) { throughput(windowSeconds: $n) { windowSeconds } classes }';
  const url = `${server.graphqlUrl}?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(
    JSON.stringify({ n: 7 }),
  )}&operationName=Q`;
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text);
  assert.equal(body.errors, undefined, text);
  assert.equal(body.data.throughput.windowSeconds, 7);
  const { classes } = await server.gql('{ classes }');
  assert.deepEqual(body.data.classes, classes);
  assert.ok(classes.length >= 2, `the bundle has classes (${classes})`);
});

test('POST answers application/graphql-response+json and application/json as asked', async () => {
  for (const accept of [GQL_RESPONSE, 'application/json']) {
    const res = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, `${accept}: ${text}`);
    assert.equal((res.headers.get('content-type') ?? '').split(';')[0].trim(), accept);
    assert.deepEqual(JSON.parse(text), { data: { __typename: 'Query' } });
  }
});

test('GET never executes a mutation: 405 with Allow: POST, and nothing changes', async () => {
  const { models } = await server.gql('{ models { name kind } }');
  const head = models.find((m) => m.kind === 'CLASSIFIER')?.name;
  assert.ok(head, 'the server serves a classifier head');
  const { registeredModel } = await server.gql(
    'query($n: String!) { registeredModel(name: $n) { production { version } aliases { alias } } }',
    { n: head },
  );
  const version = registeredModel.production.version;
  const alias = 'set-by-get';
  assert.ok(!registeredModel.aliases.some((a) => a.alias === alias));

  const mutation = `mutation { setModelAlias(name: ${JSON.stringify(head)}, alias: "${alias}", version: ${version}) { changed } }`;
  for (const accept of [GQL_RESPONSE, 'application/json']) {
    const res = await fetch(`${server.graphqlUrl}?query=${encodeURIComponent(mutation)}`, { headers: { accept } });
    const text = await res.text();
    assert.equal(res.status, 405, `${accept}: ${text}`);
    const allow = (res.headers.get('allow') ?? '').split(',').map((m) => m.trim().toUpperCase());
    assert.deepEqual(allow, ['POST'], `Allow header: ${res.headers.get('allow')}`);
  }

  const { registeredModel: afterGet } = await server.gql(
    'query($n: String!) { registeredModel(name: $n) { aliases { alias } history { alias } } }',
    { n: head },
  );
  assert.ok(!afterGet.aliases.some((a) => a.alias === alias), 'the mutation sent by GET did not run');
  assert.ok(!afterGet.history.some((h) => h.alias === alias), 'no alias move was recorded');
});

test('GET with no query, asking for application/graphql-response+json: 400', async () => {
  const res = await fetch(server.graphqlUrl, { headers: { accept: GQL_RESPONSE } });
  const text = await res.text();
  assert.equal(res.status, 400, text);
});
