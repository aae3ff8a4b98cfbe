// Renders /openapi.json (the public API's OpenAPI 3 document) as a browsable page: routes by
// tag, their request schemas as tables, responses. Plain browser JavaScript, nothing fetched
// from anywhere but this server.
(function () {
  'use strict';

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  /** Markdown's `code` spans as <code>. */
  function text(s) {
    const out = el('span');
    String(s || '').split(/(`[^`]*`)/).forEach((part) => out.append(part.startsWith('`') ? el('code', {}, part.slice(1, -1)) : part));
    return out;
  }
  function resolve(doc, schema) {
    if (schema && schema.$ref) return doc.components.schemas[schema.$ref.split('/').pop()];
    return schema;
  }
  function typeOf(s) {
    if (!s) return 'any';
    if (s.oneOf) return s.oneOf.map(typeOf).join(' | ');
    if (s.type === 'array') return (s.items ? typeOf(s.items) : 'any') + '[]';
    if (s.type === 'object' && s.additionalProperties) return 'map of ' + typeOf(s.additionalProperties);
    return s.type || 'any';
  }
  function constraints(s) {
    const parts = [];
    if (!s) return '';
    if (s.minimum !== undefined) parts.push((s.exclusiveMinimum ? '> ' : '≥ ') + s.minimum);
    if (s.maximum !== undefined) parts.push('≤ ' + s.maximum);
    if (s.minItems) parts.push('at least ' + s.minItems + ' item' + (s.minItems > 1 ? 's' : ''));
    if (s.items && (s.items.minimum !== undefined || s.items.maximum !== undefined)) parts.push('items ' + constraints(s.items));
    if (s.enum) parts.push('one of ' + s.enum.join(', '));
    if (s.description) parts.push(s.description);
    return parts.join(', ');
  }
  function schemaTable(doc, schema, name) {
    const s = resolve(doc, schema);
    const required = new Set(s.required || []);
    const rows = Object.entries(s.properties || {}).map(([prop, p]) =>
      el('tr', { 'data-property': prop },
        el('td', {}, el('code', {}, prop), required.has(prop) ? el('span', { class: 'badge degraded' }, 'required') : null),
        el('td', {}, typeOf(p) + (p.properties ? ' {' + Object.keys(p.properties).join(', ') + '}' : '')),
        el('td', { class: 'muted' }, constraints(p))));
    return el('div', {}, el('h3', {}, 'Request body ', el('small', { class: 'muted' }, name)), el('table', { class: 'table', 'data-schema': name }, el('thead', {}, el('tr', {}, el('th', {}, 'field'), el('th', {}, 'type'), el('th', {}, 'constraints'))), el('tbody', {}, ...rows)));
  }

  fetch('/openapi.json').then((r) => r.json()).then((doc) => {
    document.title = doc.info.title + ' API ' + doc.info.version;
    document.getElementById('doc-title').replaceChildren(doc.info.title + ' API ', el('small', { class: 'muted' }, 'v' + doc.info.version + ' · OpenAPI ' + doc.openapi));
    document.getElementById('doc-description').replaceChildren(text(doc.info.description));
    const byTag = new Map();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const tag = (op.tags && op.tags[0]) || 'api';
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push({ path, method, op });
      }
    }
    const root = document.getElementById('doc-routes');
    for (const [tag, routes] of byTag) {
      const section = el('div', { class: 'panel' }, el('h2', {}, tag));
      for (const { path, method, op } of routes) {
        const body = op.requestBody && op.requestBody.content['application/json'];
        const details = el('details', { class: 'route', 'data-route': method.toUpperCase() + ' ' + path },
          el('summary', {}, el('span', { class: 'method ' + method }, method.toUpperCase()), el('code', { class: 'path' }, path), el('span', { class: 'muted' }, ' ', text(op.summary)), op.security ? el('span', { class: 'badge', title: 'Authorization: Bearer <api_key> when the server sets one' }, 'api_key') : null),
          op.description ? el('p', {}, text(op.description)) : null,
          body ? schemaTable(doc, body.schema, body.schema.$ref ? body.schema.$ref.split('/').pop() : '') : null,
          el('h3', {}, 'Responses'),
          el('table', { class: 'table' }, el('tbody', {}, ...Object.entries(op.responses).map(([code, r]) => el('tr', {}, el('td', {}, el('code', {}, code)), el('td', {}, text(r.description)), el('td', { class: 'muted' }, Object.keys(r.content || {}).join(', ')))))));
        section.append(details);
      }
      root.append(section);
    }
  }).catch((err) => {
    document.getElementById('doc-routes').replaceChildren(el('div', { class: 'panel' }, 'Could not load /openapi.json: ' + err.message));
  });
})();
