/**
 * A reader of Dockerfiles, enough to know what a stage's container runs: stages (FROM … AS),
 * ARG, ENV, WORKDIR, USER, COPY, CMD, ENTRYPOINT and HEALTHCHECK, with line continuations,
 * comments and `$VAR` / `${VAR}` / `${VAR:-word}` / `${VAR:+word}` substitution where Docker does
 * it (FROM from global ARGs; ENV, ARG, WORKDIR, USER and COPY from the stage's ARGs and ENVs).
 * Other instructions are kept as text. Heredocs and a non-default escape character are refused
 * rather than misread.
 */

export interface DockerInstruction {
  /** Upper-case keyword: FROM, RUN, COPY, … */
  keyword: string;
  /** The rest of the instruction, continuations joined, not substituted. */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
}

export interface DockerCopy {
  /** The stage name (or index, or image) of `--from`; undefined: the build context. */
  from?: string;
  /** Source paths, substituted. */
  sources: string[];
  /** Destination, absolute (resolved against the WORKDIR in force). */
  dest: string;
  /** Whether dest was written as a directory (trailing slash). */
  destIsDir: boolean;
  line: number;
}

export interface DockerHealthcheck {
  /** Exec form, or ['/bin/sh', '-c', text] for the shell form; undefined for HEALTHCHECK NONE. */
  command?: string[];
  /** --interval, --timeout, --start-period, --retries, … as written. */
  options: Record<string, string>;
}

export interface DockerStage {
  index: number;
  name?: string;
  /** The FROM argument, substituted (an image, or the name of an earlier stage). */
  from: string;
  /** The earlier stage this one is built on, when FROM names one. */
  parent?: DockerStage;
  /** The external image at the root of the FROM chain. */
  baseImage: string;
  /** ARGs declared in this stage, with the value in force (build arg or default). */
  args: Record<string, string | undefined>;
  /** ENV in force at the end of the stage: inherited from a parent stage, then its own. */
  env: Record<string, string>;
  /** Names set by this stage's own ENV instructions. */
  ownEnv: string[];
  workdir: string;
  user?: string;
  copies: DockerCopy[];
  cmd?: string[];
  entrypoint?: string[];
  healthcheck?: DockerHealthcheck;
  instructions: DockerInstruction[];
}

export interface Dockerfile {
  /** ARGs before the first FROM, with the value in force. */
  globalArgs: Record<string, string | undefined>;
  stages: DockerStage[];
}

/** Splits the text into instructions: comments dropped, `\` continuations joined. */
export function dockerInstructions(text: string): DockerInstruction[] {
  const lines = text.split(/\r?\n/);
  const out: DockerInstruction[] = [];
  let inDirectives = true;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (inDirectives) {
      const directive = /^#\s*([a-zA-Z]+)\s*=\s*(.*?)\s*$/.exec(raw);
      if (directive) {
        if (directive[1]!.toLowerCase() === 'escape' && directive[2] !== '\\') throw new Error(`line ${i + 1}: only the default escape character is supported`);
        continue;
      }
      inDirectives = false;
    }
    if (/^\s*(#|$)/.test(raw)) continue;
    const start = i + 1;
    let joined = raw;
    while (/\\\s*$/.test(joined) && i + 1 < lines.length) {
      joined = joined.replace(/\\\s*$/, '');
      let next = lines[++i]!;
      while (/^\s*#/.test(next) && i + 1 < lines.length) next = lines[++i]!; // comments inside a continuation
      joined += next;
    }
    const m = /^\s*([A-Za-z]+)\s*(.*?)\s*$/.exec(joined);
    if (!m) throw new Error(`line ${start}: cannot read ${JSON.stringify(raw)}`);
    if (/<<-?["']?[A-Za-z]/.test(m[2]!) && /^(RUN|COPY|ADD)$/i.test(m[1]!)) throw new Error(`line ${start}: heredocs are not supported`);
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: start });
  }
  return out;
}

/**
 * Reads a Dockerfile. `buildArgs` are `--build-arg` values; an ARG without one takes its default.
 */
export function parseDockerfile(text: string, buildArgs: Record<string, string> = {}): Dockerfile {
  const globalArgs: Record<string, string | undefined> = {};
  const stages: DockerStage[] = [];
  let stage: DockerStage | undefined;
  // Variables a stage's instructions see: its declared ARGs, then its ENVs (ENV wins).
  const vars = () => ({ ...stage!.args, ...stage!.env });

  for (const ins of dockerInstructions(text)) {
    const where = `line ${ins.line} (${ins.keyword})`;
    if (ins.keyword === 'ARG') {
      const scope = stage ? stage.args : globalArgs;
      for (const word of shellWords(ins.args, stage ? vars() : globalArgs)) {
        const eq = word.indexOf('=');
        const name = eq < 0 ? word : word.slice(0, eq);
        // A stage's `ARG NAME` without a default takes the global ARG's value.
        const fallback = eq < 0 ? (stage ? globalArgs[name] : undefined) : word.slice(eq + 1);
        scope[name] = buildArgs[name] ?? fallback;
      }
      continue;
    }
    if (ins.keyword === 'FROM') {
      const words = shellWords(ins.args, globalArgs).filter((w) => !w.startsWith('--'));
      const from = words[0];
      if (!from) throw new Error(`${where}: no image`);
      const name = words[1]?.toUpperCase() === 'AS' ? words[2] : undefined;
      const parent = stages.find((s) => s.name === from) ?? (/^\d+$/.test(from) ? stages[Number(from)] : undefined);
      stage = {
        index: stages.length,
        name,
        from,
        parent,
        baseImage: parent?.baseImage ?? from,
        args: {},
        env: { ...parent?.env },
        ownEnv: [],
        workdir: parent?.workdir ?? '/',
        user: parent?.user,
        copies: [],
        cmd: parent?.cmd,
        entrypoint: parent?.entrypoint,
        healthcheck: parent?.healthcheck,
        instructions: [ins],
      };
      stages.push(stage);
      continue;
    }
    if (!stage) throw new Error(`${where}: before the first FROM`);
    stage.instructions.push(ins);
    switch (ins.keyword) {
      case 'ENV': {
        const words = shellWords(ins.args, vars());
        // The legacy form `ENV NAME value with spaces` sets one variable.
        const pairs = words.length > 0 && !words[0]!.includes('=') ? [[words[0]!, words.slice(1).join(' ')]] : words.map((w) => {
          const eq = w.indexOf('=');
          if (eq <= 0) throw new Error(`${where}: expected NAME=value, got ${JSON.stringify(w)}`);
          return [w.slice(0, eq), w.slice(eq + 1)];
        });
        for (const [k, v] of pairs) {
          stage.env[k!] = v!;
          stage.ownEnv.push(k!);
        }
        break;
      }
      case 'WORKDIR':
        stage.workdir = resolvePosix(stage.workdir, shellWords(ins.args, vars()).join(' '));
        break;
      case 'USER':
        stage.user = shellWords(ins.args, vars()).join(' ');
        break;
      case 'COPY':
      case 'ADD': {
        const { flags, rest } = leadingFlags(ins.args);
        const paths = execForm(rest)?.map((p) => expand(p, vars())) ?? shellWords(rest, vars());
        if (paths.length < 2) throw new Error(`${where}: needs a source and a destination`);
        const dest = paths[paths.length - 1]!;
        stage.copies.push({
          from: flags['from'],
          sources: paths.slice(0, -1),
          dest: resolvePosix(stage.workdir, dest),
          destIsDir: dest.endsWith('/') || dest === '.' || paths.length > 2,
          line: ins.line,
        });
        break;
      }
      case 'CMD':
        stage.cmd = commandOf(ins.args);
        break;
      case 'ENTRYPOINT':
        stage.entrypoint = commandOf(ins.args);
        stage.cmd = undefined; // Docker resets an inherited CMD when ENTRYPOINT is set
        break;
      case 'HEALTHCHECK': {
        const { flags, rest } = leadingFlags(ins.args);
        if (/^NONE$/i.test(rest)) stage.healthcheck = { options: flags };
        else {
          const m = /^CMD\s+(.*)$/is.exec(rest);
          if (!m) throw new Error(`${where}: expected CMD or NONE`);
          stage.healthcheck = { command: commandOf(m[1]!), options: flags };
        }
        break;
      }
    }
  }
  if (stages.length === 0) throw new Error('no FROM');
  return { globalArgs, stages };
}

/** The stage a build produces: `target` when given, else the last one. */
export function finalStage(file: Dockerfile, target?: string): DockerStage {
  const stage = target === undefined ? file.stages[file.stages.length - 1] : file.stages.find((s) => s.name === target);
  if (!stage) throw new Error(`no stage ${target}`);
  return stage;
}

/** Every name declared by an ARG anywhere in the file (global or in a stage). */
export function declaredArgs(file: Dockerfile): string[] {
  return [...new Set([...Object.keys(file.globalArgs), ...file.stages.flatMap((s) => Object.keys(s.args))])];
}

function commandOf(text: string): string[] {
  return execForm(text) ?? ['/bin/sh', '-c', text];
}

/** The JSON (exec) form `["a", "b"]`, or undefined when the text is the shell form. */
function execForm(text: string): string[] | undefined {
  if (!text.trimStart().startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `--name=value` / `--flag` options at the start of an instruction, and what follows them. */
function leadingFlags(text: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = text.trim();
  for (let m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest); m; m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest)) {
    flags[m[1]!] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/**
 * Splits on unquoted whitespace, removing quotes and backslash escapes, and substituting
 * variables outside single quotes, as Docker's shell-word processing does.
 */
export function shellWords(text: string, vars: Record<string, string | undefined>): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
      continue;
    }
    if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
      continue;
    }
    if (c === '$') {
      const { value, end } = variableAt(text, i, vars);
      word += value;
      inWord = true;
      i = end - 1;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      else word += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    word += c;
    inWord = true;
  }
  if (quote) throw new Error(`unterminated ${quote} in ${JSON.stringify(text)}`);
  if (inWord) words.push(word);
  return words;
}

/** Substitutes variables in an already split word (exec-form COPY paths). */
function expand(text: string, vars: Record<string, string | undefined>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '$') {
      out += text[i];
      continue;
    }
    const { value, end } = variableAt(text, i, vars);
    out += value;
    i = end - 1;
  }
  return out;
}

/** The value of the `$NAME` / `${NAME…}` starting at `start`, and the index after it. */
function variableAt(text: string, start: number, vars: Record<string, string | undefined>): { value: string; end: number } {
  if (text[start + 1] === '{') {
    const close = text.indexOf('}', start + 2);
    if (close < 0) throw new Error(`unterminated \${ in ${JSON.stringify(text)}`);
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])(.*))?$/s.exec(text.slice(start + 2, close));
    if (!m) throw new Error(`unsupported substitution ${text.slice(start, close + 1)}`);
    const value = vars[m[1]!];
    const set = value !== undefined && value !== '';
    const word = m[3] === undefined ? '' : expand(m[3], vars);
    return { value: m[2] === '-' ? (set ? value : word) : m[2] === '+' ? (set ? word : '') : (value ?? ''), end: close + 1 };
  }
  const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(start + 1));
  return m ? { value: vars[m[0]] ?? '', end: start + 1 + m[0].length } : { value: '$', end: start + 1 };
}

function resolvePosix(base: string, p: string): string {
  const parts = (p.startsWith('/') ? p : `${base}/${p}`).split('/');
  const out: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}

/**
 * Where a file of the final image comes from in the build context, following the stage's COPY
 * lines (the last one that covers it wins, as in the image) and, for `COPY --from=<stage>`,
 * that stage's own `COPY . <dir>` of the whole context (its build outputs lie beside the sources
 * there, as they do in a built checkout). `isDirectory` says whether a context path is a folder.
 * Undefined when no COPY puts it there, or it comes from an outside image.
 */
export function contextSourceOf(file: Dockerfile, stage: DockerStage, target: string, isDirectory: (contextPath: string) => boolean): { copy: DockerCopy; contextPath: string } | undefined {
  for (const copy of [...stage.copies].reverse()) {
    const from = copy.from === undefined ? undefined : (file.stages.find((s) => s.name === copy.from) ?? (/^\d+$/.test(copy.from) ? file.stages[Number(copy.from)] : undefined));
    if (copy.from !== undefined && !from) continue; // an outside image (e.g. node's binary)
    for (const source of copy.sources) {
      const sourceInContext = from ? contextPathInStage(file, from, source, isDirectory) : normalizeContextPath(source);
      if (sourceInContext === undefined) continue;
      const isDir = isDirectory(sourceInContext);
      const landing = !isDir && copy.destIsDir ? `${copy.dest}/${sourceInContext.split('/').pop()}` : copy.dest;
      if (target === landing) return { copy, contextPath: sourceInContext };
      const prefix = landing === '/' ? '/' : `${landing}/`;
      if (isDir && target.startsWith(prefix)) return { copy, contextPath: joinContext(sourceInContext, target.slice(prefix.length)) };
    }
  }
  return undefined;
}

/** A stage's absolute path as a context path, through that stage's copies of the context. */
function contextPathInStage(file: Dockerfile, stage: DockerStage, abs: string, isDirectory: (contextPath: string) => boolean): string | undefined {
  return contextSourceOf(file, stage, resolvePosix(stage.workdir, abs), isDirectory)?.contextPath;
}

function normalizeContextPath(p: string): string {
  return resolvePosix('/', p).slice(1) || '.';
}

function joinContext(dir: string, rest: string): string {
  return dir === '.' ? rest : `${dir}/${rest}`;
}
