// The API key the dashboard signs in with, kept in localStorage (same origin: GraphiQL reads it
// too, to pre-fill its headers editor). Never sent anywhere but this origin's `/graphql` and
// `/images/<id>/file`, as `Authorization: Bearer <key>`.

const STORAGE_KEY = 'vision.apiKey';

/** The stored key, or null (none, or storage unavailable). */
export function storedApiKey(): string | null {
  try {
    const key = window.localStorage.getItem(STORAGE_KEY);
    return key && key.trim() ? key.trim() : null;
  } catch {
    return null;
  }
}

/** Stores `key`, or forgets it (null). */
export function storeApiKey(key: string | null): void {
  try {
    if (key) window.localStorage.setItem(STORAGE_KEY, key);
    else window.localStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage unavailable (private mode): the key lasts as long as the page.
  }
}

/** `{ Authorization: 'Bearer <key>' }`, or no header without a key. */
export function authorizationHeader(key: string | null): Record<string, string> {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** The characters of a key the server shows to tell keys apart (`vsk_` and 8 more). */
export function keyPrefix(key: string): string {
  return key.slice(0, 12);
}
