/** Sums of selected Prometheus series of one service's /metrics, for before/after deltas. */
export async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})? ([^ ]+)/);
    if (!match) continue;
    const [, name, labels, value] = match;
    const key = name + (labels ? labels.replace(/,?service="[^"]*"/, '').replace('{}', '') : '');
    values.set(key, (values.get(key) ?? 0) + Number(value));
  }
  return values;
}

export function delta(before: Map<string, number>, after: Map<string, number>, key: string): number {
  return (after.get(key) ?? 0) - (before.get(key) ?? 0);
}
