import type { SharedArena, Tensor } from '@attnflow/tensor';

/**
 * Builds a model so that it owns everything its load leaves in the arena: the checkpoint's tensors and the ones
 * made from them (packed panels, fused and quantized weights, copies). `build` receives the array the model keeps
 * and frees on dispose(); it is filled once `build` returns. A load that throws frees what it made.
 */
export function loadOwned<T>(arena: SharedArena, build: (owned: Tensor[]) => T): T {
  const owned: Tensor[] = [];
  const { value, tensors } = arena.collect(() => build(owned));
  owned.push(...tensors);
  return value;
}
