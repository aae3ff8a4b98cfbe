import { ConfigError } from './config-error.js';

/** The variable the launcher sets per replica (docs/configuration.md, variables that are not settings). */
export const REPLICA_ID_ENV_VAR = 'DEEPINFER_REPLICA_ID';
/** Letters, digits, `_` and `-`: a replica id is a NATS subject token (contracts' REPLICA_ID_PATTERN). */
const PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The replica (scheduler + executor pair) this process belongs to: DEEPINFER_REPLICA_ID, else
 * `r0` (one replica). The scheduler and the executor of a pair must be given the same id; two
 * pairs on one NATS, different ids. An id that is no NATS token is a configuration error (exit 2).
 */
export function replicaIdFrom(env: NodeJS.ProcessEnv = process.env): string {
  const value = env[REPLICA_ID_ENV_VAR];
  if (value === undefined || value === '') return 'r0';
  if (!PATTERN.test(value)) {
    throw new ConfigError([{ field: REPLICA_ID_ENV_VAR, value, source: `environment variable ${REPLICA_ID_ENV_VAR}`, allowed: '1 to 64 letters, digits, _ or -' }]);
  }
  return value;
}
