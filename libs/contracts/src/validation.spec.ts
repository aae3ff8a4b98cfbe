import { HealthReply } from './messages/health.contract.js';
import { StatsReply } from './messages/stats.contract.js';
import { ErrorCodes, ProtocolError } from './protocol.js';
import { decodeMessage } from './validation.js';

const bytes = (s: string) => new TextEncoder().encode(s);

function decodeError(data: Uint8Array): ProtocolError {
  try {
    decodeMessage(HealthReply, data);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error('expected decodeMessage to throw');
}

describe('decodeMessage', () => {
  const valid = { service: 'api', instanceId: 'a1', status: 'ok', uptimeSeconds: 3, version: '0.1.0' };

  it('returns a valid message, its unknown fields stripped', () => {
    const msg = decodeMessage(HealthReply, bytes(JSON.stringify({ ...valid, extra: 1, details: { kept: { deep: 1 } } })));
    expect(msg).toEqual({ ...valid, details: { kept: { deep: 1 } } });
    expect((msg as unknown as Record<string, unknown>)['extra']).toBeUndefined();
  });

  it('takes null for an absent optional field (as class-validator did)', () => {
    expect(decodeMessage(HealthReply, bytes(JSON.stringify({ ...valid, details: null }))).service).toBe('api');
  });

  it.each([
    ['not JSON', bytes('{nope')],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
    ['a JSON array', bytes('[1,2]')],
    ['JSON null', bytes('null')],
    ['a JSON string', bytes('"hi"')],
    ['random bytes', new Uint8Array(Array.from({ length: 64 }, (_, i) => (i * 37) % 256))],
  ])('rejects %s with bad_request', (_label, data) => {
    expect(decodeError(data).code).toBe(ErrorCodes.badRequest);
  });

  it('names every invalid field at once, with its value', () => {
    const err = decodeError(bytes(JSON.stringify({ service: 'nope', status: 'ok', uptimeSeconds: 'x', version: '1' })));
    expect(err.code).toBe(ErrorCodes.badRequest);
    expect(err.message).toContain('invalid HealthReply');
    expect(err.message).toContain('service ("nope"): must be one of api, tokenizer, scheduler, executor');
    expect(err.message).toContain('instanceId (missing): expected required property');
    expect(err.message).toContain('uptimeSeconds ("x"): expected number');
    // The first field TypeBox reports (required ones come first).
    expect(err.param).toBe('instanceId');
  });
});

describe('StatsReply', () => {
  it('takes a service, an instance and an object snapshot, kept whole', () => {
    const msg = decodeMessage(StatsReply, bytes(JSON.stringify({ service: 'scheduler', instanceId: 's1', stats: { numStepsTotal: 3, nested: { a: [1] } } })));
    expect(msg.stats).toEqual({ numStepsTotal: 3, nested: { a: [1] } });
  });

  it.each([
    ['an unknown service', { service: 'db', instanceId: 's1', stats: {} }, 'service'],
    ['no instance id', { service: 'executor', stats: {} }, 'instanceId'],
    ['a snapshot that is not an object', { service: 'executor', instanceId: 'e1', stats: 'x' }, 'stats'],
  ])('refuses %s', (_label, body, param) => {
    try {
      decodeMessage(StatsReply, bytes(JSON.stringify(body)));
      throw new Error('expected a refusal');
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).param).toBe(param);
    }
  });
});
