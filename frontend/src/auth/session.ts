// The dashboard's session: who is signed in (`me`), with which API key, over which connection.
// A store outside React (read with `useSession()`), so that the GraphQL connection and the
// image loader see the same key as the pages.
//
// - At start the app asks `me` with the stored key (or none). An answer: signed in (in open mode,
//   with no key, as the anonymous admin). UNAUTHENTICATED: a stored key is forgotten (revoked, or
//   from another server) and the question asked again without it; without a key, the sign-in
//   screen. Anything else (the server unreachable): asked again, backing off.
// - Signing in asks `me` with the pasted key before keeping it; signing out forgets it.
// - Later, any request refused as UNAUTHENTICATED (HTTP 401, WebSocket 4401) ends the session
//   the same way: the key is forgotten and the sign-in screen says why.

import { useSyncExternalStore } from 'react';
import { ME_QUERY } from '../graphql/documents';
import type { MeQuery } from '../graphql/generated';
import type { Me, Role } from '../graphql/types';
import type { ApiError } from '../graphql/errors';
import { createConnection, type Connection } from '../graphql/client';
import { authorizationHeader, storeApiKey, storedApiKey } from './storage';

/** A caller with a role (`me` answered while signed in, or open). */
export type SignedInMe = Me & { role: Role };

export type Session =
  | { status: 'checking' }
  /** The sign-in screen; `notice` says why (signed out, key refused...). */
  | { status: 'signedOut'; notice: string | null }
  /** The server could not be asked (down, restarting): asked again. */
  | { status: 'unreachable'; errors: ApiError[] }
  | {
      status: 'signedIn';
      me: SignedInMe;
      /** The key signed in with; null in open mode. */
      key: string | null;
      connection: Connection;
      /** Changes with every new connection (a key for React to mount the app afresh). */
      generation: number;
    };

const RANK: Record<Role, number> = { VIEWER: 0, UPLOADER: 1, ADMIN: 2 };

/** Whether `role` may do what `needed` may (the roles include the ones below). */
export function roleAtLeast(role: Role | null | undefined, needed: Role): boolean {
  return role !== null && role !== undefined && RANK[role] >= RANK[needed];
}

// ---- asking `me` -----------------------------------------------------------------------------

type MeAnswer = { kind: 'ok'; me: Me } | { kind: 'unauthenticated'; message: string } | { kind: 'error'; errors: ApiError[] };

interface GraphQLBody {
  data?: MeQuery | null;
  errors?: { message: string; extensions?: { code?: unknown } }[];
}

/** `me` asked with `key` (none: anonymously), by a plain POST: no connection is made before. */
async function askMe(key: string | null): Promise<MeAnswer> {
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json;q=0.9',
        ...authorizationHeader(key),
      },
      body: JSON.stringify({ query: ME_QUERY, operationName: 'Me' }),
    });
  } catch (e) {
    return { kind: 'error', errors: [{ code: 'NETWORK_ERROR', message: `the server cannot be reached (${(e as Error).message})` }] };
  }
  let body: GraphQLBody | null = null;
  try {
    body = (await response.json()) as GraphQLBody;
  } catch {
    // not JSON: reported below
  }
  const errors: ApiError[] = (body?.errors ?? []).map((e) => ({
    code: typeof e.extensions?.code === 'string' ? e.extensions.code : 'ERROR',
    message: e.message,
  }));
  const refusal = errors.find((e) => e.code === 'UNAUTHENTICATED');
  if (response.status === 401 || refusal) {
    return { kind: 'unauthenticated', message: refusal?.message ?? 'the server refused the request (HTTP 401)' };
  }
  if (body?.data?.me) return { kind: 'ok', me: body.data.me };
  return {
    kind: 'error',
    errors: errors.length ? errors : [{ code: `HTTP_${response.status}`, message: `the server answered ${response.status} ${response.statusText}` }],
  };
}

// ---- the store -------------------------------------------------------------------------------

let session: Session = { status: 'checking' };
let started = false;
let generation = 0;
/** Bumped by every check, sign-in and sign-out: an answer to an older one is dropped. */
let attempt = 0;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<() => void>();

function publish(next: Session) {
  if (session.status === 'signedIn' && (next.status !== 'signedIn' || next.connection !== session.connection)) {
    session.connection.dispose();
  }
  session = next;
  listeners.forEach((l) => l());
}

function signedIn(me: SignedInMe, key: string | null): Session {
  generation += 1;
  const mine = generation;
  const connection = createConnection(key, () => onUnauthenticated(mine));
  return { status: 'signedIn', me, key, connection, generation: mine };
}

/** Asks `me` with `key` and moves to what the answer says; `notice` goes to a sign-in screen. */
async function check(key: string | null, notice: string | null, retries = 0): Promise<void> {
  clearTimeout(retryTimer);
  const mine = ++attempt;
  if (session.status !== 'checking' && session.status !== 'unreachable') publish({ status: 'checking' });
  const answer = await askMe(key);
  if (mine !== attempt) return;
  switch (answer.kind) {
    case 'ok':
      if (answer.me.role) {
        publish(signedIn({ ...answer.me, role: answer.me.role }, key));
      } else {
        publish({ status: 'signedOut', notice });
      }
      return;
    case 'unauthenticated':
      if (key) {
        // A stored key the server does not know (revoked, or another server's): forget it, and
        // ask again without (the server may run open).
        storeApiKey(null);
        return check(null, notice ?? 'The stored API key was refused (unknown or revoked): sign in again.');
      }
      publish({ status: 'signedOut', notice });
      return;
    case 'error':
      publish({ status: 'unreachable', errors: answer.errors });
      retryTimer = setTimeout(() => void check(storedApiKey(), notice, retries + 1), Math.min(1000 * 2 ** retries, 10_000));
      return;
  }
}

/** A request of connection `of` was refused as UNAUTHENTICATED: the session ends. */
function onUnauthenticated(of: number) {
  if (session.status !== 'signedIn' || session.generation !== of) return;
  const hadKey = session.key !== null;
  storeApiKey(null);
  void check(
    null,
    hadKey
      ? 'The server no longer accepts the API key you signed in with (revoked?): sign in again.'
      : 'API keys are now required: sign in with one.',
  );
}

/**
 * Signs in with `key`: kept (and the app shown) when the server accepts it; else the errors to
 * show (the key is not kept).
 */
export async function signIn(given: string): Promise<ApiError[]> {
  const key = given.trim().replace(/^Bearer\s+/i, '');
  if (!key) return [{ code: 'NO_KEY', message: 'paste an API key' }];
  const mine = ++attempt;
  clearTimeout(retryTimer);
  const answer = await askMe(key);
  if (mine !== attempt) return [];
  switch (answer.kind) {
    case 'ok':
      if (!answer.me.role) return [{ code: 'UNAUTHENTICATED', message: 'the server gave this key no role' }];
      storeApiKey(key);
      publish(signedIn({ ...answer.me, role: answer.me.role }, key));
      return [];
    case 'unauthenticated':
      return [{ code: 'UNAUTHENTICATED', message: `Sign-in failed: the server does not accept this key (${answer.message}).` }];
    case 'error':
      return answer.errors;
  }
}

/** Forgets the key; then whatever the server says without one (open, or the sign-in screen). */
export function signOut(): void {
  storeApiKey(null);
  void check(null, 'Signed out.');
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (!started) {
    started = true;
    void check(storedApiKey(), null);
  }
  return () => listeners.delete(listener);
}

/** The session (the first caller starts it: `me` with the stored key). */
export function useSession(): Session {
  return useSyncExternalStore(subscribe, () => session);
}

/** The key requests go with now (null without one). */
export function currentApiKey(): string | null {
  return session.status === 'signedIn' ? session.key : null;
}

/** The signed-in session's key, re-rendering when it changes. */
export function useApiKey(): string | null {
  return useSyncExternalStore(subscribe, currentApiKey);
}

/** The signed-in connection's urql client, for code outside React (null when signed out). */
export function currentClient(): Connection['client'] | null {
  return session.status === 'signedIn' ? session.connection.client : null;
}

/** Whether the signed-in caller's role may do what `needed` may (false when signed out). */
export function useCan(needed: Role): boolean {
  const s = useSession();
  return s.status === 'signedIn' && roleAtLeast(s.me.role, needed);
}
