// The webcam: frames captured at a chosen resolution and rate, uploaded as JPEGs (at most a few
// in flight, late ones dropped), each followed to its completion or failure.

import { useCallback, useEffect, useRef, useState } from 'react';
import { useClient } from 'urql';
import { IMAGE_COMPLETED, IMAGE_FAILED, IMAGE_QUERY, UPLOAD_IMAGE } from '../../graphql/documents';
import type { Image } from '../../graphql/types';
import type {
  ImageCompletedSubscription,
  ImageCompletedSubscriptionVariables,
  ImageFailedSubscription,
  ImageFailedSubscriptionVariables,
  ImageQuery,
  ImageQueryVariables,
  UploadImageMutation,
  UploadImageMutationVariables,
} from '../../graphql/generated';
import { apiErrors, type ApiError } from '../../graphql/errors';
import { Card, ErrorList, Stat } from '../../components/ui';
import { useBundle } from '../../lib/bundle';
import { ms, pct } from '../../lib/format';
import { useSubscriptionEvents } from '../../lib/hooks';

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

export function WebcamPanel() {
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
      setTimeout(() => {
        if (!inFlight.current.has(n)) return;
        void client
          .query<ImageQuery, ImageQueryVariables>(IMAGE_QUERY, { id: image.id }, { requestPolicy: 'network-only' })
          .toPromise()
          .then((q) => {
            const img = q.data?.image;
            if (img && (img.status === 'COMPLETED' || img.status === 'FAILED')) finish(frame, img);
          });
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
