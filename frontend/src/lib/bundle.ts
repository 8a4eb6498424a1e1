// The model bundle the server serves: its class names (in the heads' output order) and its
// classifier heads (in display order). Asked once per session (`classes`, `models`), shared by
// every component through `useBundle()`; nothing about the classes or the heads is hard-coded,
// so a bundle with other classes or another number of heads needs no change here.

import { useSyncExternalStore } from 'react';
import { currentClient } from '../auth/session';
import { BUNDLE_QUERY } from '../graphql/documents';
import type { BundleData } from '../graphql/types';
import type { BundleQuery, BundleQueryVariables } from '../graphql/generated';
import { apiErrors, type ApiError } from '../graphql/errors';
import { CLASS_PALETTE, HEAD_PALETTE, UNKNOWN_CLASS_COLOR, UNKNOWN_HEAD_COLOR, paletteColor, sortByOrder } from './constants';

export interface Bundle {
  /** `loading` until the first answer; `error` while the server cannot be asked (retried). */
  status: 'loading' | 'ready' | 'error';
  errors: ApiError[];
  /** Class names in the heads' output order (empty until loaded). */
  classes: string[];
  /** The distinct CLASSIFIER names of `models`, in the bundle's display order (empty until loaded). */
  heads: string[];
  /** The versions `models` lists for head `model`, in its order (empty for a head it does not list). */
  versionsOf: (model: string) => string[];
  /** Whether the bundle serves several versions of head `model` (then a version tells them apart). */
  versioned: (model: string) => boolean;
  headColor: (model: string) => string;
  classColor: (cls: string) => string;
  /** Sorts by the head order; models the bundle does not list last, by name. */
  byHead: <T>(items: T[], model: (t: T) => string) => T[];
  /** Sorts by the head order, then each head's versions in the order `models` lists them (others after, by version). */
  byHeadVersion: <T>(items: T[], model: (t: T) => string, version: (t: T) => string) => T[];
}

function makeBundle(status: Bundle['status'], classes: string[], models: BundleData['models'], errors: ApiError[] = []): Bundle {
  const heads = headsOf(models);
  const versions = versionsByHead(models);
  const versionsOf = (model: string) => versions.get(model) ?? [];
  return {
    status,
    errors,
    classes,
    heads,
    versionsOf,
    versioned: (model) => versionsOf(model).length > 1,
    headColor: (model) => paletteColor(HEAD_PALETTE, heads.indexOf(model), UNKNOWN_HEAD_COLOR),
    classColor: (cls) => paletteColor(CLASS_PALETTE, classes.indexOf(cls), UNKNOWN_CLASS_COLOR),
    byHead: (items, model) => sortByOrder(items, model, heads),
    byHeadVersion: (items, model, version) => {
      const rank = (t: (typeof items)[number]) => {
        const i = versionsOf(model(t)).indexOf(version(t));
        return i < 0 ? Number.MAX_SAFE_INTEGER : i;
      };
      const byVersion = [...items].sort((a, b) => rank(a) - rank(b) || version(a).localeCompare(version(b)));
      return sortByOrder(byVersion, model, heads);
    },
  };
}

/** The heads of `models`: CLASSIFIER names, first appearance first (a name may come with several versions). */
export function headsOf(models: BundleData['models']): string[] {
  return [...new Set(models.filter((m) => m.kind === 'CLASSIFIER').map((m) => m.name))];
}

/** Each head's distinct versions as `models` lists them. */
function versionsByHead(models: BundleData['models']): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of models) {
    if (m.kind !== 'CLASSIFIER') continue;
    const versions = out.get(m.name) ?? [];
    if (!versions.includes(m.version)) versions.push(m.version);
    out.set(m.name, versions);
  }
  return out;
}

let current: Bundle = makeBundle('loading', [], []);
let started = false;
const listeners = new Set<() => void>();

function publish(next: Bundle) {
  current = next;
  listeners.forEach((l) => l());
}

async function load(attempt: number): Promise<void> {
  const client = currentClient();
  if (!client) {
    // Signed out meanwhile: the next subscriber (the app, signed in again) asks.
    started = false;
    return;
  }
  const r = await client.query<BundleQuery, BundleQueryVariables>(BUNDLE_QUERY, {}, { requestPolicy: 'network-only' }).toPromise();
  if (r.data) {
    publish(makeBundle('ready', r.data.classes, r.data.models));
    return;
  }
  const errors = apiErrors(r.error);
  publish(
    makeBundle('error', [], [], errors.length ? errors : [{ code: 'BUNDLE_UNAVAILABLE', message: 'the server did not name its classes and heads' }]),
  );
  // The gateway may be restarting: ask again, backing off up to 10 s, until it answers.
  setTimeout(() => void load(attempt + 1), Math.min(1000 * 2 ** attempt, 10_000));
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (!started) {
    started = true;
    void load(0);
  }
  return () => listeners.delete(listener);
}

/** The session's model bundle; the first caller starts the query, everyone shares the answer. */
export function useBundle(): Bundle {
  return useSyncExternalStore(subscribe, () => current);
}
