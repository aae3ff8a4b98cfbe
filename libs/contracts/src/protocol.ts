/**
 * Wire protocol: every message is UTF-8 JSON. Requests carry the protocol version in the
 * `deepinfer-protocol` header; replies are always an envelope, so that a caller can tell a
 * handler's error from a transport failure and never has to guess at the shape.
 */
export const PROTOCOL_VERSION = 1 as const;
export const PROTOCOL_HEADER = 'deepinfer-protocol' as const;

/**
 * Error codes that travel in replies. The api maps them to HTTP statuses; keep the set small
 * and say in each one's comment what the caller should do.
 */
export const ErrorCodes = {
  /** The message did not parse or did not validate: the sender must fix it (HTTP 400). */
  badRequest: 'bad_request',
  /** The sender speaks another protocol version (HTTP 500: a deployment mismatch). */
  protocolMismatch: 'protocol_mismatch',
  /** A named thing (model, request id, route) does not exist (HTTP 404). */
  notFound: 'not_found',
  /** The prompt plus max tokens does not fit the model's context (HTTP 400). */
  contextLengthExceeded: 'context_length_exceeded',
  /** Admission refused for now (queue full, draining): retry later (HTTP 429). */
  overloaded: 'overloaded',
  /** A service needed for the request is not there or not answering (HTTP 503). */
  unavailable: 'unavailable',
  /** A bug or an unexpected failure in the handler (HTTP 500). */
  internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** The offending field, when there is one (OpenAI's `param`). */
  param?: string;
}

/** A reply envelope. Handlers return `data`; the transport wraps it. */
export type Reply<T> = { ok: true; data: T } | { ok: false; error: ErrorBody };

/** An error with a wire code, thrown by handlers and by callers of `request`. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }

  toBody(): ErrorBody {
    return this.param === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, param: this.param };
  }
}
