// Registering a new ONNX version (a multipart upload), with its optional metrics, card and
// lineage as JSON.

import { useRef, useState, type FormEvent } from 'react';
import { useClient } from 'urql';
import { REGISTER_MODEL_VERSION } from '../../graphql/documents';
import type { Json, ModelKind, ModelVersion, RegisteredModel } from '../../graphql/types';
import type { RegisterModelVersionMutation, RegisterModelVersionMutationVariables } from '../../graphql/generated';
import { apiErrors, type ApiError } from '../../graphql/errors';
import { Card, ErrorList, Spinner } from '../../components/ui';
import { bytes } from '../../lib/format';
import { shape, shortSha } from './shared';

function parseJson(field: string, text: string): { value: Json | null; error: ApiError | null } {
  if (!text.trim()) return { value: null, error: null };
  try {
    return { value: JSON.parse(text) as Json, error: null };
  } catch (e) {
    return { value: null, error: { code: 'INVALID_JSON', message: `${field}: ${(e as Error).message}` } };
  }
}

export function RegisterCard({ models, onRegistered }: { models: RegisteredModel[]; onRegistered: () => void }) {
  const client = useClient();
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [kind, setKind] = useState<ModelKind>('CLASSIFIER');
  const [label, setLabel] = useState('');
  const [extractor, setExtractor] = useState('');
  const [metrics, setMetrics] = useState('');
  const [card, setCard] = useState('');
  const [lineage, setLineage] = useState('');
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [result, setResult] = useState<ModelVersion | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);

  // An existing model keeps its kind: naming one sets the kind to its own (adjusted while
  // rendering, https://react.dev/learn/you-might-not-need-an-effect).
  const existing = models.find((m) => m.name === name.trim());
  const [kindSetFor, setKindSetFor] = useState(existing);
  if (existing !== kindSetFor) {
    setKindSetFor(existing);
    if (existing) setKind(existing.kind);
  }
  const extractors = models.filter((m) => m.kind === 'EXTRACTOR').flatMap((m) => m.versions);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setErrors([]);
    setResult(null);
    if (!file) {
      setErrors([{ code: 'NO_FILE', message: 'choose an ONNX file' }]);
      return;
    }
    const parsed = [parseJson('metrics', metrics), parseJson('card', card), parseJson('lineage', lineage)];
    const bad = parsed.flatMap((p) => (p.error ? [p.error] : []));
    if (bad.length) {
      setErrors(bad);
      return;
    }
    setBusy(true);
    const r = await client
      .mutation<RegisterModelVersionMutation, RegisterModelVersionMutationVariables>(REGISTER_MODEL_VERSION, {
        file,
        name: name.trim(),
        kind,
        label: label.trim() || null,
        extractorLabel: kind === 'CLASSIFIER' && extractor ? extractor : null,
        metrics: parsed[0].value,
        card: parsed[1].value,
        lineage: parsed[2].value,
      })
      .toPromise();
    setBusy(false);
    if (r.data?.registerModelVersion) {
      setResult(r.data.registerModelVersion);
      setFile(null);
      setLabel('');
      if (inputRef.current) inputRef.current.value = '';
      onRegistered();
    } else {
      setErrors(apiErrors(r.error));
    }
  };

  return (
    <Card title="Register a version" testId="register">
      <form className="register-form" onSubmit={(e) => void submit(e)}>
        <label className="field wide">
          <span>ONNX file</span>
          <input
            ref={inputRef}
            type="file"
            accept=".onnx,application/octet-stream"
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
            data-testid="register-file"
          />
        </label>
        <label className="field">
          <span>Model name</span>
          <input
            type="text"
            list="registered-model-names"
            placeholder="existing or new"
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
            data-testid="register-name"
          />
          <datalist id="registered-model-names">
            {models.map((m) => (
              <option key={m.name} value={m.name} />
            ))}
          </datalist>
        </label>
        <label className="field">
          <span>Kind</span>
          <select value={kind} onChange={(e) => setKind(e.target.value as ModelKind)} data-testid="register-kind">
            <option value="CLASSIFIER">classifier (head)</option>
            <option value="EXTRACTOR">extractor</option>
          </select>
        </label>
        <label className="field">
          <span>Label (optional)</span>
          <input
            type="text"
            placeholder={name.trim() ? `${name.trim()}-v${(existing?.versions.length ?? 0) + 1}` : 'name-vN'}
            value={label}
            onChange={(e) => setLabel(e.target.value)}
            data-testid="register-label"
          />
        </label>
        {kind === 'CLASSIFIER' && (
          <label className="field">
            <span>Extractor</span>
            <select value={extractor} onChange={(e) => setExtractor(e.target.value)} data-testid="register-extractor">
              <option value="">production's</option>
              {extractors.map((x) => (
                <option key={x.label} value={x.label}>
                  {x.label}
                </option>
              ))}
            </select>
          </label>
        )}
        <details className="field wide json-fields">
          <summary>Metrics, card, lineage (JSON, optional)</summary>
          <textarea placeholder='metrics, e.g. {"test_accuracy": 0.905}' value={metrics} onChange={(e) => setMetrics(e.target.value)} data-testid="register-metrics" />
          <textarea placeholder='card, e.g. {"intended_use": "…"}' value={card} onChange={(e) => setCard(e.target.value)} data-testid="register-card" />
          <textarea placeholder='lineage, e.g. {"run": "…", "data": "…"}' value={lineage} onChange={(e) => setLineage(e.target.value)} data-testid="register-lineage" />
        </details>
        <div className="field buttons wide">
          <button type="submit" className="btn primary" disabled={busy || !file || !name.trim()} data-testid="register-submit">
            Register
          </button>
          {busy && (
            <span className="muted small">
              <Spinner /> checking and storing…
            </span>
          )}
        </div>
      </form>
      <p className="muted small">
        Checked before anything is stored: one float input and one output, shapes that fit the kind, loads on the serving
        runtime, a warm-up inference. A refusal stores nothing.
      </p>
      {result && (
        <div
          className="notice ok small"
          data-testid="register-result"
          data-name={result.name}
          data-version={result.version}
          data-label={result.label}
          role="status"
        >
          Registered <strong>{result.name}</strong> <strong>v{result.version}</strong> · <code>{result.label}</code> ·{' '}
          {bytes(result.sizeBytes)} · sha256 <code title={result.sha256}>{shortSha(result.sha256)}</code> ·{' '}
          <code>{shape(result.inputShape)}</code> → <code>{shape(result.outputShape)}</code>. Not serving yet: promote it, make it
          the shadow or start an A/B test.
        </div>
      )}
      <ErrorList errors={errors} testId="register-error" />
    </Card>
  );
}

