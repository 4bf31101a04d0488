/**
 * The demo as a person meets it: `tunemesh demo` runs as a real process, and a real browser
 * (Debian's chromium, driven by playwright-core) opens the printed page, searches, clicks a
 * track and plays it through `<audio>`; the client's stats record the play.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { have, ROOT } from '../helpers/processes.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

test('the demo page plays a track in a real browser and the play is in the stats', async (t) => {
  if (!(await have(CHROMIUM))) {
    t.skip('chromium is not installed (.ci/run installs it)');
    return;
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-page-'));
  const demo = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'demo', '--data', dir, '--tracks', '6', '--clients', '2', '--http-port', '0', '--duration', '90'], { cwd: ROOT });
  let stderr = '';
  const exited = new Promise<void>((r) => demo.once('exit', () => r()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`demo did not print its URL; stderr: ${stderr}`)), 120_000);
      createInterface({ input: demo.stderr }).on('line', (line) => {
        stderr += line + '\n';
        const m = /Listen at (http:\/\/127\.0\.0\.1:\d+)\//.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(url + '/');
      await page.fill('#q', '');
      await page.click('button[type=submit]');
      await page.waitForSelector('li.track', { timeout: 10_000 });
      const first = page.locator('li.track').first();
      const trackId = await first.getAttribute('data-id');
      await first.click();
      // The browser decodes real Ogg Vorbis from the client and its playback clock advances.
      await page.waitForFunction(() => {
        const a = document.querySelector('audio')!;
        return a.currentTime > 1 && !a.error;
      }, undefined, { timeout: 30_000 });
      const duration = await page.evaluate(() => document.querySelector('audio')!.duration);
      assert.ok(duration > 10, `browser sees a duration of ${duration} s`);
      const stats = await (await fetch(url + '/api/stats')).json();
      const play = stats.plays.find((p: any) => p.trackId === trackId);
      assert.ok(play, 'the browser play is recorded');
      assert.equal(typeof play.latencyMs, 'number');
      // The stats table on the page shows it as well.
      await page.waitForFunction(() => /Plays/.test(document.querySelector('#stats')!.textContent ?? ''), undefined, { timeout: 5_000 });
      // The pick made the listed tracks the client's play queue; "Next" skips to the following
      // track, a sequential play whose start the client prefetched.
      const listed = await page.locator('li.track').count();
      const queue = await (await fetch(url + '/api/queue')).json();
      assert.equal(queue.tracks.length, listed);
      assert.equal(queue.current.id, trackId);
      const nextId = await page.locator('li.track').nth(1).getAttribute('data-id');
      assert.equal(queue.next.id, nextId);
      await page.click('#next');
      await page.waitForFunction((id) => {
        const a = document.querySelector('audio')!;
        return a.src.endsWith('/audio/' + id) && a.currentTime > 0.5 && !a.error;
      }, nextId, { timeout: 30_000 });
      const after = await (await fetch(url + '/api/stats')).json();
      const skipped = after.plays.find((p: any) => p.trackId === nextId);
      assert.equal(skipped?.access, 'sequential', 'the skip landed on the next track of the queue');
      assert.equal((await (await fetch(url + '/api/queue')).json()).current.id, nextId);
    } finally {
      await browser.close();
    }
  } finally {
    demo.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
});
