import type { KernelRegistry } from '@attnflow/kernels';

export const kernels: KernelRegistry;
