/** One invalid setting: which, what was given, where it came from, and what is allowed. */
export interface ConfigProblem {
  /** The setting's YAML name (e.g. `gpu_memory_utilization`), or the unknown name given. */
  field: string;
  value: unknown;
  /** Where the value came from: a file path, an environment variable or a flag. */
  source: string;
  /** What is allowed, in words. */
  allowed: string;
}

/** Thrown when any setting is invalid; lists all of them, not only the first. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(formatProblems(problems));
    this.name = 'ConfigError';
  }
}

/** Exit status of a process stopped by an invalid configuration. */
export const CONFIG_ERROR_EXIT_CODE = 2;

function formatProblems(problems: readonly ConfigProblem[]): string {
  const lines = problems.map((p) => `  - ${p.field} = ${show(p.value)} (from ${p.source}): ${p.allowed}`);
  return `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`;
}

function show(value: unknown): string {
  if (value === undefined) return '(missing)';
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json;
}
