/**
 * Preloaded into the soak's proxies (`node --expose-gc --import gc-on-signal.js ...`): SIGUSR2 runs a full
 * garbage collection, so memory is read after one in both proxies alike, not at a random point of the
 * heap's growth.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (gc !== undefined) process.on('SIGUSR2', () => gc());
