export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

/** An unknown or malformed component: names the component kind, its type and the file. */
export function unsupported(kind: string, type: unknown, file: string | undefined, supported: readonly string[]): never {
  throw new TokenizerError(
    `${file ?? 'tokenizer.json'}: ${kind} type ${JSON.stringify(type)} is not supported (supported: ${supported.join(', ')})`,
  );
}
