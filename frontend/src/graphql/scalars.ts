// TypeScript shapes of the schema's custom scalars that are not plain strings (codegen.ts maps
// `JSON` here; `DateTime` is an RFC 3339 string, `Upload` a File).

/** A JSON scalar (metrics, card, lineage). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
