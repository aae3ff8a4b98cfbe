/**
 * Typed failures of the tokenizer core. Every error a client can cause carries a stable `code`
 * (snake_case, OpenAI style) so the api can map it to a 400 without parsing messages; load-time
 * errors are operator errors (bad model directory) and stop the service at boot.
 */
export type TokenizerErrorCode =
  | 'tokenizer_load_failed'
  | 'unsupported_decoder'
  | 'chat_template_missing'
  | 'chat_template_not_found'
  | 'invalid_message_role'
  | 'invalid_content'
  | 'template_error'
  | 'empty_prompt'
  | 'context_length_exceeded'
  | 'invalid_stop'
  | 'duplicate_request_id';

export class TokenizerError extends Error {
  constructor(
    readonly code: TokenizerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }

  /**
   * True when the client's request caused it (the api answers 400, as vLLM does for a chat
   * request to a model without a template); false for load-time operator errors.
   */
  get isClientError(): boolean {
    return this.code !== 'tokenizer_load_failed' && this.code !== 'unsupported_decoder';
  }
}

/** The model directory is unreadable or its tokenizer files are malformed. */
export class TokenizerLoadError extends TokenizerError {
  constructor(message: string, code: 'tokenizer_load_failed' | 'unsupported_decoder' = 'tokenizer_load_failed') {
    super(code, message);
  }
}

/** A chat request reached a model that has no chat template, or asked for a template name it lacks. */
export class ChatTemplateNotFoundError extends TokenizerError {
  constructor(
    message: string,
    readonly availableNames: readonly string[],
    code: 'chat_template_missing' | 'chat_template_not_found' = 'chat_template_missing',
  ) {
    super(code, message);
  }
}

export class InvalidMessageRoleError extends TokenizerError {
  constructor(
    readonly messageIndex: number,
    readonly role: unknown,
  ) {
    super(
      'invalid_message_role',
      `messages[${messageIndex}].role must be one of system, user, assistant, tool; got ${JSON.stringify(role)}`,
    );
  }
}

export class InvalidContentError extends TokenizerError {
  constructor(
    readonly messageIndex: number,
    detail: string,
  ) {
    super('invalid_content', `messages[${messageIndex}].content ${detail}`);
  }
}

/**
 * The Jinja template failed to parse or render (including its own `raise_exception(...)`, which
 * templates use to reject conversations they cannot format, e.g. roles that do not alternate).
 */
export class TemplateError extends TokenizerError {
  constructor(readonly templateMessage: string) {
    super('template_error', `chat template error: ${templateMessage}`);
  }
}

export class EmptyPromptError extends TokenizerError {
  constructor() {
    super('empty_prompt', 'the prompt is empty: at least one token is needed to generate from');
  }
}

/** Same wording as OpenAI and vLLM, so clients that parse it keep working. */
export class ContextLengthExceededError extends TokenizerError {
  constructor(
    readonly numPromptTokens: number,
    readonly maxModelLen: number,
    readonly maxTokens?: number,
  ) {
    super(
      'context_length_exceeded',
      maxTokens === undefined
        ? `This model's maximum context length is ${maxModelLen} tokens. However, your prompt has ` +
            `${numPromptTokens} tokens, which leaves no room for a completion. Please reduce the length of the prompt.`
        : `This model's maximum context length is ${maxModelLen} tokens. However, you requested ` +
            `${numPromptTokens + maxTokens} tokens (${numPromptTokens} in the prompt, ${maxTokens} for the completion). ` +
            'Please reduce the length of the prompt or of max_tokens.',
    );
  }
}

export class InvalidStopError extends TokenizerError {
  constructor(detail: string) {
    super('invalid_stop', `stop ${detail}`);
  }
}

/** A stream was opened for a request id that already has one on this instance. */
export class DuplicateStreamError extends TokenizerError {
  constructor(readonly requestId: string) {
    super('duplicate_request_id', `a stream for request ${JSON.stringify(requestId)} is already open; request ids must be unique among live requests`);
  }
}
