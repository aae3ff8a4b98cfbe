import { HealthReply } from './messages/health.contract.js';
import { StatsReply } from './messages/stats.contract.js';
import { Subjects } from './subjects.js';
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

  it('returns a typed instance of a valid message and strips unknown fields', () => {
    const msg = decodeMessage(HealthReply, bytes(JSON.stringify({ ...valid, extra: 1 })));
    expect(msg).toBeInstanceOf(HealthReply);
    expect(msg.service).toBe('api');
    expect((msg as unknown as Record<string, unknown>)['extra']).toBeUndefined();
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
    expect(err.message).toContain('service ("nope")');
    expect(err.message).toContain('instanceId (missing)');
    expect(err.message).toContain('uptimeSeconds ("x")');
    expect(err.param).toBe('service');
  });
});

describe('StatsReply', () => {
  it('takes a service, an instance and an object snapshot', () => {
    const msg = decodeMessage(StatsReply, bytes(JSON.stringify({ service: 'scheduler', instanceId: 's1', stats: { numStepsTotal: 3 } })));
    expect(msg.stats).toEqual({ numStepsTotal: 3 });
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

  it('has one subject per service, heard by every instance', () => {
    expect(Subjects.stats('scheduler')).toBe('deepinfer.v1.scheduler.stats');
  });
});
