import { describe, expect, it } from 'vitest';
import { lineReply, parseJobType, parseLineRequest } from '../../src/worker/messages.js';

describe('line messages', () => {
  it.each([
    ['AppID:Long', 'AppID', 'long'],
    ['AppID:Short', 'AppID', 'short'],
    ['App1:Long', 'App1', 'long'],
    ['App1:short', 'App1', 'short'],
    ['App2:LONG', 'App2', 'long'],
    ['AppID:Long:least_connections', 'AppID', 'long'],
    ['AppID:Long:anything:at:all', 'AppID', 'long'],
    ['  App3:Short \r\n', 'App3', 'short'],
    ['App 4 : Long ', 'App 4', 'long'],
  ])('parses %j', (line, app, type) => {
    expect(parseLineRequest(line)).toEqual({ app, type });
  });

  it.each(['HAI IDO', '', ':Long', 'App1', 'App1:', 'App1:Medium', 'App1:Longer', 'Long', 'GET / HTTP/1.1'])(
    'rejects %j',
    (line) => {
      expect(parseLineRequest(line)).toBeUndefined();
    },
  );

  it('formats the classroom reply', () => {
    expect(lineReply('2', 'long', 'App1', 5003)).toBe(
      'Worker 2 processed Long request for App1 in 5003 ms\n',
    );
    expect(lineReply('1', 'short', 'AppID', 1000)).toBe(
      'Worker 1 processed Short request for AppID in 1000 ms\n',
    );
  });

  it('reads job types in any case', () => {
    expect(parseJobType('Long')).toBe('long');
    expect(parseJobType('sHoRt')).toBe('short');
    expect(parseJobType('')).toBeUndefined();
  });
});
