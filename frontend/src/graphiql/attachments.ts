// The files attached in GraphiQL's upload bar, and the variable they go to: a tiny store outside
// React, read by the fetcher when an operation runs and by the bar through useSyncExternalStore.

export interface Attachments {
  /** The chosen files, in order. */
  files: readonly File[];
  /** Where they go: a variable (`file`, `files`) or a dotted path under one (`input.file`). */
  path: string;
}

type Listener = () => void;

// Function properties (not methods): `useSyncExternalStore(store.subscribe, store.get)` takes
// them unbound.
export interface AttachmentStore {
  get: () => Attachments;
  set: (next: Partial<Attachments>) => void;
  subscribe: (listener: Listener) => () => void;
}

export function createAttachmentStore(initial: Attachments = { files: [], path: 'file' }): AttachmentStore {
  let state = initial;
  const listeners = new Set<Listener>();
  return {
    get: () => state,
    set: (next) => {
      state = { ...state, ...next };
      listeners.forEach((l) => l());
    },
    subscribe: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}
