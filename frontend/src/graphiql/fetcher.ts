// GraphiQL's fetcher: queries and mutations by JSON POST to `/graphql` (the toolkit's fetcher),
// subscriptions over graphql-ws (protocol `graphql-transport-ws`, same path) with the request
// headers as `connection_init`'s payload, and uploads: when files are attached in the upload bar
// and the operation declares the variable they go to, the operation is sent as a GraphQL
// multipart request (https://github.com/jaydenseric/graphql-multipart-request-spec: `operations`,
// `map`, then the files) with `apollo-require-preflight: true`, which the server requires of a
// multipart POST (a browser cannot send it cross-site without a CORS preflight).

import {
  createGraphiQLFetcher,
  type Fetcher,
  type FetcherOpts,
  type FetcherParams,
  type Observable,
  type Unsubscribable,
} from '@graphiql/toolkit';
import { createClient, type ExecutionResult } from 'graphql-ws';
import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  parse,
  type DocumentNode,
  type OperationDefinitionNode,
  type TypeNode,
} from 'graphql';
import type { AttachmentStore, Attachments } from './attachments';

export const ENDPOINT = '/graphql';

/** `ws(s)://<this host>/graphql`. */
export function subscriptionUrl(location: Pick<Location, 'protocol' | 'host'> = window.location): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${ENDPOINT}`;
}

/** What goes in the multipart request: the variables with `null` where the files go, and the map. */
export interface UploadPlan {
  variables: Record<string, unknown>;
  /** Form field name (`"0"`, `"1"`...) -> the object paths it fills (`variables.file`). */
  map: Record<string, string[]>;
  files: readonly File[];
}

export type PlanResult = { kind: 'none' } | { kind: 'error'; message: string } | ({ kind: 'upload' } & UploadPlan);

const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;
const INDEX = /^\d+$/;

/** The segments of a path such as `file`, `$files`, `variables.input.file`; null when malformed. */
export function pathSegments(path: string): string[] | null {
  const trimmed = path.trim().replace(/^\$/, '').replace(/^variables\./, '');
  if (!trimmed) return null;
  const segments = trimmed.split('.');
  if (!NAME.test(segments[0]) || !segments.every((s) => NAME.test(s) || INDEX.test(s))) return null;
  return segments;
}

function selectedOperation(doc: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | null {
  const operations = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (operationName) return operations.find((o) => o.name?.value === operationName) ?? null;
  return operations.length === 1 ? operations[0] : null;
}

function parseOrNull(query: string): DocumentNode | null {
  try {
    return parse(query);
  } catch {
    return null;
  }
}

/**
 * `params` with an operation name that exists in `doc`: GraphiQL reads the editor's operation
 * name 100 ms after typing, so a document just pasted may come with the previous one's name.
 */
function withCurrentOperation(params: FetcherParams, doc: DocumentNode): FetcherParams {
  if (!params.operationName || selectedOperation(doc, params.operationName)) return params;
  const operations = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  return operations.length === 1 ? { ...params, operationName: operations[0].name?.value ?? null } : params;
}

function isListType(type: TypeNode): boolean {
  const inner = type.kind === Kind.NON_NULL_TYPE ? type.type : type;
  return inner.kind === Kind.LIST_TYPE;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sets `value` at `segments` in `target`, making the objects (or arrays, before an index) on the way. */
function setAt(target: Record<string, unknown> | unknown[], segments: string[], value: unknown): void {
  let node: Record<string, unknown> | unknown[] = target;
  segments.forEach((segment, i) => {
    const key: string | number = Array.isArray(node) ? Number(segment) : segment;
    const container = node as Record<string | number, unknown>;
    if (i === segments.length - 1) {
      container[key] = value;
      return;
    }
    const next = container[key];
    if (typeof next === 'object' && next !== null) {
      node = next as Record<string, unknown> | unknown[];
    } else {
      const made: Record<string, unknown> | unknown[] = INDEX.test(segments[i + 1]) ? [] : {};
      container[key] = made;
      node = made;
    }
  });
}

/**
 * Decides how the attached files go with an operation: not at all (`none`: no file, a
 * subscription, or an operation that does not declare the variable), or as a multipart request
 * (`upload`), or not (`error`, e.g. several files for a variable of type `Upload!`). A list
 * variable (`[Upload!]!`) gets every file, one per index.
 */
export function planUpload(params: FetcherParams, doc: DocumentNode | null, attachments: Attachments): PlanResult {
  const { files } = attachments;
  // A document that does not parse: the server will say what is wrong with it.
  if (files.length === 0 || !doc) return { kind: 'none' };
  const operation = selectedOperation(doc, params.operationName);
  if (!operation || operation.operation === OperationTypeNode.SUBSCRIPTION) return { kind: 'none' };
  const segments = pathSegments(attachments.path);
  if (!segments) {
    return {
      kind: 'error',
      message: `Files are attached but "${attachments.path}" is not a variable path: name the variable they go to, e.g. file or files.`,
    };
  }
  const definition = operation.variableDefinitions?.find((v) => v.variable.name.value === segments[0]);
  if (!definition) return { kind: 'none' };

  const list = segments.length === 1 ? isListType(definition.type) : files.length > 1;
  if (!list && files.length > 1) {
    return {
      kind: 'error',
      message: `$${segments.join('.')} takes one file and ${files.length} are attached: send them to a list variable (e.g. $files: [Upload!]! of uploadImages) or keep one.`,
    };
  }

  const given: unknown = params.variables;
  const variables: Record<string, unknown> = isRecord(given) ? structuredClone(given) : {};
  const dotted = segments.join('.');
  const map: Record<string, string[]> = {};
  if (list) {
    setAt(variables, segments, files.map(() => null));
    files.forEach((_, i) => {
      map[String(i)] = [`variables.${dotted}.${i}`];
    });
  } else {
    setAt(variables, segments, null);
    map['0'] = [`variables.${dotted}`];
  }
  return { kind: 'upload', variables, map, files };
}

/** The request headers of GraphiQL's headers editor as strings (less any content-type). */
function requestHeaders(opts: FetcherOpts | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  const given: unknown = opts?.headers;
  if (!isRecord(given)) return headers;
  for (const [name, value] of Object.entries(given)) {
    // The browser sets multipart/form-data with its boundary.
    if (name.toLowerCase() === 'content-type' || value === undefined || value === null) continue;
    headers[name] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return headers;
}

function failure(message: string): ExecutionResult {
  return { errors: [new GraphQLError(message)] };
}

/** Sends `params` as a GraphQL multipart request. */
export async function sendMultipart(
  params: FetcherParams,
  plan: UploadPlan,
  opts: FetcherOpts | undefined,
  fetchImpl: typeof fetch = fetch,
): Promise<ExecutionResult> {
  const form = new FormData();
  form.append(
    'operations',
    JSON.stringify({ query: params.query, operationName: params.operationName ?? null, variables: plan.variables }),
  );
  form.append('map', JSON.stringify(plan.map));
  plan.files.forEach((file, i) => form.append(String(i), file, file.name));
  const response = await fetchImpl(ENDPOINT, {
    method: 'POST',
    body: form,
    headers: {
      accept: 'application/graphql-response+json, application/json;q=0.9',
      ...requestHeaders(opts),
      'apollo-require-preflight': 'true',
    },
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return failure(`HTTP ${response.status} ${response.statusText}: ${text.slice(0, 2000)}`);
  }
  if (!isRecord(body) || !('data' in body || 'errors' in body)) {
    return failure(`HTTP ${response.status} ${response.statusText}: ${text.slice(0, 2000)}`);
  }
  return body;
}

type Observer<T> = { next: (value: T) => void; error: (error: unknown) => void; complete: () => void };

/** What graphql-ws reports as an error, as GraphiQL shows it (an Error, or the GraphQL errors). */
function subscriptionError(error: unknown): unknown {
  if (typeof CloseEvent !== 'undefined' && error instanceof CloseEvent) {
    return new Error(`Socket closed with event ${error.code} ${error.reason}`.trim());
  }
  return error;
}

/**
 * A subscription over its own graphql-ws connection (closed when it ends or is stopped), the
 * request headers as `connection_init`'s payload (`{ Authorization: ... }`). An Observable
 * rather than the toolkit's async iterator, whose errors also surface as unhandled rejections.
 */
export function subscribeOverWebSocket(params: FetcherParams, opts: FetcherOpts | undefined, url = subscriptionUrl()): Observable<ExecutionResult> {
  const connectionParams = requestHeaders(opts);
  return {
    subscribe(
      observerOrNext?: Partial<Observer<ExecutionResult>> | ((value: ExecutionResult) => void),
      onError?: ((error: unknown) => void) | null,
      onComplete?: () => void,
    ): Unsubscribable {
      const observer: Partial<Observer<ExecutionResult>> =
        typeof observerOrNext === 'function' ? { next: observerOrNext, error: onError ?? undefined, complete: onComplete } : (observerOrNext ?? {});
      const client = createClient({ url, connectionParams, retryAttempts: 0 });
      let closed = false;
      let dispose = () => {};
      const close = () => {
        if (closed) return;
        closed = true;
        dispose();
        void client.dispose();
      };
      dispose = client.subscribe<Record<string, unknown>>(
        { query: params.query, operationName: params.operationName ?? undefined, variables: isRecord(params.variables) ? params.variables : undefined },
        {
          next: (value) => observer.next?.(value as ExecutionResult),
          error: (error) => {
            close();
            observer.error?.(subscriptionError(error));
          },
          complete: () => {
            close();
            observer.complete?.();
          },
        },
      );
      return { unsubscribe: close };
    },
  };
}

/** The name GraphiQL gives its introspection query. */
export const INTROSPECTION_QUERY_NAME = 'IntrospectionQuery';

/**
 * The page's fetcher: multipart when `store` holds files for the operation, a WebSocket for a
 * subscription, the toolkit's JSON POST otherwise. Introspection goes as GraphiQL makes it (the
 * server exempts `__schema` and `__type` from its depth limit, so graphql-js's standard query,
 * 9 levels of `ofType`, is answered); GraphiQL asks for it when it mounts, before its headers
 * editor exists (no headers then): without headers it goes with `introspectionHeaders()` (the
 * headers the editor starts with), else a server with keys in force would refuse it.
 */
export function createVisionFetcher(store: AttachmentStore, introspectionHeaders: () => Record<string, string> = () => ({})): Fetcher {
  const http = createGraphiQLFetcher({
    url: ENDPOINT,
    // The server answers JSON only (no @defer / @stream).
    enableIncrementalDelivery: false,
  });
  return (given, opts) => {
    if (given.operationName === INTROSPECTION_QUERY_NAME && !isRecord(opts?.headers)) {
      return http(given, { headers: introspectionHeaders() });
    }
    // The document as sent, parsed here: GraphiQL's own parse of the editor (`opts.documentAST`)
    // lags 100 ms behind typing.
    const doc = parseOrNull(given.query);
    const params = doc ? withCurrentOperation(given, doc) : given;
    if (doc && selectedOperation(doc, params.operationName)?.operation === OperationTypeNode.SUBSCRIPTION) {
      return subscribeOverWebSocket(params, opts);
    }
    const plan = planUpload(params, doc, store.get());
    switch (plan.kind) {
      case 'none':
        // With the document as sent (a stale one could make the toolkit take a query for a subscription).
        return http(params, { headers: opts?.headers, documentAST: doc ?? undefined });
      case 'error':
        return failure(plan.message);
      case 'upload':
        return sendMultipart(params, plan, opts);
    }
  };
}
