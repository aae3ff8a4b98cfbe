import { ErrorCodes, ProtocolError } from '@deepinfer/contracts';
import { InvalidContentError, InvalidMessageRoleError, TokenizerError } from '@deepinfer/tokenizer-core';

/** Which request field the prompt came from: `prompt` (encode) or `messages` (chat). */
export type PromptField = 'prompt' | 'messages';

/**
 * Turns tokenizer-core's typed errors into wire errors the api answers with a 400, keeping the
 * library's messages (they already name the message index, the template's own complaint, or the
 * token counts and the limit). Anything else is rethrown: the bus replies `internal` and logs it.
 */
export function toProtocolError(error: unknown, field: PromptField): ProtocolError {
  if (error instanceof ProtocolError) return error;
  if (!(error instanceof TokenizerError) || !error.isClientError) throw error;
  switch (error.code) {
    case 'context_length_exceeded':
      return new ProtocolError(ErrorCodes.contextLengthExceeded, error.message, field);
    case 'invalid_message_role':
      return new ProtocolError(ErrorCodes.badRequest, error.message, `messages[${(error as InvalidMessageRoleError).messageIndex}].role`);
    case 'invalid_content':
      return new ProtocolError(ErrorCodes.badRequest, error.message, `messages[${(error as InvalidContentError).messageIndex}].content`);
    case 'chat_template_missing':
    case 'chat_template_not_found':
      return new ProtocolError(ErrorCodes.badRequest, error.message, 'chat_template');
    case 'invalid_stop':
      return new ProtocolError(ErrorCodes.badRequest, error.message, 'stop');
    case 'duplicate_request_id':
      return new ProtocolError(ErrorCodes.badRequest, error.message, 'streams');
    case 'template_error':
      return new ProtocolError(ErrorCodes.badRequest, error.message, 'messages');
    default:
      return new ProtocolError(ErrorCodes.badRequest, error.message, field);
  }
}
