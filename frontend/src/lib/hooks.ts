import { useCallback, useEffect, useRef, useState } from 'react';
import { pipe, subscribe } from 'wonka';
import type { AnyVariables } from 'urql';
import { client } from '../graphql/client';
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
  const fnRef = useRef(fn);
  fnRef.current = fn;
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
  const handler = useRef(onData);
  handler.current = onData;
  const key = JSON.stringify(variables);
  useEffect(() => {
    if (!enabled) return;
    const { unsubscribe } = pipe(
      client.subscription<T, V>(query, variables),
      subscribe((result) => {
        if (result.data) handler.current(result.data);
      }),
    );
    return unsubscribe;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [query, key, enabled]);
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
export function useLiveImage(id: string | null, initial?: Image | null): LiveImage {
  const [state, setState] = useState<LiveImage>({
    image: initial ?? null,
    loaded: false,
    notFound: false,
    errors: [],
  });

  useEffect(() => {
    if (!id) return;
    let cancelled = false;
    let terminal = false;
    setState((s) => (s.image && s.image.id !== id ? { image: initial ?? null, loaded: false, notFound: false, errors: [] } : s));

    const apply = (img: Image) => {
      if (cancelled || img.id !== id) return;
      setState((s) => ({ ...s, image: merge(s.image, img) }));
      if (isTerminal(img)) markTerminal();
    };
    const addPrediction = (p: Prediction) => {
      if (cancelled || p.imageId !== id) return;
      setState((s) =>
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
        setState((s) => ({ ...s, loaded: true, errors: apiErrors(r.error) }));
        return;
      }
      const img = r.data?.image ?? null;
      if (!img) {
        setState((s) => ({ ...s, loaded: true, notFound: true }));
        return;
      }
      setState((s) => ({ ...s, loaded: true, notFound: false, errors: [], image: merge(s.image, img) }));
      if (isTerminal(img)) markTerminal();
    };

    void fetchOnce();
    let delay = 1500;
    let timer: ReturnType<typeof setTimeout>;
    const safetyNet = () => {
      timer = setTimeout(async () => {
        if (cancelled || terminal) return;
        await fetchOnce();
        delay = Math.min(delay * 2, 10_000);
        safetyNet();
      }, delay);
    };
    safetyNet();

    return () => {
      cancelled = true;
      clearTimeout(timer);
      subs.forEach((s) => s.unsubscribe());
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id]);

  return state;
}
