import { useCallback, useEffect, useRef, useState } from 'react';
import { useClient } from 'urql';
import { pipe, subscribe } from 'wonka';
import {
  IMAGE_COMPLETED,
  IMAGE_FAILED,
  IMAGE_QUERY,
  PREDICTION_ADDED,
  REPLAYS_QUERY,
  REPLAY_PROGRESS,
  START_REPLAY,
  STOP_REPLAY,
  UPLOAD_IMAGE,
} from '../graphql/documents';
import type { CifarSplit, Image, Prediction, Replay, ReplayScore } from '../graphql/types';
import type {
  ImageCompletedSubscription,
  ImageCompletedSubscriptionVariables,
  ImageFailedSubscription,
  ImageFailedSubscriptionVariables,
  ImageQuery,
  ImageQueryVariables,
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
  UploadImageMutation,
  UploadImageMutationVariables,
} from '../graphql/generated';
import { apiErrors, type ApiError } from '../graphql/errors';
import { Card, ClassChip, ErrorList, Meter, Stat } from '../components/ui';
import { useBundle } from '../lib/bundle';
import { between, ms, num, pct, shortId, time } from '../lib/format';
import { useSubscriptionEvents } from '../lib/hooks';
import { href } from '../router';

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

function ReplayPanel() {
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
    const { unsubscribe } = pipe(
      client.subscription<ReplayProgressSubscription, ReplayProgressSubscriptionVariables>(REPLAY_PROGRESS, { id: replayId }),
      subscribe((r) => {
        const next = r.data?.replayProgress;
        if (next) setReplay((cur) => (cur && cur.id !== next.id ? cur : next));
      }),
    );
    return unsubscribe;
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

// ---- webcam ------------------------------------------------------------------------------

const RESOLUTIONS = [
  { label: '320 × 240', w: 320, h: 240 },
  { label: '640 × 480', w: 640, h: 480 },
  { label: '1280 × 720', w: 1280, h: 720 },
];
const FPS = [0.5, 1, 2, 3, 5];
const MAX_IN_FLIGHT = 3;
const GIVE_UP_MS = 15_000;

interface Frame {
  n: number;
  sentAt: number;
  id?: string;
}

interface Counters {
  sent: number;
  completed: number;
  dropped: number;
  failed: number;
  lastRtt: number | null;
  meanRtt: number | null;
}

const ZERO: Counters = { sent: 0, completed: 0, dropped: 0, failed: 0, lastRtt: null, meanRtt: null };

function WebcamPanel() {
  const client = useClient();
  const { byHead, headColor } = useBundle();
  const videoRef = useRef<HTMLVideoElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const streamRef = useRef<MediaStream | null>(null);
  const [resolution, setResolution] = useState(0);
  const [fps, setFps] = useState(1);
  const [running, setRunning] = useState(false);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [counters, setCounters] = useState<Counters>(ZERO);
  const [latest, setLatest] = useState<{ image: Image; rtt: number; n: number } | null>(null);

  const inFlight = useRef(new Map<number, Frame>());
  const byId = useRef(new Map<string, Frame>());
  // Completions that arrived before the upload's answer (the pipeline can beat the response).
  const early = useRef(new Map<string, Image>());
  const rttSum = useRef({ sum: 0, n: 0 });
  const frameNo = useRef(0);
  const latestN = useRef(0);

  const finish = useCallback((frame: Frame, image: Image | null) => {
    if (!inFlight.current.has(frame.n)) return;
    inFlight.current.delete(frame.n);
    if (frame.id) byId.current.delete(frame.id);
    const rtt = performance.now() - frame.sentAt;
    if (image && image.status === 'COMPLETED') {
      rttSum.current.sum += rtt;
      rttSum.current.n += 1;
      const mean = rttSum.current.sum / rttSum.current.n;
      setCounters((c) => ({ ...c, completed: c.completed + 1, lastRtt: rtt, meanRtt: mean }));
      if (frame.n > latestN.current) {
        latestN.current = frame.n;
        setLatest({ image, rtt, n: frame.n });
      }
    } else {
      setCounters((c) => ({ ...c, failed: c.failed + 1 }));
    }
  }, []);

  const onTerminal = useCallback(
    (image: Image) => {
      const frame = byId.current.get(image.id);
      if (frame) finish(frame, image);
      else if (image.source === 'webcam') {
        early.current.set(image.id, image);
        if (early.current.size > 100) early.current.delete(early.current.keys().next().value as string);
      }
    },
    [finish],
  );

  useSubscriptionEvents<ImageCompletedSubscription, ImageCompletedSubscriptionVariables>(IMAGE_COMPLETED, {}, (d) => onTerminal(d.imageCompleted), running);
  useSubscriptionEvents<ImageFailedSubscription, ImageFailedSubscriptionVariables>(IMAGE_FAILED, {}, (d) => onTerminal(d.imageFailed), running);

  const sendFrame = useCallback(async () => {
    const video = videoRef.current;
    const canvas = canvasRef.current;
    if (!video || !canvas || video.readyState < 2) return;
    if (inFlight.current.size >= MAX_IN_FLIGHT) {
      setCounters((c) => ({ ...c, dropped: c.dropped + 1 }));
      return;
    }
    const { w, h } = RESOLUTIONS[resolution];
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.drawImage(video, 0, 0, w, h);
    const n = ++frameNo.current;
    const frame: Frame = { n, sentAt: performance.now() };
    inFlight.current.set(n, frame);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.85));
    if (!blob) {
      inFlight.current.delete(n);
      return;
    }
    const file = new File([blob], `webcam-${n}.jpg`, { type: 'image/jpeg' });
    setCounters((c) => ({ ...c, sent: c.sent + 1 }));
    // The round trip counts from the upload to imageCompleted (JPEG encoding excluded).
    frame.sentAt = performance.now();
    const r = await client.mutation<UploadImageMutation, UploadImageMutationVariables>(UPLOAD_IMAGE, { file, source: 'webcam' }).toPromise();
    const image = r.data?.uploadImage;
    if (!image) {
      inFlight.current.delete(n);
      setErrors(apiErrors(r.error));
      setCounters((c) => ({ ...c, failed: c.failed + 1 }));
      return;
    }
    frame.id = image.id;
    byId.current.set(image.id, frame);
    const done = early.current.get(image.id);
    if (done) {
      early.current.delete(image.id);
      finish(frame, done);
    } else if (image.status === 'COMPLETED' || image.status === 'FAILED') {
      // A frame identical to an earlier one is de-duplicated and may already be complete.
      finish(frame, image);
    } else {
      // Safety net if the completion event is missed: ask once, then give up on the frame.
      setTimeout(async () => {
        if (!inFlight.current.has(n)) return;
        const q = await client.query<ImageQuery, ImageQueryVariables>(IMAGE_QUERY, { id: image.id }, { requestPolicy: 'network-only' }).toPromise();
        const img = q.data?.image;
        if (img && (img.status === 'COMPLETED' || img.status === 'FAILED')) finish(frame, img);
      }, 5_000);
      setTimeout(() => finish(frame, null), GIVE_UP_MS);
    }
  }, [client, finish, resolution]);

  // The capture clock.
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => void sendFrame(), 1000 / fps);
    return () => clearInterval(t);
  }, [running, fps, sendFrame]);

  const start = async () => {
    setErrors([]);
    const { w, h } = RESOLUTIONS[resolution];
    if (!navigator.mediaDevices?.getUserMedia) {
      setErrors([{ code: 'CAMERA_UNAVAILABLE', message: 'this browser gives no camera access here (it needs HTTPS or localhost)' }]);
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: w }, height: { ideal: h } },
        audio: false,
      });
      streamRef.current = stream;
      if (videoRef.current) {
        videoRef.current.srcObject = stream;
        await videoRef.current.play().catch(() => undefined);
      }
      inFlight.current.clear();
      byId.current.clear();
      setCounters(ZERO);
      rttSum.current = { sum: 0, n: 0 };
      setLatest(null);
      latestN.current = 0;
      setRunning(true);
    } catch (e) {
      const err = e as DOMException;
      setErrors([{ code: err.name || 'CAMERA_ERROR', message: err.message || 'the camera cannot be opened' }]);
    }
  };

  const stop = useCallback(() => {
    setRunning(false);
    streamRef.current?.getTracks().forEach((t) => t.stop());
    streamRef.current = null;
    if (videoRef.current) videoRef.current.srcObject = null;
  }, []);

  useEffect(() => stop, [stop]);

  const preds = latest ? byHead(latest.image.predictions, (p) => p.model) : [];
  const consensus = latest?.image.comparison?.consensusClass ?? null;
  const { w, h } = RESOLUTIONS[resolution];
  return (
    <Card title="Webcam" testId="webcam-panel">
      <div className="form-grid">
        <label className="field">
          <span>Resolution</span>
          <select value={resolution} disabled={running} onChange={(e) => setResolution(Number(e.target.value))} data-testid="webcam-resolution">
            {RESOLUTIONS.map((r, i) => (
              <option key={r.label} value={i}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Frames per second</span>
          <select value={fps} onChange={(e) => setFps(Number(e.target.value))} data-testid="webcam-fps">
            {FPS.map((f) => (
              <option key={f} value={f}>
                {f}
              </option>
            ))}
          </select>
        </label>
        <div className="field buttons">
          {!running ? (
            <button className="btn primary" onClick={() => void start()} data-testid="webcam-start">
              Start camera
            </button>
          ) : (
            <button className="btn danger" onClick={stop} data-testid="webcam-stop">
              Stop
            </button>
          )}
        </div>
      </div>
      <ErrorList errors={errors} testId="webcam-error" />
      <div className="webcam" style={{ aspectRatio: `${w} / ${h}` }}>
        <video ref={videoRef} muted playsInline data-testid="webcam-video" />
        {!running && <div className="webcam-idle">camera off</div>}
        {running && latest && (
          <div className="overlay" data-testid="webcam-overlay" data-frame={latest.n}>
            <div className="overlay-consensus" data-testid="overlay-consensus">
              {consensus ? (
                <>
                  consensus <strong>{consensus}</strong> · {pct(latest.image.comparison?.agreement ?? 0, 0)} agree
                </>
              ) : (
                'no consensus'
              )}
            </div>
            {preds.map((p) => (
              <div key={p.id} className={p.predictedClass === consensus ? 'overlay-row agree' : 'overlay-row'} data-testid={`overlay-${p.model}`}>
                <span className="overlay-model" style={{ background: headColor(p.model) }}>
                  {p.model}
                </span>
                <span className="overlay-class">{p.predictedClass}</span>
                <span className="overlay-conf">{pct(p.confidence, 0)}</span>
              </div>
            ))}
            <div className="overlay-foot">
              frame #{latest.n} · round trip {ms(latest.rtt, 0)}
            </div>
          </div>
        )}
      </div>
      <canvas ref={canvasRef} style={{ display: 'none' }} />
      <div className="stats-row">
        <Stat label="Frames sent" value={<span data-testid="frames-sent">{counters.sent}</span>} />
        <Stat label="Completed" value={<span data-testid="frames-completed">{counters.completed}</span>} />
        <Stat label="Dropped" value={counters.dropped} hint={`busy: ${MAX_IN_FLIGHT} in flight`} />
        <Stat label="Failed" value={counters.failed} />
        <Stat label="Round trip" value={<span data-testid="rtt">{ms(counters.lastRtt, 0)}</span>} hint={`mean ${ms(counters.meanRtt, 0)}`} />
      </div>
    </Card>
  );
}

export function LivePage() {
  return (
    <div className="page">
      <h1>Live</h1>
      <div className="grid live-grid">
        <div className="stack">
          <ReplayPanel />
          <WebcamPanel />
        </div>
        <LiveFeed />
      </div>
    </div>
  );
}
