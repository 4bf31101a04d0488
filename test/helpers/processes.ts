/**
 * Starting real tunemesh processes for end-to-end tests: each command runs as its own Node
 * process through tsx, exactly as a user would start it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');

/** A running tunemesh command. */
export interface Running {
  proc: ChildProcess;
  /** The first stdout line (commands started with --json print their endpoint there). */
  firstLine: string;
  stderr: () => string;
  /** SIGTERM and wait for exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash at an arbitrary moment. */
  kill(): Promise<void>;
}

/** Runs a tunemesh command to completion and returns its output. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`tunemesh ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    proc.on('error', reject);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Starts a long-running tunemesh command and waits for its first stdout line. */
export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Running> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...opts.env } });
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    const lines = createInterface({ input: proc.stdout! });
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`tunemesh ${args.join(' ')} did not start; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tunemesh ${args.join(' ')} exited with ${code}; stderr: ${stderr}`));
    });
    lines.once('line', (firstLine) => {
      clearTimeout(timer);
      const stopWith = async (signal: NodeJS.Signals) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        proc.kill(signal);
        const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
      };
      resolve({ proc, firstLine, stderr: () => stderr, stop: () => stopWith('SIGTERM'), kill: () => stopWith('SIGKILL') });
    });
  });
}

/** Whether a program is on the PATH. */
export async function have(program: string): Promise<boolean> {
  const r = await new Promise<number>((resolve) => {
    const p = spawn('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
    p.on('exit', (c) => resolve(c ?? 1));
  });
  return r === 0;
}

/** Runs a program, resolving with its exit code and stderr. */
export function run(cmd: string, args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args);
    let stderr = '';
    let stdout = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.stdout.on('data', (d) => (stdout += d));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code: code ?? -1, stderr, stdout }));
  });
}
