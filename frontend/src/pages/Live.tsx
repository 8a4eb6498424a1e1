import { useEffect, useRef, useState } from 'react';
import { useClient } from 'urql';
import { pipe, subscribe } from 'wonka';
import {
  PREDICTION_ADDED,
  REPLAYS_QUERY,
  REPLAY_PROGRESS,
  START_REPLAY,
  STOP_REPLAY,
} from '../graphql/documents';
import type { CifarSplit, Prediction, Replay, ReplayScore } from '../graphql/types';
import type {
  PredictionAddedSubscription,
  PredictionAddedSubscriptionVariables,
  ReplayProgressSubscription,
  ReplayProgressSubscriptionVariables,
  ReplaysQuery,
  ReplaysQueryVariables,
  StartReplayMutation,
  StartReplayMutationVariables,
  StopReplayMutation,
  StopReplayMutationVariables,
} from '../graphql/generated';
import { apiErrors, type ApiError } from '../graphql/errors';
import { Card, ClassChip, ErrorList, Meter, Stat } from '../components/ui';
import { useBundle } from '../lib/bundle';
import { between, ms, num, pct, shortId, time } from '../lib/format';
import { useSubscriptionEvents } from '../lib/hooks';
import { href } from '../router';
import { WebcamPanel } from './live/webcam';
import { useCan } from '../auth/session';

// ---- replay ------------------------------------------------------------------------------

function ReplayErrors({ errors }: { errors: ApiError[] }) {
  const unavailable = errors.find((e) => e.code === 'DATASET_UNAVAILABLE');
  if (unavailable) {
    return (
      <div className="notice warn" role="alert" data-testid="replay-error" data-code="DATASET_UNAVAILABLE">
        <strong>The CIFAR-10 dataset is not available on the server.</strong>
        <p className="small">
          The server could not find the split it was asked for. Put <code>test.tar.gz</code> / <code>train.tar.gz</code>{' '}
          (or the official <code>cifar-10-binary.tar.gz</code>) in the directory named by <code>VISION_CIFAR10_DIR</code>{' '}
          and try again.
        </p>
        <p className="small muted">
          <span className="error-code">DATASET_UNAVAILABLE</span> {unavailable.message}
        </p>
      </div>
    );
  }
  return <ErrorList errors={errors} testId="replay-error" />;
}

/** How each head version did on the replay's completed labelled images (live with `replayProgress`). */
function ReplayScores({ scores }: { scores: ReplayScore[] }) {
  const { byHeadVersion, headColor } = useBundle();
  const rows = byHeadVersion(scores, (s) => s.model, (s) => s.modelVersion);
  return (
    <table className="table compact-table replay-scores" data-testid="replay-scores">
      <thead>
        <tr>
          <th>Model</th>
          <th>Version</th>
          <th className="num">Answered</th>
          <th className="num">Accuracy</th>
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 ? (
          <tr>
            <td colSpan={4} className="muted">
              No completed image yet.
            </td>
          </tr>
        ) : (
          rows.map((s) => (
            <tr
              key={`${s.model}@${s.modelVersion}`}
              data-testid="replay-score-row"
              data-model={s.model}
              data-version={s.modelVersion}
              data-answered={s.answered}
              data-correct={s.correct}
            >
              <td>
                <span className="model-tag" style={{ background: headColor(s.model) }}>
                  {s.model}
                </span>
              </td>
              <td>
                <code>{s.modelVersion}</code>
              </td>
              <td className="num" data-testid="replay-score-answered">
                {num(s.answered)}
              </td>
              <td className="num" data-testid="replay-score-accuracy" title={`${num(s.correct)} of ${num(s.answered)} right`}>
                {pct(s.accuracy)}
              </td>
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}

function isRunning(r: Replay | null): boolean {
  return r?.status === 'RUNNING';
}

/** A replay's settings and progress; `control`: may start and stop one (admins), else only watch. */
function ReplayPanel({ control }: { control: boolean }) {
  const client = useClient();
  const [split, setSplit] = useState<CifarSplit>('TEST');
  const [rate, setRate] = useState('20');
  const [limit, setLimit] = useState('100');
  const [seed, setSeed] = useState('0');
  const [replay, setReplay] = useState<Replay | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [busy, setBusy] = useState(false);

  // Pick up a replay already running (started from another tab or the CLI).
  useEffect(() => {
    void client
      .query<ReplaysQuery, ReplaysQueryVariables>(REPLAYS_QUERY, {}, { requestPolicy: 'network-only' })
      .toPromise()
      .then((r) => {
        const running = r.data?.replays.find((x) => x.status === 'RUNNING');
        setReplay((cur) => cur ?? running ?? null);
      });
  }, [client]);

  // Progress of the current replay: its state first, then about 5 times a second until it ends.
  const replayId = replay?.id ?? null;
  useEffect(() => {
    if (!replayId) return;
    const subscription = pipe(
      client.subscription<ReplayProgressSubscription, ReplayProgressSubscriptionVariables>(REPLAY_PROGRESS, { id: replayId }),
      subscribe((r) => {
        const next = r.data?.replayProgress;
        if (next) setReplay((cur) => (cur && cur.id !== next.id ? cur : next));
      }),
    );
    return () => subscription.unsubscribe();
  }, [client, replayId]);

  const start = async () => {
    setBusy(true);
    setErrors([]);
    const input = { split, rate: Number(rate), limit: Math.round(Number(limit)), seed: Math.round(Number(seed)) };
    const r = await client.mutation<StartReplayMutation, StartReplayMutationVariables>(START_REPLAY, { input }).toPromise();
    setBusy(false);
    if (r.data?.startReplay) setReplay(r.data.startReplay);
    else setErrors(apiErrors(r.error));
  };

  const stop = async () => {
    if (!replay) return;
    setBusy(true);
    const r = await client.mutation<StopReplayMutation, StopReplayMutationVariables>(STOP_REPLAY, { id: replay.id }).toPromise();
    setBusy(false);
    if (r.data?.stopReplay) setReplay(r.data.stopReplay);
    else setErrors(apiErrors(r.error));
  };

  const running = isRunning(replay);
  const elapsed = replay ? (between(replay.startedAt, replay.finishedAt ?? new Date().toISOString()) ?? 0) / 1000 : 0;
  return (
    <Card title="CIFAR-10 replay (server side)" testId="replay-panel">
      <p className="muted small">
        The server uploads images of the chosen split, shuffled by the seed, at the chosen rate, each with its true
        class as label — so accuracy, the confusion matrices and throughput are measured live.
      </p>
      {!control && (
        <p className="muted small" data-testid="replay-readonly">
          Replays are started and stopped by admins; a running one shows its progress here.
        </p>
      )}
      {control && (
        <form
          className="form-grid"
          onSubmit={(e) => {
            e.preventDefault();
            void start();
          }}
        >
          <label className="field">
            <span>Split</span>
            <select value={split} onChange={(e) => setSplit(e.target.value as CifarSplit)} data-testid="replay-split">
              <option value="TEST">test (10,000)</option>
              <option value="TRAIN">train (50,000)</option>
            </select>
          </label>
          <label className="field">
            <span>Rate (images/s)</span>
            <input type="number" min={0.1} max={500} step="any" value={rate} onChange={(e) => setRate(e.target.value)} data-testid="replay-rate" />
          </label>
          <label className="field">
            <span>Limit (images)</span>
            <input type="number" min={1} max={50000} step={1} value={limit} onChange={(e) => setLimit(e.target.value)} data-testid="replay-limit" />
          </label>
          <label className="field">
            <span>Seed</span>
            <input type="number" step={1} value={seed} onChange={(e) => setSeed(e.target.value)} data-testid="replay-seed" />
          </label>
          <div className="field buttons">
            <button type="submit" className="btn primary" disabled={busy || running} data-testid="replay-start">
              Start replay
            </button>
            <button type="button" className="btn danger" disabled={busy || !running} onClick={() => void stop()} data-testid="replay-stop">
              Stop
            </button>
          </div>
        </form>
      )}
      <ReplayErrors errors={errors} />
      {replay && (
        <div className="replay-progress" data-testid="replay-progress" data-status={replay.status} data-completed={replay.completed} data-limit={replay.limit}>
          <div className="row between">
            <span>
              Replay <code>{shortId(replay.id)}</code> · {replay.split.toLowerCase()} · {replay.rate} img/s · seed {replay.seed}
            </span>
            <span className={`badge replay-${replay.status.toLowerCase()}`} data-testid="replay-status">
              {replay.status}
            </span>
          </div>
          <div className="progress">
            <div className="progress-submitted" style={{ width: `${(100 * replay.submitted) / Math.max(1, replay.limit)}%` }} />
            <div className="progress-completed" style={{ width: `${(100 * replay.completed) / Math.max(1, replay.limit)}%` }} />
          </div>
          <div className="stats-row">
            <Stat label="Completed" value={<span data-testid="replay-completed">{`${num(replay.completed)} / ${num(replay.limit)}`}</span>} />
            <Stat label="Submitted" value={num(replay.submitted)} />
            <Stat label="Failed" value={num(replay.failed)} />
            <Stat
              label="Consensus accuracy"
              value={<span data-testid="replay-consensus">{replay.completed ? pct(replay.correct / replay.completed) : '—'}</span>}
              hint={`${num(replay.correct)} of ${num(replay.completed)}`}
            />
            <Stat label="Measured rate" value={elapsed > 0 ? `${(replay.completed / elapsed).toFixed(1)} img/s` : '—'} hint={`${elapsed.toFixed(1)} s elapsed`} />
          </div>
          <ReplayScores scores={replay.scores} />
          {replay.error && <div className="muted small">Last error: {replay.error}</div>}
        </div>
      )}
    </Card>
  );
}

// ---- live feed ---------------------------------------------------------------------------

function LiveFeed() {
  const { headColor } = useBundle();
  const [rows, setRows] = useState<Prediction[]>([]);
  const [total, setTotal] = useState(0);
  const buffer = useRef<Prediction[]>([]);
  const counted = useRef(0);

  useSubscriptionEvents<PredictionAddedSubscription, PredictionAddedSubscriptionVariables>(PREDICTION_ADDED, {}, (d) => {
    buffer.current.push(d.predictionAdded);
    counted.current += 1;
  });

  // High-rate streams: render at most ~4 times a second.
  useEffect(() => {
    const t = setInterval(() => {
      if (buffer.current.length === 0) return;
      const fresh = buffer.current.reverse();
      buffer.current = [];
      setRows((prev) => [...fresh, ...prev].slice(0, 30));
      setTotal(counted.current);
    }, 250);
    return () => clearInterval(t);
  }, []);

  return (
    <Card title="Live feed" testId="live-feed" actions={<span className="muted small" data-testid="feed-count">{num(total)} predictions since opened</span>}>
      {rows.length === 0 ? (
        <p className="muted">Waiting for predictions… start a replay, the webcam, or upload an image.</p>
      ) : (
        <table className="table compact-table">
          <thead>
            <tr>
              <th>Time</th>
              <th>Image</th>
              <th>Model</th>
              <th>Class</th>
              <th>Confidence</th>
              <th className="num">Inference</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((p) => (
              <tr key={p.id} data-testid="feed-row">
                <td className="muted">{time(p.createdAt)}</td>
                <td>
                  <a href={href.image(p.imageId)}>
                    <code>{shortId(p.imageId)}</code>
                  </a>
                </td>
                <td>
                  <span className="model-tag" style={{ background: headColor(p.model) }}>
                    {p.model}
                  </span>
                </td>
                <td>
                  <ClassChip cls={p.predictedClass} />
                  {p.correct !== null && <span className={p.correct ? 'verdict ok' : 'verdict bad'}>{p.correct ? '✓' : '✗'}</span>}
                </td>
                <td className="conf-cell">
                  <Meter value={p.confidence} color={headColor(p.model)} />
                  <span>{pct(p.confidence, 0)}</span>
                </td>
                <td className="num">{ms(p.inferenceMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}


export function LivePage() {
  const admin = useCan('ADMIN');
  // The webcam uploads its frames: uploaders and admins.
  const uploader = useCan('UPLOADER');
  return (
    <div className="page">
      <h1>Live</h1>
      <div className="grid live-grid">
        <div className="stack">
          <ReplayPanel control={admin} />
          {uploader && <WebcamPanel />}
        </div>
        <LiveFeed />
      </div>
    </div>
  );
}
