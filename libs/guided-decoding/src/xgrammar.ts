import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * Loads @mlc-ai/web-xgrammar (xgrammar compiled to WebAssembly, pinned at 0.1.27) in Node.
 *
 * The package declares `"type": "module"` but ships a UMD bundle whose Emscripten glue, when it
 * sees Node, calls `require` and reads `__filename`, neither of which exists in an ES module;
 * and its factory, run with `this === undefined`, puts the exports on `globalThis.xgrammar`
 * instead of `export`ing them. The WebAssembly binary is inlined (base64), so nothing is fetched.
 * We therefore give the bundle the two CommonJS globals it expects, import it once, and read its
 * exports from `globalThis.xgrammar`.
 *
 * Errors: a bad grammar makes the C++ code print `[FATAL] … message` to stderr and abort, which
 * surfaces as an exception `Aborted()`; `withCapturedAbort` recovers the message.
 */

export interface XgTokenizerInfo {
  getVocabSize(): number;
  dispose(): void;
}
export interface XgGrammar {
  dispose(): void;
}
export interface XgCompiledGrammar {
  dispose(): void;
}
export interface XgGrammarCompiler {
  compileJSONSchema(schema: string, anyWhitespace?: boolean, indent?: number, separators?: [string, string], strictMode?: boolean, maxWhitespaceCnt?: number): Promise<XgCompiledGrammar>;
  compileBuiltinJSONGrammar(): Promise<XgCompiledGrammar>;
  compileStructuralTag(tag: unknown): Promise<XgCompiledGrammar>;
  dispose(): void;
}
export interface XgGrammarMatcher {
  acceptToken(tokenId: number, verbose?: boolean): boolean;
  getNextTokenBitmask(): Promise<Int32Array>;
  isTerminated(): boolean;
  dispose(): void;
}
export interface XGrammar {
  Grammar: {
    fromJSONSchema(schema: string, anyWhitespace?: boolean, indent?: number, separators?: [string, string], strictMode?: boolean, maxWhitespaceCnt?: number): Promise<XgGrammar>;
    fromStructuralTag(tag: unknown): Promise<XgGrammar>;
    builtinJSONGrammar(): Promise<XgGrammar>;
  };
  TokenizerInfo: {
    createTokenizerInfo(encodedVocab: string[], vocabType?: string, prependSpaceInTokenization?: boolean, vocabSize?: number, stopTokenIds?: number[] | number): Promise<XgTokenizerInfo>;
  };
  GrammarCompiler: {
    createGrammarCompiler(tokenizerInfo: XgTokenizerInfo, cacheEnabled?: boolean): Promise<XgGrammarCompiler>;
  };
  GrammarMatcher: {
    createGrammarMatcher(compiled: XgCompiledGrammar, overrideStopTokens?: number[] | number, terminateWithoutStopToken?: boolean, maxRollbackTokens?: number): Promise<XgGrammarMatcher>;
  };
  Testings: {
    isGrammarAcceptString(grammar: XgGrammar, input: string, debugPrint?: boolean): Promise<boolean>;
    /** xgrammar's JSON-schema converter (the EBNF compileJSONSchema compiles); its name says "for tests", its output is the real one. */
    _jsonSchemaToEBNF(schema: string, anyWhitespace?: boolean, indent?: number, separators?: [string, string], strictMode?: boolean): Promise<string>;
  };
}

let loading: Promise<XGrammar> | undefined;
/** Where the runtime's stderr lines go while withCapturedAbort runs (else: console.error). */
let capture: string[] | undefined;

/** The xgrammar module (one instance per process, loaded on first use: ~0.1 s). */
export function loadXGrammar(): Promise<XGrammar> {
  loading ??= (async () => {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('@mlc-ai/web-xgrammar');
    const g = globalThis as Record<string, unknown>;
    const saved = { require: g['require'], __filename: g['__filename'], __dirname: g['__dirname'] };
    const consoleError = console.error;
    g['require'] = createRequire(entry);
    g['__filename'] = entry;
    g['__dirname'] = path.dirname(entry);
    // The runtime binds console.error as its stderr when it starts: give it one that can be
    // redirected (withCapturedAbort), and otherwise forwards to the console of the moment.
    console.error = (...args: unknown[]) => {
      if (capture) capture.push(args.map(String).join(' '));
      else if (console.error === forward) consoleError(...args);
      else console.error(...args);
    };
    const forward = console.error;
    try {
      await import(entry);
      // The Emscripten runtime starts on the first call and reads `require`, `__filename` and
      // console.error then: start it while they are ours.
      const xg = g['xgrammar'] as XGrammar | undefined;
      if (xg?.Grammar) (await xg.Grammar.builtinJSONGrammar()).dispose();
    } finally {
      console.error = consoleError;
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete g[k];
        else g[k] = v;
      }
    }
    const xg = g['xgrammar'] as XGrammar | undefined;
    if (!xg?.GrammarCompiler) throw new Error('@mlc-ai/web-xgrammar did not load (globalThis.xgrammar is missing)');
    return xg;
  })();
  return loading;
}

/**
 * Runs `fn` (synchronous work inside xgrammar behind a promise), turning xgrammar's abort into an
 * Error carrying the `[FATAL]` message it printed (otherwise only "Aborted()"). Lines printed
 * during the call are not forwarded: warnings concern schema features the api refuses anyway.
 */
export async function withCapturedAbort<T>(fn: () => Promise<T>): Promise<T> {
  await loadXGrammar();
  const lines: string[] = [];
  capture = lines;
  try {
    return await fn();
  } catch (err) {
    const fatal = lines.map((l) => /\[FATAL\][^:]*:\d+: (.*)/.exec(l)?.[1]).find((m) => m !== undefined);
    throw new Error(fatal ?? (err instanceof Error ? err.message : String(err)), { cause: err });
  } finally {
    capture = undefined;
  }
}
