import { Card, ErrorList, Spinner, StatusBadge, Thumb } from '../components/ui';
import { ComparisonView, PredictionList } from '../components/predictions';
import { useLiveImage } from '../lib/hooks';
import { between, bytes, dateTime, ms } from '../lib/format';
import { href } from '../router';

export function ResultPage({ id }: { id: string }) {
  const { image, loaded, notFound, errors } = useLiveImage(id);

  if (!loaded && !image) {
    return (
      <div className="page">
        <p>
          <Spinner /> loading image {id}…
        </p>
      </div>
    );
  }
  if (notFound || !image) {
    return (
      <div className="page">
        <ErrorList errors={errors} />
        <Card testId="image-not-found">
          <h2>No image with this id</h2>
          <p>
            <code>{id}</code> is unknown. <a href={href.history}>Browse the history</a>.
          </p>
        </Card>
      </div>
    );
  }

  const total = between(image.createdAt, image.completedAt);
  const live = image.status !== 'COMPLETED' && image.status !== 'FAILED';
  return (
    <div className="page" data-testid="result" data-image-id={image.id} data-status={image.status}>
      <div className="row between wrap">
        <h1>
          Image <code className="id">{image.id}</code>
        </h1>
        <div className="row gap-s">
          <StatusBadge status={image.status} />
          {live && (
            <span className="muted small">
              <Spinner /> live — waiting for the pipeline
            </span>
          )}
        </div>
      </div>
      <ErrorList errors={errors} />
      {image.status === 'FAILED' && (
        <div className="error" role="alert" data-testid="failure-reason">
          <span className="error-code">FAILED</span>
          <span className="error-message">{image.failureReason ?? 'unknown reason'}</span>
        </div>
      )}
      <div className="grid result-grid">
        <Card title="Image" testId="image-card">
          <div className="result-image">
            <Thumb id={image.id} alt={`image ${image.id}`} className="result-thumb" />
          </div>
          <dl className="meta" data-testid="image-meta">
            <dt>Source</dt>
            <dd data-testid="meta-source">{image.source}</dd>
            <dt>Label</dt>
            <dd data-testid="meta-label">{image.label ?? <span className="muted">none</span>}</dd>
            <dt>Type</dt>
            <dd>{image.contentType}</dd>
            <dt>Size</dt>
            <dd>
              {image.width}×{image.height} px · {bytes(image.sizeBytes)}
            </dd>
            <dt>Uploaded</dt>
            <dd>{dateTime(image.createdAt)}</dd>
            <dt>Completed</dt>
            <dd>
              {dateTime(image.completedAt)}
              {total !== null && <span className="muted"> ({ms(total)} end to end)</span>}
            </dd>
            <dt>Extractor</dt>
            <dd>
              {image.extractorVersion ?? '—'}
              {image.extractMs !== null && <span className="muted"> · {ms(image.extractMs)}</span>}
            </dd>
            <dt>SHA-256</dt>
            <dd>
              <code className="hash">{image.contentHash}</code>
            </dd>
            <dt>Object key</dt>
            <dd>
              <code className="hash">{image.objectKey}</code>
            </dd>
          </dl>
        </Card>
        <div className="stack">
          <Card title="Predictions" testId="predictions-card">
            <PredictionList predictions={image.predictions} label={image.label} topK />
          </Card>
          <Card title="Comparison" testId="comparison-card">
            <ComparisonView comparison={image.comparison} label={image.label} />
          </Card>
        </div>
      </div>
    </div>
  );
}
