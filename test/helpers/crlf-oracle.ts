// The line-ending normalisation smarthost used before it streamed DATA, kept verbatim as the oracle
// the streaming CrlfNormalizer is checked against (test/unit/line-endings.test.ts): whole message in,
// every bare CR and bare LF turned into CRLF, a final CRLF added.

const CR = 0x0d;
const LF = 0x0a;
const CRLF = Buffer.from('\r\n');

export function toCrlf(input: Buffer): Buffer {
  const bare = bareLineBreaks(input);
  const endsWell = input.length === 0 || (input.length >= 2 && input[input.length - 2] === CR && input[input.length - 1] === LF);
  if (bare.length === 0 && endsWell) return input;
  const parts: Buffer[] = [];
  let start = 0;
  for (const at of bare) {
    parts.push(input.subarray(start, at), CRLF);
    start = at + 1;
  }
  parts.push(input.subarray(start));
  const out = Buffer.concat(parts);
  const fixed = out.length >= 2 && out[out.length - 2] === CR && out[out.length - 1] === LF;
  return fixed || out.length === 0 ? out : Buffer.concat([out, CRLF]);
}

/** Positions of every CR not followed by LF and every LF not preceded by CR, in order. */
function bareLineBreaks(input: Buffer): number[] {
  const found: number[] = [];
  for (let i = input.indexOf(LF); i >= 0; i = input.indexOf(LF, i + 1)) {
    if (i === 0 || input[i - 1] !== CR) found.push(i);
  }
  const crs: number[] = [];
  for (let i = input.indexOf(CR); i >= 0; i = input.indexOf(CR, i + 1)) {
    if (input[i + 1] !== LF) crs.push(i);
  }
  return crs.length === 0 ? found : [...found, ...crs].sort((a, b) => a - b);
}
