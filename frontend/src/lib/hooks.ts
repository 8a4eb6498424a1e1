import { useCallback, useEffect, useEffectEvent, useLayoutEffect, useRef, useState } from 'react';
import { pipe, subscribe } from 'wonka';
import { useClient, type AnyVariables } from 'urql';
import { IMAGE_COMPLETED, IMAGE_FAILED, IMAGE_QUERY, PREDICTION_ADDED } from '../graphql/documents';
import type { Image, Prediction } from '../graphql/types';
import type {
  ImageCompletedSubscription,
  ImageCompletedSubscriptionVariables,
  ImageFailedSubscription,
  ImageFailedSubscriptionVariables,
  ImageQuery,
  ImageQueryVariables,
  PredictionAddedSubscription,
  PredictionAddedSubscriptionVariables,
} from '../graphql/generated';
import { apiErrors, type ApiError } from '../graphql/errors';

/**
 * Calls `fn` at most once per `waitMs`, the last call always landing (trailing edge).
 */
export function useThrottle(fn: () => void, waitMs: number): () => void {
  // The latest `fn`, for calls after this render (a throttled call may land much later).
  const fnRef = useRef(fn);
  useLayoutEffect(() => {
    fnRef.current = fn;
  });
  const last = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  return useCallback(() => {
    const now = Date.now();
    const wait = last.current + waitMs - now;
    if (wait <= 0) {
      last.current = now;
      fnRef.current();
    } else if (!timer.current) {
      timer.current = setTimeout(() => {
        timer.current = null;
        last.current = Date.now();
        fnRef.current();
      }, wait);
    }
  }, [waitMs]);
}

/**
 * Runs `onData` for every event of a subscription while mounted (no React state per event,
 * so high-rate streams can be buffered by the caller).
 */
export function useSubscriptionEvents<T, V extends AnyVariables = AnyVariables>(
  query: string,
  variables: V,
  onData: (data: T) => void,
  enabled = true,
): void {
  // Each event goes to the latest `onData` without subscribing again.
  const onEvent = useEffectEvent(onData);
  const client = useClient();
  // Subscribed again only when the variables change in value (callers pass object literals).
  const key = JSON.stringify(variables);
  useEffect(() => {
    if (!enabled) return;
    const subscription = pipe(
      client.subscription<T, V>(query, JSON.parse(key) as V),
      subscribe((result) => {
        if (result.data) onEvent(result.data);
      }),
    );
    return () => subscription.unsubscribe();
  }, [client, query, key, enabled]);
}

/** `value` once it has stayed the same for `waitMs` (typing in a filter asks the server once). */
export function useDebounced<T>(value: T, waitMs: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setSettled(value), waitMs);
    return () => clearTimeout(t);
  }, [value, waitMs]);
  return settled;
}

/**
 * `value` when defined, otherwise the last defined value it had: keeps showing the previous
 * figures while a query with new variables loads (no flicker).
 */
export function useLastDefined<T>(value: T | undefined): T | undefined {
  const [last, setLast] = useState(value);
  // Adjusting state while rendering (https://react.dev/learn/you-might-not-need-an-effect):
  // React re-renders at once, before the children see the stale value.
  if (value !== undefined && value !== last) setLast(value);
  return value ?? last;
}

function isTerminal(image: Image | null): boolean {
  return image?.status === 'COMPLETED' || image?.status === 'FAILED';
}

function mergePredictions(a: Prediction[], b: Prediction[]): Prediction[] {
  const byId = new Map<string, Prediction>();
  for (const p of [...a, ...b]) byId.set(p.id, p);
  return [...byId.values()].sort((x, y) => x.createdAt.localeCompare(y.createdAt));
}

function merge(current: Image | null, incoming: Image): Image {
  if (!current) return incoming;
  // A terminal state always wins; otherwise keep the furthest one.
  const keepCurrent = isTerminal(current) && !isTerminal(incoming);
  const base = keepCurrent ? current : incoming;
  return {
    ...base,
    predictions: mergePredictions(current.predictions, incoming.predictions),
    comparison: base.comparison ?? current.comparison ?? incoming.comparison,
  };
}

export interface LiveImage {
  image: Image | null;
  /** True once the server answered `image(id)` at least once. */
  loaded: boolean;
  notFound: boolean;
  errors: ApiError[];
}

/**
 * One image kept up to date: subscriptions to its predictions, completion and failure first,
 * then `image(id)` once (so nothing that happened before the subscriptions is missed). Until
 * the image is complete, the query is repeated at a slow pace as a safety net for the short
 * window in which the server may not have registered the subscriptions yet.
 */
interface LiveImageState extends LiveImage {
  /** The image id this state is about. */
  id: string | null;
}

function freshState(id: string | null, initial: Image | null | undefined): LiveImageState {
  return { id, image: initial ?? null, loaded: false, notFound: false, errors: [] };
}

export function useLiveImage(id: string | null, initial?: Image | null): LiveImage {
  const client = useClient();
  const [stored, setState] = useState<LiveImageState>(() => freshState(id, initial));
  // Another image: start again from `initial` (adjusted while rendering, not in an effect).
  let state = stored;
  if (stored.id !== id) {
    state = freshState(id, initial);
    setState(state);
  }

  useEffect(() => {
    if (!id) return;
    let cancelled = false;
    let terminal = false;
    // Updates of this image's state only (never of the next image's, once `id` changed).
    const update = (fn: (s: LiveImageState) => LiveImageState) => setState((s) => (s.id === id ? fn(s) : s));

    const apply = (img: Image) => {
      if (cancelled || img.id !== id) return;
      update((s) => ({ ...s, image: merge(s.image, img) }));
      if (isTerminal(img)) markTerminal();
    };
    const addPrediction = (p: Prediction) => {
      if (cancelled || p.imageId !== id) return;
      update((s) =>
        s.image ? { ...s, image: { ...s.image, predictions: mergePredictions(s.image.predictions, [p]) } } : s,
      );
    };

    // Once complete (or failed) nothing more can arrive: close the subscriptions.
    const markTerminal = () => {
      if (terminal) return;
      terminal = true;
      setTimeout(() => subs.forEach((s) => s.unsubscribe()), 0);
    };

    const subs = [
      pipe(
        client.subscription<PredictionAddedSubscription, PredictionAddedSubscriptionVariables>(PREDICTION_ADDED, { imageId: id }),
        subscribe((r) => r.data && addPrediction(r.data.predictionAdded)),
      ),
      pipe(
        client.subscription<ImageCompletedSubscription, ImageCompletedSubscriptionVariables>(IMAGE_COMPLETED, { imageId: id }),
        subscribe((r) => r.data && apply(r.data.imageCompleted)),
      ),
      pipe(
        client.subscription<ImageFailedSubscription, ImageFailedSubscriptionVariables>(IMAGE_FAILED, { imageId: id }),
        subscribe((r) => r.data && apply(r.data.imageFailed)),
      ),
    ];

    const fetchOnce = async () => {
      const r = await client.query<ImageQuery, ImageQueryVariables>(IMAGE_QUERY, { id }, { requestPolicy: 'network-only' }).toPromise();
      if (cancelled) return;
      if (r.error) {
        const errors = apiErrors(r.error);
        update((s) => ({ ...s, loaded: true, errors }));
        return;
      }
      const img = r.data?.image ?? null;
      if (!img) {
        update((s) => ({ ...s, loaded: true, notFound: true }));
        return;
      }
      update((s) => ({ ...s, loaded: true, notFound: false, errors: [], image: merge(s.image, img) }));
      if (isTerminal(img)) markTerminal();
    };

    void fetchOnce();
    let delay = 1500;
    let timer: ReturnType<typeof setTimeout>;
    const safetyNet = () => {
      timer = setTimeout(() => {
        if (cancelled || terminal) return;
        void fetchOnce().then(() => {
          delay = Math.min(delay * 2, 10_000);
          safetyNet();
        });
      }, delay);
    };
    safetyNet();

    return () => {
      cancelled = true;
      clearTimeout(timer);
      subs.forEach((s) => s.unsubscribe());
    };
  }, [client, id]);

  return state;
}
