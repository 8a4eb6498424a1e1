// A stored image's file (`/images/<id>/file`) for an <img>. Without an API key (open mode) the
// plain URL; with one, an <img> cannot send the key, so the file is fetched with
// `Authorization: Bearer <key>` into an object URL, revoked when the image (or the key) changes
// or the component unmounts.

import { useEffect, useState } from 'react';
import { useApiKey } from '../auth/session';
import { authorizationHeader } from '../auth/storage';

export function imageFileUrl(id: string): string {
  return `/images/${encodeURIComponent(id)}/file`;
}

export interface ImageFile {
  /** What goes in `src`: undefined while it loads (or without an id). */
  url: string | undefined;
  /** The file could not be fetched (gone, refused, network). */
  failed: boolean;
}

interface Loaded {
  /** The request this is the answer to: key and id. */
  request: string;
  url: string | undefined;
  failed: boolean;
}

export function useImageFile(id: string | undefined): ImageFile {
  const key = useApiKey();
  const request = key && id ? `${key}\n${id}` : null;
  const [loaded, setLoaded] = useState<Loaded | null>(null);

  useEffect(() => {
    if (!key || !id) return;
    const request = `${key}\n${id}`;
    const abort = new AbortController();
    let objectUrl: string | null = null;
    void (async () => {
      try {
        const response = await fetch(imageFileUrl(id), { headers: authorizationHeader(key), signal: abort.signal });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const blob = await response.blob();
        if (abort.signal.aborted) return;
        objectUrl = URL.createObjectURL(blob);
        setLoaded({ request, url: objectUrl, failed: false });
      } catch {
        if (!abort.signal.aborted) setLoaded({ request, url: undefined, failed: true });
      }
    })();
    return () => {
      abort.abort();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [key, id]);

  if (!id) return { url: undefined, failed: false };
  if (!request) return { url: imageFileUrl(id), failed: false };
  // An answer about another image (or key) is not this one's.
  return loaded?.request === request ? { url: loaded.url, failed: loaded.failed } : { url: undefined, failed: false };
}
