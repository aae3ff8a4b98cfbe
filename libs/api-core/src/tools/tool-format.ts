/**
 * How a model writes tool calls in its text (the format its chat template teaches it):
 * - `llama3_json`: Llama 3.1/3.2/3.3 — the whole message is `{"name": …, "parameters": {…}}`
 *   (possibly after `<|python_tag|>`, which skip_special_tokens removes), ended by
 *   `<|eot_id|>` / `<|eom_id|>`; several calls may be separated by `;` (vLLM's llama3_json).
 * - `hermes`: Hermes 2 Pro, Qwen 2.5, Qwen 3 — any text, and each call as
 *   `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`, possibly several.
 */
export type ToolCallFormat = 'llama3_json' | 'hermes';

export const TOOL_CALL_FORMATS: readonly ToolCallFormat[] = ['llama3_json', 'hermes'];

/**
 * The format a chat template teaches, read from the template's own text (what `tool_call_parser:
 * auto` uses): Hermes/Qwen templates spell out `<tool_call>`; Llama 3.1's asks for
 * `{"name": function name, "parameters": …}` under `Environment: ipython`. undefined: the template
 * shows no tool-call format (it may not render tools at all).
 */
export function detectToolCallFormat(template: string | null | undefined): ToolCallFormat | undefined {
  if (!template) return undefined;
  if (template.includes('<tool_call>')) return 'hermes';
  if (template.includes('"parameters"') && (template.includes('<|python_tag|>') || template.includes('ipython'))) return 'llama3_json';
  return undefined;
}
