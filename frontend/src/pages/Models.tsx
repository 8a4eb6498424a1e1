// The model registry (F20), serving and rollout (F21), experiments (F24): every model's versions
// and alias history with promotion, rollback, archiving, shadow and A/B controls; registering a
// new ONNX version; the shadow and A/B comparisons of every head, live; back-testing a version
// on past images; which replica serves what, live; which version served at a given time.

import { useCallback, useEffect, useState } from 'react';
import { useQuery } from 'urql';
import { REGISTERED_MODELS_QUERY } from '../graphql/documents';
import type { RegisteredModelsQuery, RegisteredModelsQueryVariables } from '../graphql/generated';
import { apiErrors } from '../graphql/errors';
import { Card, ErrorList, Spinner } from '../components/ui';
import { num } from '../lib/format';
import { useLastDefined, useThrottle } from '../lib/hooks';
import { DEFAULT_LAST, EXPERIMENTS_EVERY_MS, useOrdered } from './models/shared';
import { ModelCard } from './models/registry';
import { RegisterCard } from './models/register';
import { BacktestCard, ExperimentCard } from './models/experiments';
import { RolloutCard, ServedAtCard } from './models/rollout';
import { useExperiments, useRollout } from './models/data';
import { useCan } from '../auth/session';
import './models.css';

export function ModelsPage() {
  // Registering, promoting, rolling back, archiving, shadows and A/B tests: admins only.
  const admin = useCan('ADMIN');
  const [{ data: fresh, error, fetching }, reexecute] = useQuery<RegisteredModelsQuery, RegisteredModelsQueryVariables>({
    query: REGISTERED_MODELS_QUERY,
    requestPolicy: 'network-only',
  });
  const models = useOrdered(useLastDefined(fresh?.registeredModels) ?? []);

  // A change made here, or seen live in the rollout (a promotion from the CLI), reads the
  // registry again; and the experiments at once.
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => {
    reexecute({ requestPolicy: 'network-only' });
    setTick((t) => t + 1);
  }, [reexecute]);
  const reloadSoon = useThrottle(() => reexecute({ requestPolicy: 'network-only' }), 1000);
  const rollout = useRollout(reloadSoon);
  // Nothing announces a registration made elsewhere: read the registry again now and then.
  useEffect(() => {
    const t = setInterval(() => reexecute({ requestPolicy: 'network-only' }), 15_000);
    return () => clearInterval(t);
  }, [reexecute]);

  const heads = models.filter((m) => m.kind === 'CLASSIFIER');
  const headNames = heads.map((h) => h.name);
  const [experimentsLast, setExperimentsLast] = useState(String(DEFAULT_LAST));
  const lastImages = Math.max(1, Math.min(1_000_000, Math.round(Number(experimentsLast)) || DEFAULT_LAST));
  const experiments = useExperiments(headNames, lastImages, tick);

  /** The head's A/B test: from the registry, else its comparison, else what a replica serves. */
  const abOf = (name: string) => {
    const model = models.find((m) => m.name === name);
    const test = model?.abTest;
    if (model && test) {
      const label = model.versions.find((x) => x.version === test.version)?.label;
      return { candidate: label ?? `${name}-v${test.version}`, share: test.share };
    }
    const ab = experiments[name]?.ab;
    if (ab) return { candidate: ab.candidate, share: ab.share };
    const serving = rollout.find((s) => s.model === name && s.candidate);
    return serving ? { candidate: serving.candidate!, share: serving.share } : null;
  };

  const versions = models.reduce((n, m) => n + m.versions.length, 0);
  return (
    <div className="page models-page">
      <div className="row between wrap">
        <h1>Models</h1>
        <span className="muted" data-testid="models-summary">
          {models.length ? `${models.length} models · ${versions} versions · ${num(rollout.length)} serving replica stages` : ''}
        </span>
      </div>
      <ErrorList errors={apiErrors(error)} />
      {!models.length && fetching && (
        <p>
          <Spinner /> loading the registry…
        </p>
      )}

      <div className="stack" data-testid="registry">
        {models.map((m) => (
          <ModelCard key={m.name} model={m} ab={m.kind === 'CLASSIFIER' ? abOf(m.name) : null} onChanged={reload} control={admin} />
        ))}
      </div>

      <div className="grid models-grid">
        {admin && <RegisterCard models={models} onRegistered={reload} />}
        <ServedAtCard models={models} />
      </div>

      <RolloutCard rows={rollout} models={models} />

      <Card
        title="Experiments"
        testId="experiments"
        actions={
          <label className="inline-field">
            latest
            <input type="number" min={1} max={1_000_000} step={1} value={experimentsLast} onChange={(e) => setExperimentsLast(e.target.value)} data-testid="experiments-last" />
            images · every {EXPERIMENTS_EVERY_MS / 1000} s
          </label>
        }
      >
        <p className="muted small">
          A shadow scores every image beside production and is never the answer; in an A/B test the candidate answers its share
          and each version scores every image. Paired on the same images: accuracy and weighted F1 on the labelled ones, the
          accuracy difference with its 95% interval, McNemar's exact test on the discordant pairs.
        </p>
        <div className="grid experiments-grid">
          {heads.map((h) => (
            <ExperimentCard key={h.name} head={h.name} experiments={experiments[h.name]} />
          ))}
        </div>
      </Card>

      <BacktestCard heads={heads} />
    </div>
  );
}
