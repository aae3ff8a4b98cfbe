import type { Logger } from '@deepinfer/observability';

/** One file's outcome, for the per-file log line. */
export interface FileDownloadStats {
  readonly sizeBytes: number;
  /** Bytes transferred by this process (less than sizeBytes after a resume; 0 when already cached or fetched by another process). */
  readonly downloadedBytes: number;
  /** Bytes already on disk when this process started on the file (a resumed .incomplete). */
  readonly resumedFromBytes: number;
  readonly seconds: number;
  /** How the blob arrived: fetched here, already in the cache, or written by another process we waited for. */
  readonly source: 'downloaded' | 'cached' | 'other-process';
}

/**
 * What a model download reports. The model is one unit: the total size of every file, and for
 * each file the bytes it has on disk (absolute, so a resumed file or one another process is
 * writing counts what is already there).
 */
export interface DownloadProgress {
  start(totalBytes: number, numFiles: number): void;
  update(file: string, doneBytes: number): void;
  fileDone(file: string, stats: FileDownloadStats): void;
  finish(): void;
}

/** A stream a bar can be drawn on: a TTY has isTTY and columns. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** `auto`: a bar when the stream is a terminal (and HF_HUB_DISABLE_PROGRESS_BARS is unset), else log lines. */
export type DownloadProgressMode = 'auto' | 'bar' | 'log' | 'none';

export function createDownloadProgress(options: { mode: DownloadProgressMode; label: string; stream: ProgressStream; logger?: Logger; barsDisabled?: boolean }): DownloadProgress {
  const mode = options.mode === 'auto' ? (options.stream.isTTY && !options.barsDisabled ? 'bar' : 'log') : options.mode;
  if (mode === 'bar') return new TerminalProgressBar(options.stream, options.label);
  if (mode === 'log' && options.logger) return new LogLineProgress(options.logger.child({ model: options.label }));
  return SILENT_PROGRESS;
}

export const SILENT_PROGRESS: DownloadProgress = { start() {}, update() {}, fileDone() {}, finish() {} };

/** One structured line per file, for logs that are collected rather than watched. */
export class LogLineProgress implements DownloadProgress {
  constructor(private readonly logger: Logger) {}

  start(): void {}
  update(): void {}

  fileDone(file: string, stats: FileDownloadStats): void {
    this.logger.info('model file ready', {
      file,
      sizeBytes: stats.sizeBytes,
      source: stats.source,
      ...(stats.source === 'downloaded'
        ? { downloadedBytes: stats.downloadedBytes, resumedFromBytes: stats.resumedFromBytes, seconds: round(stats.seconds, 3), bytesPerSecond: Math.round(stats.downloadedBytes / Math.max(stats.seconds, 1e-3)) }
        : {}),
    });
  }

  finish(): void {}
}

/** The rate is measured over this window: long enough to be steady, short enough to follow a change. */
const RATE_WINDOW_MS = 5_000;
/** Redraws at most this often: a terminal needs no more, and a fast link delivers thousands of chunks a second. */
const REDRAW_INTERVAL_MS = 100;

/**
 * `org/name  [#########-----------]  45%  1.20 GB / 2.67 GB  85.3 MB/s  2/7 files`, redrawn in
 * place with a carriage return; the last draw ends with a newline.
 */
export class TerminalProgressBar implements DownloadProgress {
  private totalBytes = 0;
  private numFiles = 0;
  private numFilesDone = 0;
  private readonly doneBytesByFile = new Map<string, number>();
  private doneBytes = 0;
  private samples: { atMs: number; doneBytes: number }[] = [];
  private lastDrawMs = -Infinity;

  constructor(
    private readonly stream: ProgressStream,
    private readonly label: string,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  start(totalBytes: number, numFiles: number): void {
    this.totalBytes = totalBytes;
    this.numFiles = numFiles;
    this.draw(true);
  }

  update(file: string, doneBytes: number): void {
    this.doneBytes += doneBytes - (this.doneBytesByFile.get(file) ?? 0);
    this.doneBytesByFile.set(file, doneBytes);
    this.draw(false);
  }

  fileDone(file: string, stats: FileDownloadStats): void {
    this.numFilesDone++;
    this.update(file, stats.sizeBytes);
  }

  finish(): void {
    this.draw(true);
    this.stream.write('\n');
  }

  private draw(force: boolean): void {
    const now = this.nowMs();
    this.samples.push({ atMs: now, doneBytes: this.doneBytes });
    while (this.samples.length > 2 && now - this.samples[1]!.atMs > RATE_WINDOW_MS) this.samples.shift();
    if (!force && now - this.lastDrawMs < REDRAW_INTERVAL_MS) return;
    this.lastDrawMs = now;
    const oldest = this.samples[0]!;
    const bytesPerSecond = now > oldest.atMs ? ((this.doneBytes - oldest.doneBytes) * 1000) / (now - oldest.atMs) : 0;
    const fraction = this.totalBytes > 0 ? Math.min(1, this.doneBytes / this.totalBytes) : 1;
    const tail = ` ${String(Math.floor(fraction * 100)).padStart(3)}%  ${formatBytes(this.doneBytes)} / ${formatBytes(this.totalBytes)}  ${formatBytes(bytesPerSecond)}/s  ${this.numFilesDone}/${this.numFiles} files`;
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 100) - this.label.length - tail.length - 6));
    const filled = Math.round(fraction * width);
    this.stream.write(`\r${this.label}  [${'#'.repeat(filled)}${'-'.repeat(width - filled)}]${tail}\x1b[K`);
  }
}

/** Decimal units, as the Hub shows sizes: 1.50 GB is 1.5e9 bytes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(2)} ${units[unit]}`;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
