/** The process around runCtl: real streams, a readline prompt, Ctrl-C as an abort. */
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { runCtl } from './cli.js';
import type { PromptFunction } from './cli.js';

const prompt: PromptFunction = async (question, options = {}) => {
  let muted = false;
  // Hidden input: echo nothing after the question.
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!muted) process.stdout.write(chunk);
      callback();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: process.stdin.isTTY === true });
  try {
    const pending = rl.question(question);
    muted = options.hidden === true;
    const answer = await pending;
    if (muted) process.stdout.write('\n');
    return answer === '' ? (options.default ?? '') : answer;
  } finally {
    rl.close();
  }
};

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function main(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  try {
    return await runCtl(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env, prompt, readStdin, signal: controller.signal });
  } finally {
    process.off('SIGINT', interrupt);
  }
}
