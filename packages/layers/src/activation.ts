import { Activation } from '@attnflow/kernels';

/** Hugging Face `hidden_act` / `activation_function` names. */
export function activationFromName(name: string, field = 'hidden_act'): Activation {
  switch (name) {
    case 'gelu':
    case 'gelu_python':
      return Activation.gelu;
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast':
      return Activation.geluTanh;
    case 'silu':
    case 'swish':
      return Activation.silu;
    case 'relu':
      return Activation.relu;
    case 'tanh':
      return Activation.tanh;
    default:
      throw new Error(`${field}: activation "${name}" is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, silu, swish, relu, tanh)`);
  }
}
