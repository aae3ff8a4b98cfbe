/** The sampling flags of `deepinfer generate`, validated (commander hands over strings). */
export interface GenerateFlags {
  prompt: string;
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
}

/** A bad flag value; the command prints it and exits 2 like any usage error. */
export class GenerateFlagError extends Error {}

function number(opts: Record<string, unknown>, key: string, flag: string, ok: (n: number) => boolean, allowed: string): number {
  const raw = opts[key];
  const value = typeof raw === 'number' ? raw : Number(String(raw).trim());
  if (String(raw).trim() === '' || !Number.isFinite(value) || !ok(value)) throw new GenerateFlagError(`${flag} = ${JSON.stringify(raw)}: must be ${allowed}`);
  return value;
}

export function parseGenerateFlags(opts: Record<string, unknown>): GenerateFlags {
  return {
    prompt: typeof opts['prompt'] === 'string' ? opts['prompt'] : '',
    maxTokens: number(opts, 'maxTokens', '--max-tokens', (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1'),
    temperature: number(opts, 'temperature', '--temperature', (n) => n >= 0, 'a number >= 0 (0 is greedy)'),
    topP: number(opts, 'topP', '--top-p', (n) => n > 0 && n <= 1, 'a number in (0, 1]'),
    topK: number(opts, 'topK', '--top-k', (n) => Number.isInteger(n) && n >= 0, 'an integer >= 0 (0 is off)'),
  };
}
