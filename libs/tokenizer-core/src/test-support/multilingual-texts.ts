/** Texts that exercise multi-byte UTF-8: CJK, Arabic, Devanagari, Cyrillic, accents, emoji. */
export const MULTILINGUAL_TEXTS: readonly string[] = [
  'Hello, world! The quick brown fox jumps over the lazy dog.',
  '日本語のテキストと中文文本，还有한국어 문장도 있습니다。',
  'مرحبا بالعالم، كيف حالك اليوم؟',
  'नमस्ते दुनिया — Привет, мир! Γειά σου Κόσμε.',
  'Crème brûlée, naïve café, Ångström, façade, jalapeño, Zürich.',
  'Emoji: 🎉🚀 family 👨‍👩‍👧‍👦, skin tone 👍🏽, flag 🇫🇷, keycap 1️⃣, rare 𝄞 𠜎.',
  '  indented\n\tcode() { return "x" + 42; }\n\n// done',
];
