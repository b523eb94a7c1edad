import { describe, expect, it } from 'vitest';
import { parseByteSize } from './units.js';

describe('parseByteSize', () => {
  it.each([
    ['1048576', 1048576],
    ['0', 0],
    ['16kB', 16 * 1024],
    ['1024kB', 1048576],
    ['64MB', 64 * 1024 ** 2],
    ['1GB', 1024 ** 3],
    ['1TB', 1024 ** 4],
    ['10 MB', 10 * 1024 ** 2],
    ['  7B ', 7],
    ['0x400', 1024],
    ['010', 8],
    ['1.5kB', 1536],
    ['1.5GB', 1536 * 1024 ** 2],
    ['.5kB', 512],
    ['1e3', 1000],
    ['2.5', 2],
    ['3.5', 4],
    ['-1', -1],
  ])('reads %j as %d bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(['abc', '', '10mb', '10 XB', '1KB', '-.5', 'MB', '09'])('rejects %j', (text) => {
    expect(parseByteSize(text)).toBeNull();
  });
});
