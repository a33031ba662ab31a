// End-to-end test of the admin dashboard in headless Chromium, against a running `convene up`.
//
// Environment: BASE_URL (e.g. http://127.0.0.1:8080), ADMIN_USER, ADMIN_PASSWORD, SCREENSHOT (path
// of the phone-width status page screenshot; more screenshots are written next to it), and
// optionally CHROMIUM (default /usr/bin/chromium) and NODE_SECRET (the management node's node
// secret: with it, a simulated Conferencing Node reports a call, which must appear on the open
// status page by itself, the Lock button's command must reach that node, and the sample VMR's
// dial-out form must keep what is typed through live updates and reach it too). Exits 0 when every
// step passed.
//
// Run by `cargo test -p convene-tests --test dashboard`, or by hand:
//   (cd tests/e2e && npm ci) && BASE_URL=… ADMIN_USER=admin ADMIN_PASSWORD=… SCREENSHOT=/tmp/s.png node tests/e2e/dashboard.mjs

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = (process.env.BASE_URL || '').replace(/\/$/, '');
const USER = process.env.ADMIN_USER || 'admin';
const PASSWORD = process.env.ADMIN_PASSWORD || '';
const SHOT = process.env.SCREENSHOT || '';
const NODE_SECRET = process.env.NODE_SECRET || '';
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
const auth = { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };

// A stand-in for a Conferencing Node's control API: records the commands forwarded to it.
const commands = [];
const fakeNode = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    const command = { path: req.url, secret: req.headers['x-convene-node-secret'], body: body ? JSON.parse(body) : null };
    commands.push(command);
    // Like a node, a dial-out to an address it cannot resolve is refused with the reason.
    const bad = /bad/.test(command.body?.destination || '');
    res.writeHead(bad ? 400 : 200, { 'Content-Type': 'application/json' });
    res.end(bad ? '{"status":"error","error":"destination: cannot resolve bad.example"}' : '{"status":"success"}');
  });
});
await new Promise((resolve) => fakeNode.listen(0, '127.0.0.1', resolve));
const fakeNodeUrl = `http://127.0.0.1:${fakeNode.address().port}`;

/** Reports `e2e-node`'s status to the management node as a Conferencing Node does. */
async function reportNode(conferences, participants) {
  const report = {
    name: 'e2e-node', version: 'e2e', control_url: fakeNodeUrl, node_type: 'CONFERENCING', cpu_count: 4,
    cpu_model: 'Test CPU', total_ram: 8192, max_hd_calls: 20, max_sd_calls: 40, max_audio_calls: 200,
    max_full_hd_calls: 10, max_media_tokens: 100, media_tokens_used: 36, boot_time: new Date().toISOString(),
    conferences, participants,
  };
  const r = await fetch(`${BASE}/api/internal/v1/nodes/e2e-node/status`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json', 'X-Convene-Node-Secret': NODE_SECRET },
    body: JSON.stringify(report),
  });
  assert.equal(r.status, 200, await r.text());
}

// Any script error, Content-Security-Policy violation or missing resource fails the test (the 400
// and 403 answers to the deliberately wrong log-in and PIN are expected).
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('console', (m) => {
  if (m.type() !== 'error' || /status of 40[03]/.test(m.text())) return;
  problems.push(`console error: ${m.text()} (${m.location().url || page.url()})`);
});

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
  if (SHOT) await page.screenshot({ path: NODE_SECRET ? shot('empty') : SHOT, fullPage: true });

  if (NODE_SECRET) {
    step('a call reported by a Conferencing Node appears without reloading');
    const r = await fetch(`${BASE}/api/admin/configuration/v1/worker_vm/`, {
      method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'e2e-node', hostname: 'e2e-node', address: '192.0.2.50' }),
    });
    assert.equal(r.status, 201, await r.text());
    const conferenceId = `e2e-${stamp}`;
    const startTime = new Date().toISOString().replace('Z', '');
    await reportNode(
      [{ id: conferenceId, name: 'E2E live call', service_type: 'conference', is_started: true, is_locked: false,
         guests_muted: false, start_time: startTime, tag: '' }],
      [
        { id: `${conferenceId}-p1`, conference: 'E2E live call', display_name: 'Alice Host', source_alias: 'alice@example.com',
          protocol: 'webrtc', role: 'chair', is_muted: false, is_presenting: true, rx_bandwidth: 1536, tx_bandwidth: 1024,
          video_codec: 'VP8', audio_codec: 'opus', connect_time: startTime },
        { id: `${conferenceId}-p2`, conference: 'E2E live call', display_name: 'Bob Guest', source_alias: 'sip:bob@example.com',
          protocol: 'sip', role: 'guest', is_muted: true, rx_bandwidth: 768, tx_bandwidth: 768, video_codec: 'H264',
          connect_time: startTime },
      ],
    );
    const card = page.locator('article.conference', { hasText: 'E2E live call' });
    await card.waitFor();
    const cardText = await card.textContent();
    assert.ok(/Alice Host/.test(cardText) && /Bob Guest/.test(cardText) && /Muted/.test(cardText), cardText);
    assert.match(cardText, /2 participants/);
    await page.waitForSelector('#nodes tr:has-text("e2e-node") meter');
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(sideways <= 0, `the status page scrolls sideways by ${sideways}px at 390px`);
    if (SHOT) await page.screenshot({ path: SHOT, fullPage: true });

    step('Lock is forwarded to the node hosting the call');
    await card.locator('button:has-text("Lock")').click();
    await page.waitForSelector('#flash');
    assert.match(await page.textContent('#flash'), /Locked “E2E live call”/);
    const lock = commands.find((c) => c.path === '/api/internal/v1/command/conference/lock/');
    assert.ok(lock, `commands seen: ${JSON.stringify(commands)}`);
    assert.deepEqual(lock.body, { conference_id: conferenceId });
    assert.equal(lock.secret, NODE_SECRET);
    // The node reports the new state; the open page follows.
    await reportNode([{ id: conferenceId, name: 'E2E live call', service_type: 'conference', is_locked: true, guests_muted: false, start_time: startTime }], []);
    await page.waitForSelector('article.conference:has-text("E2E live call") .badge:has-text("Locked")');
    await page.waitForSelector('article.conference:has-text("E2E live call") button:has-text("Unlock")');
    if (SHOT) await page.setViewportSize({ width: 1280, height: 900 });
    if (SHOT) await page.screenshot({ path: shot('desktop'), fullPage: true });
    if (SHOT) await page.setViewportSize({ width: 390, height: 844 });

    step('dial out from the sample VMR at phone width; what is typed survives live updates');
    const lockedCall = { id: conferenceId, name: 'E2E live call', service_type: 'conference', is_locked: true, guests_muted: false, start_time: startTime };
    const vmrId = `${conferenceId}-vmr`;
    const vmrCall = { id: vmrId, name: 'Sample VMR', service_type: 'conference', is_locked: false, guests_muted: false, start_time: startTime };
    const carol = (muted) => ({ id: `${vmrId}-p1`, conference: 'Sample VMR', display_name: 'Carol Caller', protocol: 'sip', role: 'guest', is_muted: muted, connect_time: startTime });
    await reportNode([lockedCall, vmrCall], []);
    const vmr = page.locator('article.conference', { hasText: 'Sample VMR' });
    await vmr.waitFor();
    const destination = vmr.locator('input[name=destination]');
    const displayName = vmr.locator('input[name=remote_display_name]');
    const role = vmr.locator('select[name=role]');
    await displayName.fill('Front Desk');
    await role.selectOption('chair');
    await destination.fill('sip:desk@192.0.2.60');
    // A participant joins: the live part of the page is replaced, the form keeps its values and focus.
    await reportNode([lockedCall, vmrCall], [carol(false)]);
    await vmr.locator('td[data-label=Name]:has-text("Carol Caller")').waitFor();
    assert.equal(await destination.inputValue(), 'sip:desk@192.0.2.60');
    assert.equal(await displayName.inputValue(), 'Front Desk');
    assert.equal(await role.inputValue(), 'chair');
    assert.equal(await page.evaluate(() => document.activeElement?.name), 'destination', 'the focus stays in the form');
    const dialSideways = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(dialSideways <= 0, `the dial-out form scrolls sideways by ${dialSideways}px at 390px`);
    const box = await vmr.locator('.dial-button').boundingBox();
    const formBox = await vmr.locator('.dial-form').boundingBox();
    assert.ok(box && formBox && box.width > formBox.width * 0.9, 'a full-width Dial out button on a phone');
    if (SHOT) await vmr.screenshot({ path: shot('dial') });

    step('the node refuses a destination: the reason is shown on the form and stays');
    await destination.fill('sip:desk@bad.example');
    await vmr.locator('button:has-text("Dial out")').click();
    const refusal = page.locator('article.conference:has-text("Sample VMR") .dial-form .field-error');
    await refusal.waitFor();
    assert.match(await refusal.textContent(), /could not dial sip:desk@bad\.example: destination: cannot resolve bad\.example/);
    await page.waitForFunction(() => /updated/.test(document.getElementById('live-text')?.textContent || ''));
    await reportNode([lockedCall, vmrCall], [carol(true)]);
    await vmr.locator('.badge:has-text("Muted")').waitFor();
    assert.match(await refusal.textContent(), /cannot resolve bad\.example/);
    assert.equal(await destination.inputValue(), 'sip:desk@bad.example');
    assert.equal(await displayName.inputValue(), 'Front Desk');
    assert.equal(await destination.getAttribute('aria-invalid'), 'true');
    assert.equal(await displayName.getAttribute('aria-invalid'), null, 'only the destination is marked');
    if (SHOT) await vmr.screenshot({ path: shot('dial-error') });
    if (SHOT) await page.setViewportSize({ width: 1280, height: 900 });
    if (SHOT) await vmr.screenshot({ path: shot('dial-desktop') });
    if (SHOT) await page.setViewportSize({ width: 390, height: 844 });

    step('dial out: forwarded to the node with an alias of the service');
    await destination.fill('sip:desk@192.0.2.60');
    await vmr.locator('button:has-text("Dial out")').click();
    await page.waitForURL(`${BASE}/admin/status`);
    await page.waitForSelector('#flash');
    assert.match(await page.textContent('#flash'), /Dialling Front Desk \(sip:desk@192\.0\.2\.60\) into “Sample VMR” as a Host\./);
    const dials = commands.filter((c) => c.path === '/api/internal/v1/command/participant/dial/');
    assert.equal(dials.length, 2, `commands seen: ${JSON.stringify(commands)}`);
    assert.deepEqual(dials[1].body, { conference_alias: 'meet', destination: 'sip:desk@192.0.2.60', role: 'chair', remote_display_name: 'Front Desk', protocol: 'sip' });
    assert.equal(await page.locator('article.conference:has-text("Sample VMR") .field-error').count(), 0, 'a fresh form');
  } else {
    console.log('  (NODE_SECRET not set: the simulated call is skipped)');
  }

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
  fakeNode.close();
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
