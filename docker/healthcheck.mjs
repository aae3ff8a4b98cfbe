// The services' container healthcheck (the images' HEALTHCHECK and docker-compose.yml's): GET
// /health on a service's admin port, exit 0 when it answers 200, 1 otherwise. The port is the
// one the service itself resolves (environment, DEEPINFER_CONFIG file, and the settings flags of
// the container's command), so changing a port never leaves a stale probe behind.
// Usage: node docker/healthcheck.mjs [api|tokenizer|scheduler|executor]
// Without a name it checks the service that PID 1 runs: the container's own command,
// `node apps/<service>/dist/main.js [flags]`.
import fs from 'node:fs';
import { loadConfig, parseConfigArgs } from '@deepinfer/config';

const ADMIN_PORT_KEY = { api: 'apiAdminPort', tokenizer: 'tokenizerAdminPort', scheduler: 'schedulerAdminPort', executor: 'executorAdminPort' };
const ENTRY = /(?:^|\/)apps\/([a-z]+)\/dist\/main\.js$/;

/** The service PID 1 runs and its arguments, or undefined (not a container of ours). */
function containerCommand() {
  try {
    const argv = fs.readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean);
    const i = argv.findIndex((a) => ENTRY.test(a));
    return i < 0 ? undefined : { service: ENTRY.exec(argv[i])[1], args: argv.slice(i + 1) };
  } catch {
    return undefined;
  }
}

try {
  const command = containerCommand();
  const service = process.argv[2] ?? command?.service;
  if (!service || !(service in ADMIN_PORT_KEY)) throw new Error(`which service? got ${service ?? 'none'}; pass one of ${Object.keys(ADMIN_PORT_KEY).join(', ')}`);
  const args = parseConfigArgs(command?.service === service ? command.args : []);
  const { config } = loadConfig({ configFile: args.configFile, flags: args.flags });
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${config[ADMIN_PORT_KEY[service]]}/health`;
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  if (!res.ok) process.stderr.write(`${url}: ${res.status} ${await res.text()}\n`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  process.stderr.write(`healthcheck: ${err.message}\n`);
  process.exit(1);
}
