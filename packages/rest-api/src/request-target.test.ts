import { describe, expect, it } from 'vitest';
import { parseRequestTarget } from './request-target.js';

describe('parseRequestTarget', () => {
  it('routes by the first path segment and keeps the whole path', () => {
    expect(parseRequestTarget('/replica/anything?lag=1MB')).toMatchObject({ path: '/replica/anything', route: 'replica' });
    expect(parseRequestTarget('/')).toMatchObject({ path: '/', route: '' });
    expect(parseRequestTarget(undefined)).toMatchObject({ path: '/', route: '' });
    expect(parseRequestTarget('//patroni')).toMatchObject({ route: 'patroni' });
  });

  it('keeps the first non-empty value of each parameter, like Python parse_qs', () => {
    const { query } = parseRequestTarget('/replica?lag=&lag=10MB&lag=1&tag_zone=a%20b&tag_x=&mode=write#frag');
    expect([...query]).toEqual([
      ['lag', '10MB'],
      ['tag_zone', 'a b'],
      ['mode', 'write'],
    ]);
  });

  it('accepts absolute-form targets', () => {
    expect(parseRequestTarget('http://10.0.0.1:8008/leader?x=1')).toMatchObject({ path: '/leader', route: 'leader' });
    expect(parseRequestTarget('http://10.0.0.1:8008')).toMatchObject({ path: '/', route: '' });
  });
});
