/** One streamed completion, timed on arrival of each chunk (a minimal SSE client: low overhead). */
export interface StreamTiming {
  ok: boolean;
  status: number;
  ttftMs: number;
  /** Gaps between token-bearing chunks, ms per token. */
  interTokenMs: number[];
  numTokens: number;
  /** From the final usage chunk. */
  numPromptTokens: number;
  totalMs: number;
}

export async function streamCompletion(baseUrl: string, body: Record<string, unknown>): Promise<StreamTiming> {
  const started = performance.now();
  const res = await fetch(`${baseUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  const timing: StreamTiming = { ok: res.ok, status: res.status, ttftMs: NaN, interTokenMs: [], numTokens: 0, numPromptTokens: 0, totalMs: 0 };
  if (!res.ok || !res.body) {
    await res.text().catch(() => undefined);
    timing.totalMs = performance.now() - started;
    return timing;
  }
  const decoder = new TextDecoder();
  let buffer = '';
  let last = 0;
  let streamedTokens = 0;
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const chunk = JSON.parse(event.slice(6)) as { error?: unknown; choices?: { text?: string }[]; usage?: { completion_tokens: number; prompt_tokens: number } };
      if (chunk.error) timing.ok = false;
      if (chunk.usage) {
        timing.numTokens = chunk.usage.completion_tokens;
        timing.numPromptTokens = chunk.usage.prompt_tokens;
      }
      if (chunk.choices?.[0]?.text) {
        const now = performance.now();
        streamedTokens++;
        if (streamedTokens === 1) timing.ttftMs = now - started;
        else timing.interTokenMs.push(now - last);
        last = now;
      }
    }
  }
  timing.totalMs = performance.now() - started;
  return timing;
}
