/**
 * Structured, quiet-by-default logging. One line per event: JSON (for collectors) or a compact
 * text form (for terminals and the launcher's prefixed output). `info` is for lifecycle events
 * (start, ready, model loaded, peer lost); anything per request or per step is `debug`.
 */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;
export type LogFormat = 'json' | 'text';

export interface Logger {
  readonly level: LogLevel;
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  trace(msg: string, fields?: LogFields): void;
  isEnabled(level: LogLevel): boolean;
  /** A logger that adds `fields` to every line (e.g. a component name). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** The service or tool name written on every line. */
  name: string;
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; stderr by default so stdout stays free for a CLI's real output. */
  sink?: (line: string) => void;
  /** Clock for timestamps (tests). */
  now?: () => Date;
}

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

export function createLogger(options: LoggerOptions): Logger {
  const format = options.format ?? defaultFormat();
  const sink = options.sink ?? ((line: string) => process.stderr.write(line + '\n'));
  return new LineLogger(options.name, options.level ?? 'info', format, sink, options.now ?? (() => new Date()), {});
}

function defaultFormat(): LogFormat {
  return process.env['DEEPINFER_LOG_FORMAT'] === 'json' ? 'json' : 'text';
}

class LineLogger implements Logger {
  constructor(
    private readonly name: string,
    readonly level: LogLevel,
    private readonly format: LogFormat,
    private readonly sink: (line: string) => void,
    private readonly now: () => Date,
    private readonly bound: LogFields,
  ) {}

  isEnabled(level: LogLevel): boolean {
    return RANK[level] <= RANK[this.level];
  }

  error(msg: string, fields?: LogFields): void { this.write('error', msg, fields); }
  warn(msg: string, fields?: LogFields): void { this.write('warn', msg, fields); }
  info(msg: string, fields?: LogFields): void { this.write('info', msg, fields); }
  debug(msg: string, fields?: LogFields): void { this.write('debug', msg, fields); }
  trace(msg: string, fields?: LogFields): void { this.write('trace', msg, fields); }

  child(fields: LogFields): Logger {
    return new LineLogger(this.name, this.level, this.format, this.sink, this.now, { ...this.bound, ...fields });
  }

  private write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.isEnabled(level)) return;
    const all = fields ? { ...this.bound, ...fields } : this.bound;
    this.sink(this.format === 'json' ? this.json(level, msg, all) : this.text(level, msg, all));
  }

  private json(level: LogLevel, msg: string, fields: LogFields): string {
    return safeStringify({ time: this.now().toISOString(), level, name: this.name, msg, ...fields });
  }

  private text(level: LogLevel, msg: string, fields: LogFields): string {
    const kv = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : safeStringify(v)}`)
      .join(' ');
    const time = this.now().toISOString().slice(11, 23);
    return `${time} ${level.toUpperCase().padEnd(5)} [${this.name}] ${msg}${kv ? ' ' + kv : ''}`;
  }
}

function safeStringify(value: unknown): string {
  const seen = new WeakSet<object>();
  try {
    const json = JSON.stringify(value, (_k, v: unknown) => {
      if (v instanceof Error) return { message: v.message, stack: v.stack };
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return '[circular]';
        seen.add(v);
      }
      return v;
    });
    return json ?? 'undefined';
  } catch {
    return '"[unserialisable]"';
  }
}
