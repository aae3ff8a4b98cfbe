import { Routes, type AnyRoute } from './routes.js';

/**
 * The route table as Markdown (name, kind, subject, messages, queue group, what for): the
 * protocol reference in docs/architecture.md "Routes" is this text, and contracts' routes.spec
 * fails when the two differ.
 */
export function routeTableMarkdown(): string {
  const rows = Object.values(Routes).map((route: AnyRoute) => {
    const messages = route.kind === 'request' ? `${route.request.name} → ${route.reply.name}` : route.message.name;
    return `| \`${route.name}\` | ${route.kind} | \`${route.pattern}\` | ${messages} | ${route.queueGroup ? `\`${route.queueGroup}\`` : 'none'} | ${route.doc} |`;
  });
  return ['| name | kind | subject | request → reply (event: message) | queue group | what for |', '|---|---|---|---|---|---|', ...rows].join('\n');
}
