export * from './openai-error.js';
export * from './dto/generation-request.dto.js';
export * from './dto/completion-request.dto.js';
export * from './dto/chat-completion-request.dto.js';
export * from './dto/validate-body.js';
export * from './generation-plan.js';
export * from './choice-state.js';
export * from './response-shapes.js';
