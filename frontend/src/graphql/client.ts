// One urql client for the whole app: queries and mutations (multipart uploads included) by
// POST to the same-origin `/graphql`, subscriptions over graphql-ws (protocol
// `graphql-transport-ws`) on the same path.

import { Client, cacheExchange, fetchExchange, subscriptionExchange } from 'urql';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';

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

export function onSocketState(listener: Listener): () => void {
  listeners.add(listener);
  listener(socketState);
  return () => listeners.delete(listener);
}

export const wsClient: WsClient = createWsClient({
  url: wsUrl(),
  // Reconnect forever: the dashboard must survive a gateway restart without a reload.
  retryAttempts: Number.POSITIVE_INFINITY,
  shouldRetry: () => true,
  retryWait: async (retries) => {
    await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** retries, 5000)));
  },
  keepAlive: 15_000,
  lazy: false,
  on: {
    connecting: () => setSocketState('connecting'),
    connected: () => setSocketState('connected'),
    closed: () => setSocketState('closed'),
  },
});

export const client = new Client({
  url: '/graphql',
  // The gateway answers GET /graphql with GraphiQL: every query must be a POST.
  preferGetMethod: false,
  // Uploads are multipart POSTs, which the gateway accepts only with this header (a page of
  // another site cannot send it without a CORS preflight: no cross-site upload).
  fetchOptions: { headers: { 'apollo-require-preflight': 'true' } },
  requestPolicy: 'cache-and-network',
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
});
