import { describe, expect, it } from 'vitest';
import { parseLsn } from '@pgwarden/core';
import {
  buildConninfo,
  buildPgHba,
  buildPostgresqlConf,
  formatConfValue,
  initdbArguments,
  needsCrashRecovery,
  parseConninfo,
  parseControlData,
  parsePostgresqlConf,
  parseTimelineHistory,
  pgpassLine,
  shellQuote,
  type ConfFileInput,
} from './config.js';

const input: ConfFileInput = {
  listenAddresses: '127.0.0.1',
  port: 5433,
  clusterName: 'main',
  hbaFile: '/data/pg_hba.conf',
  parameters: { max_connections: 50, wal_level: 'logical', port: 1, Hot_Standby: 'off', log_line_prefix: "%m '%a' " },
  standby: null,
};

describe('postgresql.conf', () => {
  it('includes the base file, enforces the managed parameters and keeps user overrides of defaults', () => {
    const text = buildPostgresqlConf(input);
    expect(text.split('\n').slice(0, 3)).toContain("include 'postgresql.base.conf'");
    const conf = parsePostgresqlConf(text);
    expect(Object.fromEntries(conf)).toEqual({
      wal_level: 'logical',
      wal_log_hints: 'on',
      max_wal_senders: '10',
      max_replication_slots: '10',
      wal_keep_size: '128MB',
      max_connections: '50',
      log_line_prefix: "%m '%a' ",
      listen_addresses: '127.0.0.1',
      port: '5433',
      cluster_name: 'main',
      hot_standby: 'on',
      hba_file: '/data/pg_hba.conf',
    });
  });

  it('writes the standby settings with the latest timeline', () => {
    const conninfo = buildConninfo({ host: 'db1', port: 5432, user: 'rep', application_name: "it's me" });
    const text = buildPostgresqlConf({ ...input, standby: { primaryConninfo: conninfo, primarySlotName: 'pg_b' } });
    const conf = parsePostgresqlConf(text);
    expect(conf.get('primary_conninfo')).toBe(conninfo);
    expect(conf.get('primary_slot_name')).toBe('pg_b');
    expect(conf.get('recovery_target_timeline')).toBe('latest');
  });

  it("writes a standby cluster's recovery settings over the user's", () => {
    const conf = parsePostgresqlConf(
      buildPostgresqlConf({
        ...input,
        parameters: { ...input.parameters, restore_command: 'false' },
        standby: { primaryConninfo: null, primarySlotName: 'b_slot', restoreCommand: "cp '/archive/%f' %p", recoveryMinApplyDelay: '5min' },
      }),
    );
    expect(conf.get('restore_command')).toBe("cp '/archive/%f' %p");
    expect(conf.get('recovery_min_apply_delay')).toBe('5min');
    expect(conf.get('primary_slot_name')).toBe('b_slot');
    expect(conf.has('archive_cleanup_command')).toBe(false);
  });

  it('omits primary_conninfo for a standby without upstream', () => {
    const conf = parsePostgresqlConf(
      buildPostgresqlConf({ ...input, standby: { primaryConninfo: null, primarySlotName: null } }),
    );
    expect(conf.has('primary_conninfo')).toBe(false);
    expect(conf.has('primary_slot_name')).toBe(false);
    expect(conf.get('recovery_target_timeline')).toBe('latest');
  });

  it('quotes values the way the server parses them', () => {
    expect(formatConfValue(true)).toBe("'on'");
    expect(formatConfValue(false)).toBe("'off'");
    expect(formatConfValue(12)).toBe("'12'");
    expect(formatConfValue("a'b\\c")).toBe("'a''b\\\\c'");
    expect(parsePostgresqlConf(`x = ${formatConfValue("a'b\\c")}\ny = 5 # comment\n# z = 1`)).toEqual(
      new Map([
        ['x', "a'b\\c"],
        ['y', '5'],
      ]),
    );
  });
});

describe('connection strings', () => {
  it('quotes only values that need it and parses back what it builds', () => {
    const text = buildConninfo({ host: '10.0.0.1', port: 5432, user: "o'neil", passfile: '/a b/pgpass', skip: undefined });
    expect(text).toBe("host=10.0.0.1 port=5432 user='o\\'neil' passfile='/a b/pgpass'");
    expect(Object.fromEntries(parseConninfo(text))).toEqual({
      host: '10.0.0.1',
      port: '5432',
      user: "o'neil",
      passfile: '/a b/pgpass',
    });
  });

  it('parses spaces around "=" and rejects garbage', () => {
    expect(parseConninfo("host = h  port= 1 application_name='x y'").get('application_name')).toBe('x y');
    expect(() => parseConninfo('host')).toThrow(RangeError);
    expect(() => parseConninfo("host='open")).toThrow(RangeError);
  });
});

describe('pgpass', () => {
  it('escapes ":" and "\\" in every field', () => {
    expect(pgpassLine({ host: '::1', port: 5432, user: 'rep', password: 'a:b\\c' })).toBe('\\:\\:1:5432:*:rep:a\\:b\\\\c');
  });
});

describe('initdb arguments', () => {
  it('turns flags and key/value items into long options and refuses the ones pgwarden owns', () => {
    expect(
      initdbArguments(['data-checksums', { encoding: 'UTF8', locale: 'C.UTF-8' }, 'nosync', { pgdata: '/x' }, '--version', { pwfile: 'p' }, 'sync-only']),
    ).toEqual({
      args: ['--data-checksums', '--encoding=UTF8', '--locale=C.UTF-8'],
      refused: ['nosync', 'pgdata', 'version', 'pwfile', 'sync-only'],
    });
  });
});

describe('pg_controldata', () => {
  const output = [
    'pg_control version number:            1300',
    'Catalog version number:               202209061',
    'Database system identifier:           7312345678901234567',
    'Database cluster state:               in production',
    "Latest checkpoint's TimeLineID:       3",
    "Latest checkpoint location:           0/3000060",
    '',
  ].join('\n');

  it('reads the key/value lines', () => {
    const control = parseControlData(output);
    expect(control.get('Database system identifier')).toBe('7312345678901234567');
    expect(control.get('Database cluster state')).toBe('in production');
    expect(control.get("Latest checkpoint's TimeLineID")).toBe('3');
    expect(control.get('Latest checkpoint location')).toBe('0/3000060');
  });

  it('asks for crash recovery unless the shutdown was clean', () => {
    expect(needsCrashRecovery('in production')).toBe(true);
    expect(needsCrashRecovery('in crash recovery')).toBe(true);
    expect(needsCrashRecovery('shutting down')).toBe(true);
    expect(needsCrashRecovery('in archive recovery')).toBe(true);
    expect(needsCrashRecovery('shut down')).toBe(false);
    expect(needsCrashRecovery('shut down in recovery')).toBe(false);
    expect(needsCrashRecovery(null)).toBe(false);
  });
});

describe('timeline history', () => {
  it('parses each switch as [timeline, lsn, reason]', () => {
    const text = '1\t0/3000000\tno recovery target specified\n\n2\t1/A0000028\tno recovery target specified\n';
    expect(parseTimelineHistory(text, parseLsn)).toEqual([
      [1, 0x3000000, 'no recovery target specified'],
      [2, 0x1_a000_0028, 'no recovery target specified'],
    ]);
  });
});

describe('misc', () => {
  it('writes pg_hba lines under a header', () => {
    expect(buildPgHba(['host all all 0.0.0.0/0 md5'])).toMatch(/^#.*\nhost all all 0\.0\.0\.0\/0 md5\n$/);
  });

  it('shell-quotes pg_ctl -o words only when needed', () => {
    expect(shellQuote('--config-file=/data/postgresql.conf')).toBe('--config-file=/data/postgresql.conf');
    expect(shellQuote("/my dir/it's")).toBe(`'/my dir/it'\\''s'`);
  });
});
