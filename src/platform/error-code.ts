// The `code` of a thrown error (Node's system and DNS errors, SQLite's), "" when it has none.
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}
