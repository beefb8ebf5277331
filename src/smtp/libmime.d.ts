// Types for the one libmime function smarthost uses (libmime ships no types): decoding RFC 2047
// encoded-words in a header value. Pinned to the libmime version in package.json.
declare module 'libmime' {
  const libmime: { decodeWords(value: string): string };
  export default libmime;
}
