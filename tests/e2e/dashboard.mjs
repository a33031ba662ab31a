// End-to-end test of the admin dashboard in headless Chromium, against a running `convene up`.
//
// Environment: BASE_URL (e.g. http://127.0.0.1:8080), ADMIN_USER, ADMIN_PASSWORD, SCREENSHOT (path
// of the phone-width status page screenshot; more screenshots are written next to it), and
// optionally CHROMIUM (default /usr/bin/chromium). Exits 0 when every step passed.
//
// Run by `cargo test -p convene-tests --test dashboard`, or by hand:
//   (cd tests/e2e && npm ci) && BASE_URL=… ADMIN_USER=admin ADMIN_PASSWORD=… SCREENSHOT=/tmp/s.png node tests/e2e/dashboard.mjs

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = (process.env.BASE_URL || '').replace(/\/$/, '');
const USER = process.env.ADMIN_USER || 'admin';
const PASSWORD = process.env.ADMIN_PASSWORD || '';
const SHOT = process.env.SCREENSHOT || '';
if (!BASE || !PASSWORD) {
  console.error('BASE_URL and ADMIN_PASSWORD must be set');
  process.exit(2);
}
const shot = (suffix) => (SHOT ? SHOT.replace(/(\.png)?$/, `-${suffix}.png`) : '');

const profile = mkdtempSync(join(tmpdir(), 'convene-e2e-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--disable-quic', '--no-first-run',
  ],
  viewport: { width: 1280, height: 900 },
});
context.setDefaultTimeout(15000);
const page = context.pages()[0] || (await context.newPage());

// Any script error or Content-Security-Policy violation fails the test.
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });

const stamp = Date.now().toString(36);
const room = `E2E Room ${stamp}`;
const alias1 = `e2e.${stamp}`;
const alias2 = `e2e.${stamp}@example.com`;
let current = 'starting';
const started = Date.now();
const step = (name) => { current = name; console.log(`- ${name}`); };

try {
  step('unauthenticated visit goes to the log-in page');
  let resp = await page.goto(`${BASE}/admin/`);
  await page.waitForURL(/\/admin\/login/);
  assert.equal(resp.headers()['x-frame-options'], 'DENY');
  assert.match(resp.headers()['content-security-policy'] || '', /script-src 'self'/);

  step('a wrong password is refused');
  await page.fill('#username', USER);
  await page.fill('#password', `${PASSWORD}-wrong`);
  await page.click('button[type=submit]');
  await page.waitForSelector('#login-error');
  assert.match(await page.textContent('#login-error'), /Wrong user name or password/);

  step('log in');
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${BASE}/admin/`);
  await page.waitForSelector('h1:has-text("Overview")');

  step('create a VMR with two aliases and Host and Guest PINs');
  await page.click('nav >> text=Virtual Meeting Rooms');
  await page.waitForURL(`${BASE}/admin/vmrs/`);
  await page.click('#new');
  await page.waitForURL(`${BASE}/admin/vmrs/new`);
  await page.fill('#name', room);
  await page.fill('#description', 'Created by the browser test');
  await page.fill('#aliases-0', alias1);
  await page.fill('#aliases-0-description', 'Short alias');
  await page.fill('#aliases-1', alias2);
  await page.fill('#pin', '246810');
  await page.check('#allow_guests');
  await page.fill('#guest_pin', '135790');
  await page.selectOption('#host_view', 'four_mains_zero_pips');
  // "Add another alias" appends a fifth, empty row.
  await page.click('button.add-alias');
  await page.waitForSelector('#aliases-4');
  if (SHOT) await page.screenshot({ path: shot('form'), fullPage: true });
  await page.click('#save');
  await page.waitForURL(`${BASE}/admin/vmrs/`);
  assert.match(await page.textContent('#flash'), new RegExp(`Saved Virtual Meeting Room “${room}”`));

  step('it is listed with its aliases');
  const row = page.locator('#objects tr', { hasText: room });
  assert.equal(await row.count(), 1);
  const rowText = await row.textContent();
  assert.ok(rowText.includes(alias1) && rowText.includes(alias2), rowText);
  if (SHOT) await page.screenshot({ path: shot('list'), fullPage: true });

  step('search finds it');
  await page.fill('#q', stamp);
  await page.click('form.search button[type=submit]');
  await page.waitForURL(/q=/);
  assert.match(await page.textContent('#count'), /1–1 of 1/);

  step('edit its description');
  await page.click(`#objects a.obj-link:has-text("${room}")`);
  await page.waitForURL(/\/admin\/vmrs\/\d+\/$/);
  const editUrl = page.url();
  assert.equal(await page.inputValue('#pin'), '246810');
  assert.equal(await page.inputValue('#guest_pin'), '135790');
  assert.equal(await page.inputValue('#aliases-1'), alias2);
  assert.ok(await page.isChecked('#allow_guests'));
  assert.equal(await page.inputValue('#host_view'), 'four_mains_zero_pips');
  await page.fill('#description', 'Edited by the browser test');
  await page.click('#save');
  await page.waitForURL(/\/admin\/vmrs\/(\?.*)?$/);
  assert.match(await page.textContent('#flash'), /Saved/);
  await page.goto(`${BASE}/admin/vmrs/?q=${encodeURIComponent(stamp)}`);
  assert.match(await page.locator('#objects tr', { hasText: room }).textContent(), /Edited by the browser test/);

  step('a bad PIN is refused with the message next to the PIN field');
  await page.goto(editUrl);
  await page.fill('#pin', '12ab');
  await page.click('#save');
  await page.waitForSelector('#field-pin #pin-error');
  assert.match(await page.textContent('#pin-error'), /A PIN is 4 to 20 digits/);
  assert.equal(await page.inputValue('#pin'), '12ab', 'the input is kept');
  assert.equal(await page.getAttribute('#pin', 'aria-invalid'), 'true');
  assert.match(await page.textContent('#form-errors'), /Nothing was saved/);
  if (SHOT) await page.screenshot({ path: shot('error'), fullPage: false });
  await page.goto(editUrl);
  assert.equal(await page.inputValue('#pin'), '246810', 'the stored PIN is unchanged');

  step('delete it after confirming');
  await page.click('#delete');
  await page.waitForURL(/\/delete$/);
  await page.click('#confirm-delete');
  await page.waitForURL(`${BASE}/admin/vmrs/`);
  assert.match(await page.textContent('#flash'), /Deleted/);
  assert.equal(await page.locator('#objects tr', { hasText: room }).count(), 0);
  await page.goto(`${BASE}/admin/vmrs/?q=${encodeURIComponent(stamp)}`);
  await page.waitForSelector('#empty');

  step('live status at phone width updates by itself');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${BASE}/admin/status`);
  await page.waitForSelector('h1:has-text("Live status")');
  // The event stream delivers the current status right away.
  await page.waitForFunction(() => /updated/.test(document.getElementById('live-text')?.textContent || ''));
  await page.waitForSelector('#live #no-conferences, #live article.conference');
  await page.waitForSelector('#nodes');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 390px`);
  if (SHOT) await page.screenshot({ path: SHOT, fullPage: true });

  step('the menu opens on a phone');
  await page.click('label.nav-button');
  await page.waitForSelector('nav.sidenav a:has-text("Conferencing Nodes")', { state: 'visible' });
  if (SHOT) await page.screenshot({ path: shot('menu'), fullPage: false });

  step('log out');
  await page.click('label.nav-button');
  await page.click('form[action="/admin/logout"] button');
  await page.waitForURL(/\/admin\/login/);
  await page.goto(`${BASE}/admin/vmrs/`);
  await page.waitForURL(/\/admin\/login/);

  assert.deepEqual(problems, [], 'no script errors or CSP violations');
  console.log(`dashboard e2e: all steps passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  process.exitCode = 1;
  console.error(`FAILED at step "${current}" (${page.url()}):\n${e.stack || e}`);
  if (problems.length) console.error(problems.join('\n'));
  if (SHOT) await page.screenshot({ path: shot('failure'), fullPage: true }).catch(() => {});
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
