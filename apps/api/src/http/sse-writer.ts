/** The subset of an HTTP response a Server-Sent Events stream needs. */
export interface SseResponse {
  headersSent: boolean;
  writableEnded: boolean;
  setHeader(name: string, value: string): void;
  flushHeaders(): void;
  write(chunk: string): boolean;
  end(): void;
}

/**
 * Writes OpenAI's SSE framing (`data: <json>\n\n`, then `data: [DONE]\n\n`). Headers go out
 * with the first event, so an error before any output can still be a plain JSON error.
 */
export class SseWriter {
  constructor(private readonly res: SseResponse) {}

  get started(): boolean {
    return this.res.headersSent;
  }

  send(event: unknown): void {
    if (this.res.writableEnded) return;
    if (!this.res.headersSent) {
      this.res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      this.res.setHeader('Cache-Control', 'no-cache');
      this.res.setHeader('Connection', 'keep-alive');
      this.res.setHeader('X-Accel-Buffering', 'no');
      this.res.flushHeaders();
    }
    this.res.write(`data: ${JSON.stringify(event)}\n\n`);
  }

  done(): void {
    if (this.res.writableEnded) return;
    this.res.write('data: [DONE]\n\n');
    this.res.end();
  }
}
