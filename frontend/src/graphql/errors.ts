import type { CombinedError } from 'urql';

/** One error as the dashboard shows it: the server's `extensions.code` and its message. */
export interface ApiError {
  code: string;
  message: string;
  extensions?: Record<string, unknown>;
}

export function apiErrors(error: CombinedError | undefined | null): ApiError[] {
  if (!error) return [];
  const out: ApiError[] = error.graphQLErrors.map((e) => ({
    code: typeof e.extensions?.code === 'string' ? e.extensions.code : 'ERROR',
    message: e.message,
    extensions: e.extensions,
  }));
  if (error.networkError) {
    out.push({ code: 'NETWORK_ERROR', message: error.networkError.message });
  }
  if (out.length === 0) out.push({ code: 'ERROR', message: error.message });
  return out;
}
