// The GraphQL connection of a signed-in session: an urql client (queries and mutations,
// multipart uploads included, by POST to the same-origin `/graphql`) and a graphql-ws client
// (subscriptions, protocol `graphql-transport-ws`, same path), both carrying the session's API key
// (`Authorization: Bearer <key>` on every HTTP request, the same in `connection_init`'s payload).
// A new key (sign-in, sign-out) gets a new connection (../auth/session.ts makes them): the old
// socket is closed and nothing cached under the old key is shown under the new one.

import { Client, cacheExchange, fetchExchange, mapExchange, subscriptionExchange, type CombinedError } from 'urql';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { authorizationHeader } from '../auth/storage';

function wsUrl(): string {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}/graphql`;
}

export type SocketState = 'connecting' | 'connected' | 'closed';

type Listener = (state: SocketState) => void;
const listeners = new Set<Listener>();
let socketState: SocketState = 'connecting';

function setSocketState(state: SocketState) {
  socketState = state;
  listeners.forEach((l) => l(state));
}

/** The state of the current connection's WebSocket. */
export function onSocketState(listener: Listener): () => void {
  listeners.add(listener);
  listener(socketState);
  return () => listeners.delete(listener);
}

/** The WebSocket close codes of a refused `connection_init`: no valid key, a role too low. */
const UNAUTHORIZED_CLOSE = 4401;
const FORBIDDEN_CLOSE = 4403;

function closeCode(event: unknown): number | null {
  return typeof event === 'object' && event !== null && 'code' in event && typeof event.code === 'number' ? event.code : null;
}

/** Whether the server refused the request for want of a valid key (HTTP 401 / `UNAUTHENTICATED`). */
export function isUnauthenticated(error: CombinedError): boolean {
  return (
    (error.response as Response | undefined)?.status === 401 ||
    error.graphQLErrors.some((e) => e.extensions?.code === 'UNAUTHENTICATED')
  );
}

export interface Connection {
  client: Client;
  ws: WsClient;
  /** Closes the WebSocket for good; the connection's state no longer reaches the listeners. */
  dispose: () => void;
}

/**
 * A connection that sends `key` (none: the anonymous caller, an admin while the platform runs
 * open). `onUnauthenticated` runs when the server refuses the key (it was revoked, or keys came
 * into force while anonymous): HTTP 401, or the socket closed with 4401.
 */
export function createConnection(key: string | null, onUnauthenticated: () => void): Connection {
  let live = true;
  const report = (state: SocketState) => {
    if (live) setSocketState(state);
  };
  const refused = () => {
    if (live) onUnauthenticated();
  };

  const ws = createWsClient({
    url: wsUrl(),
    // The key goes in connection_init's payload (asked at every (re)connection).
    connectionParams: () => (key ? authorizationHeader(key) : undefined),
    // Reconnect forever: the dashboard must survive a gateway restart without a reload; but a
    // refused key is final (graphql-ws gives up on 4401 by itself).
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: (event) => live && closeCode(event) !== UNAUTHORIZED_CLOSE && closeCode(event) !== FORBIDDEN_CLOSE,
    retryWait: async (retries) => {
      await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** retries, 5000)));
    },
    keepAlive: 15_000,
    lazy: false,
    // The socket's end after a refusal is reported through `closed` below, not logged.
    onNonLazyError: () => undefined,
    on: {
      connecting: () => report('connecting'),
      connected: () => report('connected'),
      closed: (event) => {
        report('closed');
        if (closeCode(event) === UNAUTHORIZED_CLOSE) refused();
      },
    },
  });

  const client = new Client({
    url: '/graphql',
    // The gateway answers GET /graphql with GraphiQL: every query must be a POST.
    preferGetMethod: false,
    // Uploads are multipart POSTs, which the gateway accepts only with `apollo-require-preflight`
    // (a page of another site cannot send it without a CORS preflight: no cross-site upload).
    fetchOptions: { headers: { 'apollo-require-preflight': 'true', ...authorizationHeader(key) } },
    requestPolicy: 'cache-and-network',
    exchanges: [
      cacheExchange,
      mapExchange({
        onError(error) {
          if (isUnauthenticated(error)) refused();
        },
      }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || '' };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });

  return {
    client,
    ws,
    dispose: () => {
      live = false;
      void ws.dispose();
      setSocketState('connecting');
    },
  };
}
