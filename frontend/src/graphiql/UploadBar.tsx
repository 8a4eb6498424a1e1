// The bar above GraphiQL: files to upload with the next operation that declares their variable
// (GraphiQL itself has no file input), and where the Authorization header goes.

import { useId, useRef, useSyncExternalStore, type ChangeEvent } from 'react';
import type { AttachmentStore } from './attachments';
import { pathSegments } from './fetcher';

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function UploadBar({ store }: { store: AttachmentStore }) {
  const { files, path } = useSyncExternalStore(store.subscribe, store.get);
  const input = useRef<HTMLInputElement>(null);
  const pathId = useId();
  const suggestionsId = useId();
  const pathOk = pathSegments(path) !== null;

  function onFiles(event: ChangeEvent<HTMLInputElement>) {
    const chosen = Array.from(event.target.files ?? []);
    // Several files go to a list variable: `file` (uploadImage) becomes `files` (uploadImages).
    const nextPath = chosen.length > 1 && path.trim() === 'file' ? 'files' : path;
    store.set({ files: chosen, path: nextPath });
  }

  function clear() {
    store.set({ files: [] });
    if (input.current) input.current.value = '';
  }

  return (
    <div className="upload-bar" data-testid="upload-bar" data-count={files.length}>
      <span className="upload-bar-title">vision GraphiQL</span>
      <label className="upload-bar-files">
        <span>Upload</span>
        <input
          ref={input}
          type="file"
          multiple
          data-testid="upload-files"
          onChange={onFiles}
          title="Files sent with the next query or mutation that declares the variable below, as a GraphQL multipart request"
        />
      </label>
      <label htmlFor={pathId}>as variable $</label>
      <input
        id={pathId}
        className={pathOk ? 'upload-bar-path' : 'upload-bar-path invalid'}
        data-testid="upload-variable"
        value={path}
        list={suggestionsId}
        spellCheck={false}
        size={10}
        onChange={(e) => store.set({ path: e.target.value })}
        title="The variable the files go to: file (Upload!), files ([Upload!]!, one file per index) or a dotted path such as input.file"
      />
      <datalist id={suggestionsId}>
        <option value="file" />
        <option value="files" />
      </datalist>
      <span className="upload-bar-summary" data-testid="upload-summary">
        {files.length === 0
          ? 'no file attached'
          : `${files.length} file${files.length > 1 ? 's' : ''} attached: ${files.map((f) => `${f.name} (${formatSize(f.size)})`).join(', ')}`}
      </span>
      {files.length > 0 && (
        <button type="button" data-testid="upload-clear" onClick={clear}>
          Clear
        </button>
      )}
      <span
        className="upload-bar-hint"
        data-testid="auth-hint"
        title="The Headers tab's headers go with every request, and as the WebSocket's connection_init payload for subscriptions"
      >
        API key: <code>{'"Authorization": "Bearer <key>"'}</code> in <b>Headers</b> (below)
      </span>
      <a className="upload-bar-link" href="/">
        Dashboard
      </a>
    </div>
  );
}
