// The registry's models, one card each: versions with their details, aliases and alias history,
// and the promote / roll back / archive / shadow / A/B controls.

import { useState } from 'react';
import { useClient, type AnyVariables } from 'urql';
import {
  ARCHIVE_MODEL_VERSION,
  PROMOTE_MODEL_VERSION,
  ROLLBACK_MODEL,
  SET_MODEL_ALIAS,
  START_AB_TEST,
  STOP_AB_TEST,
} from '../../graphql/documents';
import type { AliasMove, AliasUpdate, Json, ModelVersion, RegisteredModel } from '../../graphql/types';
import type {
  ArchiveModelVersionMutation,
  ArchiveModelVersionMutationVariables,
  PromoteModelVersionMutation,
  PromoteModelVersionMutationVariables,
  RollbackModelMutation,
  RollbackModelMutationVariables,
  SetModelAliasMutation,
  SetModelAliasMutationVariables,
  StartAbTestMutation,
  StartAbTestMutationVariables,
  StopAbTestMutation,
  StopAbTestMutationVariables,
} from '../../graphql/generated';
import { apiErrors } from '../../graphql/errors';
import { ErrorList, Spinner } from '../../components/ui';
import { useBundle } from '../../lib/bundle';
import { bytes, dateTime, pct } from '../../lib/format';
import { ARCHIVED, type Outcome, PRODUCTION, SHADOW, aliasVersion, describeUpdate, hasAlias, shape, shortSha, v } from './shared';

function VersionDetails({ version }: { version: ModelVersion }) {
  const json = (label: string, value: Json) =>
    value === null || value === undefined ? null : (
      <div>
        <span className="k">{label}</span>
        <pre className="json">{JSON.stringify(value, null, 2)}</pre>
      </div>
    );
  return (
    <div className="version-details" data-testid="version-details">
      <dl className="meta">
        <dt>sha256</dt>
        <dd>
          <code className="hash">{version.sha256}</code>
        </dd>
        <dt>artifact</dt>
        <dd>
          <code>{version.artifactKey}</code>
        </dd>
        <dt>input → output</dt>
        <dd>
          <code>{shape(version.inputShape)}</code> → <code>{shape(version.outputShape)}</code>
        </dd>
        <dt>descriptor</dt>
        <dd>
          {version.descriptorDim}-d{version.inputSize ? ` · ${version.inputSize} px input` : ''}
        </dd>
        {version.extractorLabel && (
          <>
            <dt>extractor</dt>
            <dd>
              <code>{version.extractorLabel}</code>
            </dd>
          </>
        )}
        {version.classes && (
          <>
            <dt>classes</dt>
            <dd className="small">{version.classes.join(', ')}</dd>
          </>
        )}
      </dl>
      <div className="json-grid">
        {json('metrics', version.metrics)}
        {json('card', version.card)}
        {json('lineage', version.lineage)}
      </div>
    </div>
  );
}

function HistoryTable({ history }: { history: AliasMove[] }) {
  const [all, setAll] = useState(false);
  const LIMIT = 5;
  const rows = all ? history : history.slice(0, LIMIT);
  return (
    <div className="alias-history">
      <h3 className="subtitle">Alias history</h3>
      <table className="table compact-table" data-testid="alias-history">
        <thead>
          <tr>
            <th>When</th>
            <th>Alias</th>
            <th>Move</th>
            <th>By</th>
            <th>Reason</th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                No alias ever moved.
              </td>
            </tr>
          )}
          {rows.map((h, i) => (
            <tr
              key={`${h.changedAt}-${h.alias}-${i}`}
              data-testid="alias-move"
              data-alias={h.alias}
              data-from={h.previousVersion ?? ''}
              data-to={h.version ?? ''}
              data-kind={h.kind}
            >
              <td className="muted" title={h.changedAt}>
                {dateTime(h.changedAt)}
              </td>
              <td>
                <AliasBadge alias={h.alias} />
              </td>
              <td className="move">
                {v(h.previousVersion)} → <strong>{v(h.version)}</strong>
                {h.kind === 'ROLLBACK' && <span className="badge move-kind"> rollback</span>}
                {h.kind === 'AB' && (
                  <span className="badge move-kind"> {h.version === null ? 'A/B stopped' : 'A/B'}</span>
                )}
              </td>
              <td>{h.changedBy}</td>
              <td className="reason" title={h.reason ?? ''}>
                {h.reason ?? <span className="muted">—</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {history.length > LIMIT && (
        <button className="btn small-btn" onClick={() => setAll((a) => !a)}>
          {all ? 'Show the latest' : `Show all ${history.length}`}
        </button>
      )}
    </div>
  );
}

function AliasBadge({ alias }: { alias: string }) {
  const known = [PRODUCTION, SHADOW, ARCHIVED, 'staging'].includes(alias) ? alias : 'other';
  return (
    <span className={`badge alias alias-${known}`} data-testid="alias-badge" data-alias={alias}>
      {alias}
    </span>
  );
}

/** Where a rollback would put production, as the registry undoes it: production's forward moves
 * are a stack (promote 1 -> 2 -> 3, then a rollback goes to 2 and the next to 1). */
function rollbackTarget(history: AliasMove[]): number | null {
  const undo: number[] = [];
  for (const move of [...history].reverse()) {
    if (move.alias !== PRODUCTION) continue;
    if (move.kind === 'ROLLBACK') undo.pop();
    else if (move.previousVersion !== null) undo.push(move.previousVersion);
  }
  return undo.length ? undo[undo.length - 1] : null;
}

export function ModelCard({
  model,
  ab,
  onChanged,
  control,
}: {
  model: RegisteredModel;
  /** The head's running A/B test (its candidate's label and share), if any. */
  ab: { candidate: string; share: number | null } | null;
  onChanged: () => void;
  /** May change the registry (admins): the controls are shown. */
  control: boolean;
}) {
  const client = useClient();
  const { headColor } = useBundle();
  const [reason, setReason] = useState('');
  const [share, setShare] = useState('0.1');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>({ notice: null, errors: [] });
  const [open, setOpen] = useState<number | null>(null);

  const head = model.kind === 'CLASSIFIER';
  const production = model.production?.version ?? null;
  const shadow = aliasVersion(model, SHADOW);
  const rollbackTo = rollbackTarget(model.history);
  const canRollBack = rollbackTo !== null;
  const why = reason.trim() || null;

  const run = async <T, V extends AnyVariables>(doc: string, variables: V, describe: (data: T) => string) => {
    setBusy(true);
    setOutcome({ notice: null, errors: [] });
    const r = await client.mutation<T, V>(doc, variables).toPromise();
    setBusy(false);
    if (r.data && !r.error) {
      setOutcome({ notice: describe(r.data), errors: [] });
      setReason('');
    } else {
      setOutcome({ notice: null, errors: apiErrors(r.error) });
    }
    onChanged();
  };

  const alias = (d: Record<string, AliasUpdate>) => describeUpdate(Object.values(d)[0]);
  const promote = (version: number) =>
    run<PromoteModelVersionMutation, PromoteModelVersionMutationVariables>(PROMOTE_MODEL_VERSION, { name: model.name, version, reason: why }, alias);
  const archive = (version: number) =>
    run<ArchiveModelVersionMutation, ArchiveModelVersionMutationVariables>(ARCHIVE_MODEL_VERSION, { name: model.name, version, reason: why }, alias);
  const makeShadow = (version: number) =>
    run<SetModelAliasMutation, SetModelAliasMutationVariables>(SET_MODEL_ALIAS, { name: model.name, alias: SHADOW, version, reason: why }, alias);
  const stopShadow = () =>
    run<SetModelAliasMutation, SetModelAliasMutationVariables>(SET_MODEL_ALIAS, { name: model.name, alias: SHADOW, version: null, reason: why }, alias);
  const rollback = () => run<RollbackModelMutation, RollbackModelMutationVariables>(ROLLBACK_MODEL, { name: model.name, reason: why }, alias);
  const startAb = (version: number) => {
    const s = Number(share);
    return run<StartAbTestMutation, StartAbTestMutationVariables>(START_AB_TEST, { model: model.name, version, share: s }, () =>
      `${model.name}: A/B test started, v${version} answers ${pct(s, 0)} of the images`,
    );
  };
  const stopAb = () =>
    run<StopAbTestMutation, StopAbTestMutationVariables>(STOP_AB_TEST, { model: model.name }, (d) =>
      d.stopAbTest ? `${model.name}: A/B test stopped, production answers every image` : `${model.name}: no A/B test was running`,
    );

  return (
    <section
      className="card model-card"
      data-testid={`model-${model.name}`}
      data-kind={model.kind}
      data-production-version={production ?? ''}
      data-production-label={model.production?.label ?? ''}
      style={head ? { borderTopColor: headColor(model.name) } : undefined}
    >
      <div className="card-head">
        <h2 className="model-title">
          {model.name} <span className="badge kind">{model.kind.toLowerCase()}</span>
          <span className="muted small">
            production{' '}
            <strong data-testid="production-label">
              {model.production ? `v${model.production.version} · ${model.production.label}` : 'none'}
            </strong>
            {shadow !== null && <> · shadow v{shadow}</>}
            {ab && (
              <>
                {' '}
                · A/B <code>{ab.candidate}</code> {ab.share !== null ? pct(ab.share, 0) : ''}
              </>
            )}
          </span>
        </h2>
        {control && (
          <div className="card-actions model-actions">
            <input
              type="text"
              className="reason-input"
              placeholder="reason (optional)"
              value={reason}
              onChange={(e) => setReason(e.target.value)}
              data-testid="reason"
              aria-label="Reason of the next change"
            />
            {head && (
              <label className="inline-field" title="The A/B candidate's share of the images (0 < share ≤ 1)">
                share
                <input
                  type="number"
                  min={0.01}
                  max={1}
                  step={0.01}
                  value={share}
                  onChange={(e) => setShare(e.target.value)}
                  data-testid="ab-share"
                />
              </label>
            )}
            <button
              className="btn small-btn"
              disabled={busy || !canRollBack}
              onClick={() => void rollback()}
              data-testid="rollback"
              data-to={rollbackTo ?? ''}
              title={canRollBack ? `Put v${rollbackTo} back in production` : 'No earlier production version'}
            >
              Roll back
            </button>
            {head && (
              <>
                <button className="btn small-btn" disabled={busy || shadow === null} onClick={() => void stopShadow()} data-testid="stop-shadow">
                  Stop shadow
                </button>
                <button className="btn small-btn" disabled={busy || !ab} onClick={() => void stopAb()} data-testid="stop-ab">
                  Stop A/B
                </button>
              </>
            )}
            {busy && <Spinner />}
          </div>
        )}
      </div>
      {outcome.notice && (
        <div className="notice ok small" data-testid="model-notice" role="status">
          {outcome.notice}
        </div>
      )}
      <ErrorList errors={outcome.errors} testId="model-error" />
      <div className="model-body">
        <div className="versions">
          <table className="table compact-table versions-table" data-testid="versions">
            <thead>
              <tr>
                <th>#</th>
                <th>Label</th>
                <th>Registered</th>
                <th>sha256</th>
                <th className="num">Size</th>
                <th>Aliases</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {[...model.versions].reverse().map((ver) => {
                const isProd = ver.version === production;
                const isShadow = hasAlias(ver, SHADOW);
                const archived = hasAlias(ver, ARCHIVED);
                const isCandidate = ab?.candidate === ver.label;
                return [
                  <tr
                    key={ver.version}
                    className={`version-row${isProd ? ' production' : ''}${archived ? ' archived' : ''}`}
                    data-testid="version-row"
                    data-version={ver.version}
                    data-label={ver.label}
                    data-production={isProd ? 'true' : 'false'}
                    data-aliases={ver.aliases.join(' ')}
                  >
                    <td>
                      <strong>v{ver.version}</strong>
                    </td>
                    <td>
                      <code>{ver.label}</code>
                    </td>
                    <td className="small" title={ver.registeredAt}>
                      {dateTime(ver.registeredAt)} <span className="muted">by {ver.registeredBy}</span>
                    </td>
                    <td>
                      <code title={ver.sha256}>{shortSha(ver.sha256)}</code>
                    </td>
                    <td className="num">{bytes(ver.sizeBytes)}</td>
                    <td className="aliases">
                      {ver.aliases.map((a) => (
                        <AliasBadge key={a} alias={a} />
                      ))}
                      {isCandidate && <span className="badge alias alias-candidate">A/B {ab?.share !== null ? pct(ab?.share, 0) : ''}</span>}
                    </td>
                    <td className="version-actions">
                      {control && (
                        <>
                          <button
                            className="btn small-btn primary"
                            disabled={busy || isProd}
                            onClick={() => void promote(ver.version)}
                            data-testid="promote"
                            title={isProd ? 'Already in production' : `Put v${ver.version} in production`}
                          >
                            Promote
                          </button>
                          {head && (
                            <>
                              <button
                                className="btn small-btn"
                                disabled={busy || isProd || isShadow}
                                onClick={() => void makeShadow(ver.version)}
                                data-testid="make-shadow"
                                title="Score every image beside production, never the answer"
                              >
                                Shadow
                              </button>
                              <button
                                className="btn small-btn"
                                disabled={busy || isProd}
                                onClick={() => void startAb(ver.version)}
                                data-testid="start-ab"
                                title={`Answer ${share} of the images with v${ver.version}`}
                              >
                                A/B
                              </button>
                            </>
                          )}
                          <button
                            className="btn small-btn danger"
                            disabled={busy || isProd || archived}
                            onClick={() => void archive(ver.version)}
                            data-testid="archive"
                            title={isProd ? 'The production version cannot be archived' : 'Take it out of service'}
                          >
                            Archive
                          </button>
                        </>
                      )}
                      <button
                        className="btn small-btn ghost"
                        onClick={() => setOpen((o) => (o === ver.version ? null : ver.version))}
                        aria-expanded={open === ver.version}
                        title="Shapes, checksum, metrics, card, lineage"
                        data-testid="version-more"
                      >
                        {open === ver.version ? '▴' : '▾'}
                      </button>
                    </td>
                  </tr>,
                  open === ver.version ? (
                    <tr key={`${ver.version}-details`} className="details-row">
                      <td colSpan={7}>
                        <VersionDetails version={ver} />
                      </td>
                    </tr>
                  ) : null,
                ];
              })}
            </tbody>
          </table>
        </div>
        <HistoryTable history={model.history} />
      </div>
    </section>
  );
}

