import { StopStringMatcher } from './stop-string-matcher.js';

describe('StopStringMatcher', () => {
  it('holds back only the longest suffix that may start a stop string', () => {
    const matcher = new StopStringMatcher(['</answer>', 'STOP']);
    expect(matcher.push('The result is </ans')).toEqual({ text: 'The result is ' });
    expect(matcher.heldText).toBe('</ans');
    expect(matcher.push('wer')).toEqual({ text: '' });
    expect(matcher.push('x> ST')).toEqual({ text: '</answerx> ' });
    expect(matcher.heldText).toBe('ST');
    expect(matcher.flush()).toBe('ST');
  });

  it('finds a stop string that spans many deltas and truncates before it', () => {
    const matcher = new StopStringMatcher(['\n\nUser:']);
    const pieces = ['Sure', '.', '\n', '\n', 'Us', 'er', ':', ' more'];
    const sent = pieces.map((piece) => matcher.push(piece));
    expect(sent.map((check) => check.text).join('')).toBe('Sure.');
    expect(sent[6]).toEqual({ text: '', match: { stopString: '\n\nUser:' } });
    expect(sent[7]).toEqual({ text: '' });
    expect(matcher.isStopped).toBe(true);
  });

  it('never sends a stop string, whatever the split (exhaustive over two-way splits)', () => {
    const text = 'abcabdabcd';
    const stops = ['abd', 'cd', 'bca'];
    for (let cut = 0; cut <= text.length; cut++) {
      const matcher = new StopStringMatcher(stops, false);
      const first = matcher.push(text.slice(0, cut));
      const second = first.match ? { text: '' } : matcher.push(text.slice(cut));
      // "bca" completes first (index 1..4), before "abd" (3..6) and "cd" (8..10).
      expect(first.text + second.text).toBe('a');
    }
  });
});
