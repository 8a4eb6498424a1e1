import { useCallback, useEffect, useRef, useState, type DragEvent } from 'react';
import { useClient } from 'urql';
import { UPLOAD_IMAGE, UPLOAD_IMAGES } from '../graphql/documents';
import type { Image } from '../graphql/types';
import type {
  UploadImageMutation,
  UploadImageMutationVariables,
  UploadImagesMutation,
  UploadImagesMutationVariables,
} from '../graphql/generated';
import { apiErrors, type ApiError } from '../graphql/errors';
import { Card, ErrorList, StatusBadge, Thumb, Spinner } from '../components/ui';
import { ComparisonView, PredictionList } from '../components/predictions';
import { useBundle } from '../lib/bundle';
import { useLiveImage } from '../lib/hooks';
import { bytes, shortId } from '../lib/format';
import { href } from '../router';
import { useSession } from '../auth/session';

interface UploadItem {
  key: string;
  name: string;
  size: number;
  objectUrl: string;
  label: string | null;
  state: 'uploading' | 'uploaded' | 'refused';
  image?: Image;
  errors?: ApiError[];
}

let counter = 0;
// The session's uploads outlive the page, so going to a result and back keeps the cards; not
// the session, though: another sign-in starts with none.
let sessionItems: { session: number; items: UploadItem[] } = { session: -1, items: [] };

function UploadedCard({ item }: { item: UploadItem & { image: Image } }) {
  const { image } = useLiveImage(item.image.id, item.image);
  const img = image ?? item.image;
  return (
    <div className="upload-card card" data-testid="upload-card" data-image-id={img.id} data-status={img.status}>
      <div className="upload-card-top">
        <a href={href.image(img.id)} className="upload-thumb-link" title="Open the result page">
          <Thumb src={item.objectUrl} alt={item.name} className="upload-thumb" />
        </a>
        <div className="upload-meta">
          <div className="upload-name" title={item.name}>
            {item.name}
          </div>
          <div className="muted small">
            {img.width}×{img.height} · {img.contentType} · {bytes(img.sizeBytes)}
          </div>
          <div className="row gap-s">
            <StatusBadge status={img.status} />
            {img.label && <span className="badge label">label: {img.label}</span>}
          </div>
          <a href={href.image(img.id)} className="small" data-testid="result-link">
            result {shortId(img.id)} →
          </a>
        </div>
      </div>
      {img.status === 'FAILED' && (
        <div className="error" role="alert" data-testid="image-failed">
          <span className="error-code">FAILED</span>
          <span className="error-message">{img.failureReason ?? 'the pipeline could not process this image'}</span>
        </div>
      )}
      {img.status !== 'FAILED' && (
        <>
          <PredictionList predictions={img.predictions} label={img.label} compact />
          <ComparisonView comparison={img.comparison} label={img.label} />
        </>
      )}
    </div>
  );
}

function PendingCard({ item }: { item: UploadItem }) {
  return (
    <div
      className={`upload-card card ${item.state === 'refused' ? 'refused' : ''}`}
      data-testid={item.state === 'refused' ? 'upload-refused' : 'upload-pending'}
    >
      <div className="upload-card-top">
        <Thumb src={item.objectUrl} alt={item.name} className="upload-thumb" />
        <div className="upload-meta">
          <div className="upload-name" title={item.name}>
            {item.name}
          </div>
          <div className="muted small">{bytes(item.size)}</div>
          {item.state === 'uploading' && (
            <div className="small">
              <Spinner /> uploading…
            </div>
          )}
        </div>
      </div>
      {item.errors && <ErrorList errors={item.errors} testId="upload-error" />}
    </div>
  );
}

export function UploadPage() {
  const client = useClient();
  const bundle = useBundle();
  const [label, setLabel] = useState<string>('');
  const session = useSession();
  const generation = session.status === 'signedIn' ? session.generation : -1;
  const [items, setItems] = useState<UploadItem[]>(() => (sessionItems.session === generation ? sessionItems.items : []));
  const [dragging, setDragging] = useState(false);
  const [batchErrors, setBatchErrors] = useState<ApiError[]>([]);
  const inputRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    sessionItems = { session: generation, items };
  }, [generation, items]);

  const upload = useCallback(
    async (files: File[]) => {
      if (files.length === 0) return;
      setBatchErrors([]);
      const chosen = label || null;
      const batch: UploadItem[] = files.map((f) => {
        const objectUrl = URL.createObjectURL(f);
        return { key: `u${++counter}`, name: f.name, size: f.size, objectUrl, label: chosen, state: 'uploading' };
      });
      const position = new Map(batch.map((b, i) => [b.key, i]));
      setItems((prev) => [...batch, ...prev]);

      const update = (fn: (item: UploadItem, index: number) => UploadItem) =>
        setItems((prev) => prev.map((it) => (position.has(it.key) ? fn(it, position.get(it.key)!) : it)));

      if (files.length === 1) {
        const r = await client.mutation<UploadImageMutation, UploadImageMutationVariables>(UPLOAD_IMAGE, { file: files[0], label: chosen }).toPromise();
        if (r.data?.uploadImage) {
          const image = r.data.uploadImage;
          update((it) => ({ ...it, state: 'uploaded', image }));
        } else {
          const errors = apiErrors(r.error);
          update((it) => ({ ...it, state: 'refused', errors }));
        }
      } else {
        const r = await client
          .mutation<UploadImagesMutation, UploadImagesMutationVariables>(UPLOAD_IMAGES, { files, labels: files.map(() => chosen) })
          .toPromise();
        if (r.data?.uploadImages) {
          const images = r.data.uploadImages;
          update((it, index) => ({ ...it, state: 'uploaded', image: images[index] }));
        } else {
          // All or none: the batch is refused as a whole; the error names the file at fault.
          const errors = apiErrors(r.error);
          setBatchErrors(
            errors.map((e) =>
              typeof e.extensions?.filename === 'string'
                ? { ...e, message: `${e.extensions.filename} (file ${Number(e.extensions.index) + 1} of ${files.length}): ${e.message} — nothing was stored` }
                : e,
            ),
          );
          const culprit = errors.find((e) => typeof e.extensions?.index === 'number')?.extensions?.index as number | undefined;
          update((it, index) => ({
            ...it,
            state: 'refused',
            errors:
              culprit === undefined || culprit === index
                ? errors
                : [{ code: 'NOT_STORED', message: 'the batch was refused because of another file' }],
          }));
        }
      }
    },
    [client, label],
  );

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    void upload(Array.from(e.dataTransfer.files));
  };

  const uploaded = items.filter((i) => i.state === 'uploaded').length;
  const refused = items.filter((i) => i.state === 'refused').length;

  return (
    <div className="page">
      <h1>Upload</h1>
      <Card>
        <div className="upload-controls">
          <label className="field">
            <span>Ground-truth label (optional)</span>
            <select value={label} onChange={(e) => setLabel(e.target.value)} data-testid="label-select" data-state={bundle.status}>
              <option value="">{bundle.status === 'loading' ? 'loading the classes…' : '— none —'}</option>
              {bundle.classes.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          </label>
          <p className="muted small">
            JPEG, PNG or WebP, up to 10 MB each. One file is sent with <code>uploadImage</code>, several at once with{' '}
            <code>uploadImages</code> (all or none). The label applies to every file of the drop.
          </p>
        </div>
        <div
          className={dragging ? 'dropzone dragging' : 'dropzone'}
          data-testid="dropzone"
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
          onClick={() => inputRef.current?.click()}
          role="button"
          tabIndex={0}
          onKeyDown={(e) => {
            if (e.key === 'Enter' || e.key === ' ') inputRef.current?.click();
          }}
        >
          <div className="dropzone-icon" aria-hidden="true">
            ⬆
          </div>
          <div>
            <strong>Drop images here</strong> or <span className="link">choose files</span>
          </div>
          <input
            ref={inputRef}
            type="file"
            multiple
            accept="image/jpeg,image/png,image/webp"
            data-testid="file-input"
            style={{ display: 'none' }}
            onChange={(e) => {
              const files = Array.from(e.target.files ?? []);
              e.target.value = '';
              void upload(files);
            }}
          />
        </div>
        <ErrorList errors={batchErrors} testId="batch-error" />
      </Card>

      {items.length > 0 && (
        <div className="row between">
          <h2 className="section-title">This session</h2>
          <span className="row gap-s muted small" data-testid="upload-summary">
            {uploaded} uploaded{refused ? ` · ${refused} refused` : ''}
            <button
              className="btn small-btn"
              onClick={() => {
                items.forEach((i) => URL.revokeObjectURL(i.objectUrl));
                setItems([]);
                setBatchErrors([]);
              }}
            >
              Clear
            </button>
          </span>
        </div>
      )}
      <div className="grid grid-cards" data-testid="upload-results">
        {items.map((it) =>
          it.state === 'uploaded' && it.image ? (
            <UploadedCard key={it.key} item={it as UploadItem & { image: Image }} />
          ) : (
            <PendingCard key={it.key} item={it} />
          ),
        )}
      </div>
    </div>
  );
}
