// The Models page's live data: every head's experiments (shadow and A/B comparisons), asked
// again every few seconds, and the rollout (which replica serves which versions), live.

import { useCallback, useEffect, useMemo, useState } from 'react';
import { useClient } from 'urql';
import { EXPERIMENTS_QUERY, MODEL_ROLLOUT, MODEL_ROLLOUT_QUERY } from '../../graphql/documents';
import type { AbComparison, ReplicaServing, ShadowComparison } from '../../graphql/types';
import type {
  ExperimentsQuery,
  ExperimentsQueryVariables,
  ModelRolloutChangesSubscription,
  ModelRolloutChangesSubscriptionVariables,
  ModelRolloutQuery,
  ModelRolloutQueryVariables,
} from '../../graphql/generated';
import { apiErrors, type ApiError } from '../../graphql/errors';
import { useSubscriptionEvents } from '../../lib/hooks';
import { EXPERIMENTS_EVERY_MS, ROLLOUT_EVERY_MS } from './shared';

export interface Experiments {
  shadow: ShadowComparison | null;
  ab: AbComparison | null;
  errors: ApiError[];
  at: string | null;
  loaded: boolean;
}

export const NO_EXPERIMENTS: Experiments = { shadow: null, ab: null, errors: [], at: null, loaded: false };

/** Every head's shadow and A/B comparisons, asked again every few seconds while mounted. */
export function useExperiments(heads: string[], last: number, tick: number): Record<string, Experiments> {
  const client = useClient();
  const [state, setState] = useState<Record<string, Experiments>>({});
  // Asked again when the heads change in value (not in identity).
  const key = heads.join('\n');
  useEffect(() => {
    const names = key ? key.split('\n') : [];
    if (names.length === 0) return;
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout>;
    const ask = async () => {
      const answers = await Promise.all(
        names.map(async (model) => {
          const r = await client
            .query<ExperimentsQuery, ExperimentsQueryVariables>(
              EXPERIMENTS_QUERY,
              { model, last },
              { requestPolicy: 'network-only' },
            )
            .toPromise();
          const e: Experiments = r.data
            ? { shadow: r.data.shadowComparison, ab: r.data.abComparison, errors: apiErrors(r.error), at: new Date().toISOString(), loaded: true }
            : { ...NO_EXPERIMENTS, errors: apiErrors(r.error), at: new Date().toISOString(), loaded: true };
          return [model, e] as const;
        }),
      );
      if (cancelled) return;
      setState((prev) => {
        const next = { ...prev };
        for (const [model, e] of answers) {
          // A failed refresh keeps the last figures beside its error.
          next[model] = e.errors.length && !e.shadow && !e.ab && prev[model] ? { ...prev[model], errors: e.errors } : e;
        }
        return next;
      });
      timer = setTimeout(() => void ask(), EXPERIMENTS_EVERY_MS);
    };
    void ask();
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [client, key, last, tick]);
  return state;
}

export function rolloutKey(s: ReplicaServing): string {
  return `${s.replica}\n${s.stage}`;
}

/** The rollout view: the subscription's events, and the whole view again now and then (for `at`). */
export function useRollout(onChange: () => void): ReplicaServing[] {
  const client = useClient();
  const [rows, setRows] = useState<Map<string, ReplicaServing>>(new Map());
  const merge = useCallback((items: ReplicaServing[], fromEvent: boolean) => {
    setRows((prev) => {
      const next = new Map(prev);
      for (const s of items) {
        const old = next.get(rolloutKey(s));
        // An event is always the newest word; a re-read only refreshes what is older.
        if (fromEvent || !old || old.at <= s.at) next.set(rolloutKey(s), s);
      }
      return next;
    });
  }, []);
  useSubscriptionEvents<ModelRolloutChangesSubscription, ModelRolloutChangesSubscriptionVariables>(MODEL_ROLLOUT, {}, (d) => {
    merge([d.modelRollout], true);
    onChange();
  });
  useEffect(() => {
    let cancelled = false;
    const read = async () => {
      const r = await client.query<ModelRolloutQuery, ModelRolloutQueryVariables>(MODEL_ROLLOUT_QUERY, {}, { requestPolicy: 'network-only' }).toPromise();
      if (!cancelled && r.data) merge(r.data.modelRollout, false);
    };
    const t = setInterval(() => void read(), ROLLOUT_EVERY_MS);
    return () => {
      cancelled = true;
      clearInterval(t);
    };
  }, [client, merge]);
  return useMemo(() => [...rows.values()], [rows]);
}
