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

/**
 * The engine refused a setting of its configuration (di_engine_config), e.g. a kv_cache_dtype
 * the backend cannot store. `field` is the setting's name, which is also its YAML key.
 */
export class EngineSettingError extends EngineError {
  override readonly name: string = 'EngineSettingError';
  constructor(
    readonly field: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The C API's convention for a refused configuration field (engine.h): the message starts with
 * `config.<field>` followed by ':' or ' '. It is the only structure an error string crossing the
 * C boundary carries, so it is read here, once.
 */
const SETTING_MESSAGE = /^config\.([a-z_]+)[: ]/;

/** Re-throws anything the addon threw or rejected with as an EngineError (same message). */
export function toEngineError(error: unknown): EngineError {
  if (error instanceof EngineError) return error;
  const message = error !== null && typeof error === 'object' && 'message' in error ? String(error.message) : String(error);
  const setting = SETTING_MESSAGE.exec(message);
  if (setting) return new EngineSettingError(setting[1]!, message, { cause: error });
  return new EngineError(message, { cause: error });
}
