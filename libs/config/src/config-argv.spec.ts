import { ConfigError } from './config-error.js';
import { parseConfigArgs } from './config-argv.js';
import { loadConfig } from './config-loader.js';

describe('parseConfigArgs', () => {
  it('reads spaced, inline and boolean flags, and --config', () => {
    const parsed = parseConfigArgs(['--config', 'x.yaml', '--max-num-seqs', '8', '--port=9000', '--enable-prefix-caching', '--no-enable-chunked-prefill', '--model', 'm']);
    expect(parsed).toEqual({ configFile: 'x.yaml', flags: { maxNumSeqs: '8', port: '9000', enablePrefixCaching: true, enableChunkedPrefill: false, model: 'm' } });
  });

  it('takes an explicit boolean value', () => {
    expect(parseConfigArgs(['--enable-prefix-caching', 'false']).flags).toEqual({ enablePrefixCaching: 'false' });
    expect(loadConfig({ env: {}, flags: parseConfigArgs(['--enable-prefix-caching', 'false']).flags }).config.enablePrefixCaching).toBe(false);
  });

  it('refuses unknown flags, all of them', () => {
    expect(() => parseConfigArgs(['--max-num-seq', '8', '--bogus'])).toThrow(ConfigError);
    try {
      parseConfigArgs(['--max-num-seq', '8', '--bogus']);
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.field)).toEqual(['--max-num-seq', '8', '--bogus']);
    }
  });
});
