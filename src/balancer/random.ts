/**
 * sfc32, a small fast counting PRNG (Chris Doty-Humphrey's PractRand suite): seeded, so the simulator
 * replays exactly; the broker seeds it from crypto. Returns a function to keep call sites closure-free.
 * The state lives in an Int32Array: 32-bit values kept in closure variables do not fit V8's small
 * integers, so every call would box new heap numbers.
 */
export function createRandom(seed: number): () => number {
  const s = new Int32Array(4);
  s[0] = 0x9e3779b9;
  s[1] = 0x243f6a88;
  s[2] = 0xb7e15162;
  s[3] = seed;
  const next = (): number => {
    const a = s[0];
    const b = s[1];
    const c = s[2];
    const d = s[3];
    const t = (((a + b) | 0) + d) | 0;
    s[3] = (d + 1) | 0;
    s[0] = b ^ (b >>> 9);
    s[1] = (c + (c << 3)) | 0;
    s[2] = (((c << 21) | (c >>> 11)) + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next();
  return next;
}
