// A custom configuration: build settings in code with the same rules the server applies
// (validation, YAML < environment < flags), save them as a YAML file, and start the server on it.
//   node examples/dist/custom-configuration.js my-config.yaml
//   node bin/deepinfer.js serve --config my-config.yaml
import { ConfigError, loadConfig, redactConfig, saveConfig } from '@deepinfer/config';

const file = process.argv[2] ?? 'deepinfer.custom.yaml';
try {
  const { config, sources } = loadConfig({
    flags: { maxNumSeqs: '64', maxNumBatchedTokens: '1024', cpuKvCacheSpaceGib: '0.5', enablePrefixCaching: true, servedModelName: 'my-stories' },
  });
  saveConfig(config, file, 'My DeepInfer configuration');
  console.log(`wrote ${file}:`);
  console.log(redactConfig(config));
  console.log(`max_num_seqs came from: ${sources.maxNumSeqs.kind}`);
} catch (err) {
  // Every invalid setting at once, with its value, source and what is allowed.
  if (err instanceof ConfigError) console.error(err.message);
  process.exitCode = 2;
}
