import type { ServiceName } from '@deepinfer/contracts';

/**
 * The order the launcher starts services in: the executor first because loading the model is
 * the slowest step; every service tolerates its peers arriving later.
 */
export const SERVICE_NAMES_IN_START_ORDER: readonly ServiceName[] = ['executor', 'scheduler', 'tokenizer', 'api'];
