// Fault injection for the engine's reliability tests, loaded by pool threads through EngineOptions.extensions
// (plain JavaScript: pool threads import it without a TypeScript loader).
import { isMainThread } from 'node:worker_threads';

export const kernels = {
  /**
   * The thread that runs it exits if the int32 `flag` is 1, after clearing it, so the re-run of what the dead
   * thread left (by the calling thread) succeeds. Exiting is only done off the main thread.
   */
  exitOnce: {
    tensors: ['flag'],
    attrs: [],
    units: () => 1,
    flopsPerUnit: () => Infinity,
    run: (views) => {
      const flag = views.flag;
      if (Atomics.compareExchange(flag, 0, 1, 0) === 1 && !isMainThread) process.exit(3);
    },
  },
};
