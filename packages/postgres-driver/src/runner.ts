import { spawn } from 'node:child_process';

/** One process to run to completion. */
export interface RunRequest {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Run as this user (only honoured when the caller may switch users). */
  readonly uid?: number;
  readonly gid?: number;
  /** Written to stdin, then closed; without it stdin is /dev/null. */
  readonly stdin?: string;
  /** Start in a new session so a postmaster forked by pg_ctl outlives our process group's signals. */
  readonly detached?: boolean;
  readonly signal?: AbortSignal;
  /** Each output line as it arrives (`\r` also ends a line: pg_basebackup --progress rewrites one line). */
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface RunResult {
  /** null when killed by a signal. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The port through which the driver starts processes; unit tests inject a scripted one. */
export interface ProcessRunner {
  run(request: RunRequest): Promise<RunResult>;
}

const OUTPUT_LIMIT = 1024 * 1024;

/** The real runner on `node:child_process`. */
export function createChildProcessRunner(): ProcessRunner {
  return {
    run(request) {
      return new Promise<RunResult>((resolve, reject) => {
        const child = spawn(request.command, [...request.args], {
          env: { ...request.env },
          cwd: request.cwd ?? '/',
          stdio: [request.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
          detached: request.detached ?? false,
          ...(request.uid === undefined ? {} : { uid: request.uid }),
          ...(request.gid === undefined ? {} : { gid: request.gid }),
          ...(request.signal === undefined ? {} : { signal: request.signal, killSignal: 'SIGTERM' as const }),
        });
        const output = { stdout: '', stderr: '' };
        const pending = { stdout: '', stderr: '' };
        const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
          const text = chunk.toString('utf8');
          if (output[stream].length < OUTPUT_LIMIT) output[stream] += text;
          if (!request.onLine) return;
          pending[stream] += text;
          const parts = pending[stream].split(/\r\n|\r|\n/);
          pending[stream] = parts.pop() ?? '';
          for (const line of parts) if (line !== '') request.onLine(line, stream);
        };
        child.stdout?.on('data', collect('stdout'));
        child.stderr?.on('data', collect('stderr'));
        child.on('error', reject);
        child.on('close', (exitCode, signal) => {
          for (const stream of ['stdout', 'stderr'] as const) {
            if (request.onLine && pending[stream] !== '') request.onLine(pending[stream], stream);
          }
          resolve({ exitCode, signal, stdout: output.stdout, stderr: output.stderr });
        });
        if (request.stdin !== undefined && child.stdin) {
          child.stdin.on('error', () => {});
          child.stdin.end(request.stdin);
        }
      });
    },
  };
}
