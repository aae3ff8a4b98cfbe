import { createLogger } from '@deepinfer/observability';
import { createDownloadProgress, formatBytes, LogLineProgress, SILENT_PROGRESS, TerminalProgressBar } from './download-progress.js';

const terminal = () => {
  const writes: string[] = [];
  return { writes, stream: { isTTY: true, columns: 120, write: (t: string) => writes.push(t) } };
};

describe('download progress', () => {
  it('draws one bar in place with bytes done / total, the rate and files done, and ends with a newline', () => {
    const { writes, stream } = terminal();
    let nowMs = 0;
    const bar = new TerminalProgressBar(stream, 'org/model', () => nowMs);
    bar.start(4_000_000, 2);
    nowMs = 1000;
    bar.update('a', 1_000_000);
    nowMs = 1050;
    bar.update('a', 1_500_000); // within 100 ms of the last draw: not drawn
    nowMs = 2000;
    bar.fileDone('a', { sizeBytes: 2_000_000, downloadedBytes: 2_000_000, resumedFromBytes: 0, seconds: 2, source: 'downloaded' });
    bar.finish();
    expect(writes).toHaveLength(5); // start, first update, fileDone, the last frame, the newline
    expect(writes[2]).toBe(`\rorg/model  [${'#'.repeat(20)}${'-'.repeat(20)}]  50%  2.00 MB / 4.00 MB  1.00 MB/s  1/2 files\x1b[K`);
    expect(writes[4]).toBe('\n');
  });

  it('logs one line per file without a terminal', () => {
    const lines: string[] = [];
    const progress = new LogLineProgress(createLogger({ name: 't', format: 'text', sink: (l) => lines.push(l) }));
    progress.fileDone('model.safetensors', { sizeBytes: 2_000_000, downloadedBytes: 1_000_000, resumedFromBytes: 1_000_000, seconds: 0.5, source: 'downloaded' });
    progress.fileDone('config.json', { sizeBytes: 10, downloadedBytes: 0, resumedFromBytes: 0, seconds: 0, source: 'cached' });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/model file ready file=model.safetensors sizeBytes=2000000 source=downloaded downloadedBytes=1000000 resumedFromBytes=1000000 seconds=0.5 bytesPerSecond=2000000$/);
    expect(lines[1]).toMatch(/file=config.json sizeBytes=10 source=cached$/);
  });

  it('auto: a bar on a terminal unless HF_HUB_DISABLE_PROGRESS_BARS, else log lines (or nothing without a logger)', () => {
    const logger = createLogger({ name: 't', sink: () => undefined });
    expect(createDownloadProgress({ mode: 'auto', label: 'm', stream: terminal().stream, logger })).toBeInstanceOf(TerminalProgressBar);
    expect(createDownloadProgress({ mode: 'auto', label: 'm', stream: terminal().stream, logger, barsDisabled: true })).toBeInstanceOf(LogLineProgress);
    expect(createDownloadProgress({ mode: 'auto', label: 'm', stream: { write: () => true }, logger })).toBeInstanceOf(LogLineProgress);
    expect(createDownloadProgress({ mode: 'auto', label: 'm', stream: { write: () => true } })).toBe(SILENT_PROGRESS);
  });

  it('formats sizes in decimal units, as the Hub shows them', () => {
    expect([formatBytes(999), formatBytes(1500), formatBytes(16_060_000_000)]).toEqual(['999 B', '1.50 kB', '16.06 GB']);
  });
});
