import { useState, type ReactNode } from 'react';
import type { ApiError } from '../graphql/errors';
import type { ImageStatus } from '../graphql/types';
import { useBundle } from '../lib/bundle';
import { useImageFile } from '../lib/imageFile';

export function ErrorList({ errors, testId = 'error' }: { errors: ApiError[]; testId?: string }) {
  if (errors.length === 0) return null;
  return (
    <div className="errors">
      {errors.map((e, i) => (
        <div key={i} className="error" role="alert" data-testid={testId} data-code={e.code}>
          <span className="error-code" data-testid="error-code">
            {e.code}
          </span>
          <span className="error-message">{e.message}</span>
        </div>
      ))}
    </div>
  );
}

export function StatusBadge({ status }: { status: ImageStatus }) {
  return (
    <span className={`badge status-${status.toLowerCase()}`} data-testid="status" data-status={status}>
      {status}
    </span>
  );
}

export function ClassChip({ cls, title }: { cls: string | null | undefined; title?: string }) {
  const { classColor } = useBundle();
  if (!cls) return <span className="muted">—</span>;
  return (
    <span className="class-chip" title={title}>
      <span className="swatch" style={{ background: classColor(cls) }} />
      {cls}
    </span>
  );
}

export function Meter({ value, color, testId }: { value: number; color?: string; testId?: string }) {
  const v = Math.max(0, Math.min(1, value));
  return (
    <div className="meter" data-testid={testId} aria-valuenow={Math.round(v * 100)} role="meter" aria-valuemin={0} aria-valuemax={100}>
      <div className="meter-fill" style={{ width: `${v * 100}%`, background: color }} />
    </div>
  );
}

/**
 * An image: `src` (a local object URL), or the stored file of image `id` (`/images/<id>/file`,
 * fetched with the API key when there is one); a placeholder when it cannot load.
 */
export function Thumb({ id, src, alt, className }: { id?: string; src?: string; alt?: string; className?: string }) {
  const file = useImageFile(src === undefined ? id : undefined);
  // The element that failed to load (a new image gets its own chance).
  const [failedUrl, setFailedUrl] = useState<string | null>(null);
  const url = src ?? file.url;
  if (!src && id && !file.url && !file.failed) {
    return <div className={`thumb thumb-loading ${className ?? ''}`} data-testid="thumb-loading" aria-busy="true" />;
  }
  if (!url || file.failed || failedUrl === url) {
    return (
      <div className={`thumb thumb-missing ${className ?? ''}`} data-testid="thumb-missing" title="Image not available">
        <span>no preview</span>
      </div>
    );
  }
  return (
    <img
      className={`thumb ${className ?? ''}`}
      src={url}
      alt={alt ?? 'image'}
      loading="lazy"
      data-testid="thumb"
      onError={() => setFailedUrl(url)}
    />
  );
}

export function Card({
  title,
  actions,
  children,
  className,
  testId,
}: {
  title?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  testId?: string;
}) {
  return (
    <section className={`card ${className ?? ''}`} data-testid={testId}>
      {(title || actions) && (
        <div className="card-head">
          {title && <h2>{title}</h2>}
          {actions && <div className="card-actions">{actions}</div>}
        </div>
      )}
      {children}
    </section>
  );
}

export function Stat({ label, value, hint, testId }: { label: string; value: ReactNode; hint?: ReactNode; testId?: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
      {hint && <div className="stat-hint">{hint}</div>}
    </div>
  );
}

export function Spinner() {
  return <span className="spinner" aria-label="loading" />;
}
