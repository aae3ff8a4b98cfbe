/**
 * An error of the engine or of its inputs, with the engine's own message. Errors thrown by the
 * addon are re-thrown as this class: an addon's Error comes from the realm the addon was loaded
 * in, so `instanceof Error` checks in another realm (jest's, a vm context) would fail on it.
 */
export class EngineError extends Error {
  override readonly name: string = 'EngineError';
}

/** The addon file is missing: the message says how to build it. */
export class EngineNotBuiltError extends EngineError {
  override readonly name: string = 'EngineNotBuiltError';
}

/** Re-throws anything the addon threw or rejected with as an EngineError (same message). */
export function toEngineError(error: unknown): EngineError {
  if (error instanceof EngineError) return error;
  const message = error !== null && typeof error === 'object' && 'message' in error ? String(error.message) : String(error);
  return new EngineError(message, { cause: error });
}
