// End-to-end test of the browser client (served by the Conferencing Node at `/` of its Client API
// listener) in headless Chromium with fake camera and microphone, against a running `convene up`.
//
// Environment: CLIENT_URL (the Client API base, e.g. http://127.0.0.1:8081), ALIAS (a VMR with a
// Host PIN that allows Guests without a PIN), HOST_PIN, MODE (`flow`: join, PIN errors, roster,
// Host controls and their refusal for a Guest; `media`: the composite video arrives in #remote),
// and optionally CHROMIUM (default /usr/bin/chromium) and SCREENSHOT_DIR. Exits 0 when every
// step passed.
//
// Run by `cargo nextest run -p convene-tests --test browser_client`, or by hand:
//   CLIENT_URL=… ALIAS=… HOST_PIN=… MODE=flow node tests/e2e/browser_client.mjs

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const CLIENT = (process.env.CLIENT_URL || '').replace(/\/$/, '');
const ALIAS = process.env.ALIAS || '';
const HOST_PIN = process.env.HOST_PIN || '';
const MODE = process.env.MODE || 'flow';
const SHOT_DIR = process.env.SCREENSHOT_DIR || '';
if (!CLIENT || !ALIAS || !HOST_PIN) {
  console.error('CLIENT_URL, ALIAS and HOST_PIN must be set');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--disable-quic', '--no-first-run', '--autoplay-policy=no-user-gesture-required',
    '--auto-select-desktop-capture-source=Entire screen',
  ],
});

// Script errors and CSP violations fail the test. Failed requests show up as console errors
// ("Failed to load resource: … status of 403"): those are the deliberate PIN, 404 and Guest
// refusals, and 501 for what the node does not serve yet, which the page itself must report.
const problems = [];
const pages = [];

async function openClient(label, path, viewport = { width: 1280, height: 900 }, initScript = null) {
  const context = await browser.newContext({ viewport });
  await context.grantPermissions(['camera', 'microphone']);
  if (initScript) await context.addInitScript(initScript);
  context.setDefaultTimeout(30000);
  const page = await context.newPage();
  // Fake timers that run in real time, so a test can jump to the token refresh.
  await page.clock.install();
  page.on('pageerror', (e) => problems.push(`${label}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error' || /status of (4\d\d|501)/.test(m.text())) return;
    problems.push(`${label}: console error: ${m.text()}`);
  });
  const resp = await page.goto(`${CLIENT}/${path}`);
  assert.equal(resp.status(), 200);
  assert.match(resp.headers()['content-type'] || '', /^text\/html/);
  assert.match(resp.headers()['content-security-policy'] || '', /script-src 'self'/);
  pages.push({ label, page });
  return page;
}

const text = (page, sel) => page.locator(sel).innerText();
const rosterNames = (page) => page.locator('#roster .p-name').allInnerTexts();

/** Waits until `fn` (run in the page) returns something truthy; fails with `what`. */
async function until(page, what, fn, arg, timeout = 15000) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  } catch (e) {
    throw new Error(`timed out waiting for ${what}: ${e.message.split('\n')[0]}`);
  }
}

async function rosterIs(page, label, names) {
  await until(page, `${label}'s roster to be ${names.join(', ')}`, (want) => {
    const got = [...document.querySelectorAll('#roster .p-name')].map((e) => e.textContent).sort();
    return JSON.stringify(got) === JSON.stringify(want);
  }, [...names].sort());
}

async function step(name, fn) {
  const t = Date.now();
  await fn();
  console.log(`ok ${name} (${Date.now() - t} ms)`);
}

async function shot(page, name) {
  if (SHOT_DIR) await page.screenshot({ path: join(SHOT_DIR, `browser-client-${name}.png`), fullPage: true });
}

/** Joins from the join page; `pin` undefined: no PIN asked; '' : join as Guest without one. */
async function joinAs(page, name, pin) {
  await page.fill('#name', name);
  await page.click('#join');
  if (pin !== undefined) {
    await page.locator('#pin').waitFor({ state: 'visible' });
    await page.fill('#pin', pin);
    await page.click('#join');
  }
  await page.locator('#call-view').waitFor({ state: 'visible' });
}

async function flow() {
  let host;
  let guest;
  await step('the join page is prefilled from ?alias= and shows the camera preview', async () => {
    host = await openClient('host', `?alias=${encodeURIComponent(ALIAS)}`);
    assert.equal(await page_value(host, '#alias'), ALIAS);
    await until(host, 'the camera preview to play', () => {
      const v = document.getElementById('preview');
      return v && !v.hidden && v.videoWidth > 0 && v.srcObject && v.srcObject.getAudioTracks().length === 1;
    });
    assert.equal(await host.locator('#media-message').isVisible(), false);
  });

  await step('a PIN is asked for; a wrong one is refused with a clear message', async () => {
    await host.fill('#name', 'Hana');
    await host.click('#join');
    await host.locator('#pin').waitFor({ state: 'visible' });
    assert.match(await text(host, '#pin-hint'), /guests leave it empty/i);
    await host.fill('#pin', '111111');
    await host.click('#join');
    await host.locator('#error').waitFor({ state: 'visible' });
    assert.match(await text(host, '#error'), /Invalid PIN/);
    assert.equal(await host.locator('#call-view').isVisible(), false);
  });

  await step('the Host PIN joins as Host: roster, Host controls, layouts', async () => {
    await host.fill('#pin', HOST_PIN);
    await host.click('#join');
    await host.locator('#call-view').waitFor({ state: 'visible' });
    assert.equal(await host.locator('#error').isVisible(), false);
    await host.locator('#host-controls').waitFor({ state: 'visible' });
    await rosterIs(host, 'the host', ['Hana']);
    assert.match(await text(host, '#roster'), /Host/);
    await until(host, 'the layout list', () => document.querySelectorAll('#layout option').length > 1);
    assert.equal(new URL(host.url()).searchParams.get('alias'), ALIAS);
  });

  await step('an unknown meeting is named as such', async () => {
    guest = await openClient('guest', `#${encodeURIComponent(ALIAS)}`, { width: 390, height: 844 });
    assert.equal(await page_value(guest, '#alias'), ALIAS);
    await guest.fill('#alias', 'no-such-meeting');
    await guest.fill('#name', 'Gil');
    await guest.click('#join');
    await guest.locator('#error').waitFor({ state: 'visible' });
    assert.match(await text(guest, '#error'), /no meeting called “no-such-meeting”/);
  });

  await step('a Guest joins without a PIN; both rosters show both, live', async () => {
    await guest.fill('#alias', ALIAS);
    await joinAs(guest, 'Gil', '');
    assert.equal(await guest.locator('#error').isVisible(), false);
    await rosterIs(guest, 'the guest', ['Gil', 'Hana']);
    await rosterIs(host, 'the host', ['Gil', 'Hana']);
    const gil = host.locator('#roster li', { hasText: 'Gil' });
    assert.match(await gil.innerText(), /Guest/);
    assert.equal(await guest.locator('#host-controls').isVisible(), false);
    // A Guest's roster has no Host buttons.
    assert.equal(await guest.locator('#roster .p-mute').count(), 0);
  });

  await step('a Guest who tries to lock is shown the refusal', async () => {
    // The Host controls are hidden from Guests; the click is dispatched as a stale page would.
    await guest.dispatchEvent('#lock', 'click');
    await guest.locator('#error').waitFor({ state: 'visible' });
    assert.equal(await text(guest, '#error'), 'Only a Host can do that');
    assert.equal(await guest.locator('#locked').isVisible(), false);
  });

  await step('the Host locks; the Guest sees the meeting locked', async () => {
    await host.click('#lock');
    await host.locator('#locked').waitFor({ state: 'visible' });
    assert.equal(await text(host, '#lock'), 'Unlock');
    await guest.locator('#locked').waitFor({ state: 'visible' });
    assert.equal(await host.locator('#error').isVisible(), false);
  });

  await step('the Host changes the layout', async () => {
    await host.selectOption('#layout', '4:0');
    await host.waitForTimeout(300);
    assert.equal(await host.locator('#error').isVisible(), false, await text(host, '#error'));
    assert.equal(await host.locator('#layout').inputValue(), '4:0');
  });

  await step('a Guest whose camera is denied joins the locked meeting audio-only and waits for a Host', async () => {
    // The camera is refused as a browser does when the user blocks it (microphone allowed).
    const denyCamera = () => {
      const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      navigator.mediaDevices.getUserMedia = (c) => (c && c.video
        ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError'))
        : real(c));
    };
    const late = await openClient('late guest', `?alias=${encodeURIComponent(ALIAS)}`, { width: 390, height: 844 }, denyCamera);
    await late.locator('#media-message').waitFor({ state: 'visible' });
    assert.equal(await text(late, '#media-message'), 'Camera access was denied: you will join with audio only.');
    await joinAs(late, 'Wim', '');
    assert.equal(await late.locator('#mute-video').isDisabled(), true);
    assert.equal(await late.locator('#mute-audio').isDisabled(), false);
    await late.locator('#waiting').waitFor({ state: 'visible' });
    const wim = host.locator('#roster li', { hasText: 'Wim' });
    await wim.locator('.p-waiting').waitFor({ state: 'visible' });
    await wim.locator('.p-admit').click();
    await late.locator('#waiting').waitFor({ state: 'hidden' });
    await wim.locator('.p-waiting').waitFor({ state: 'hidden' });
    await rosterIs(late, 'the late guest', ['Gil', 'Hana', 'Wim']);
  });

  await step('the Host removes that Guest, whose page says so and returns to the join page', async () => {
    const late = pages.find((p) => p.label === 'late guest').page;
    await host.locator('#roster li', { hasText: 'Wim' }).locator('.p-disconnect').click();
    await late.locator('#join-view').waitFor({ state: 'visible' });
    assert.match(await text(late, '#error'), /^You were disconnected from the meeting/);
    await rosterIs(host, 'the host', ['Gil', 'Hana']);
    await rosterIs(guest, 'the guest', ['Gil', 'Hana']);
    await late.context().close();
  });

  await step('chat: the Host\'s message reaches the Guest, and the Guest\'s the Host', async () => {
    await host.fill('#chat-input', 'Hello from Hana');
    await host.click('#chat-send');
    await until(guest, 'the message on the guest page', () =>
      [...document.querySelectorAll('#chat-log li')].some((li) => li.textContent.includes('Hana') && li.textContent.includes('Hello from Hana')));
    assert.equal(await host.locator('#chat-input').inputValue(), '');
    await guest.fill('#chat-input', 'Hi Hana');
    await guest.press('#chat-input', 'Enter');
    await until(host, 'the reply on the host page', () =>
      [...document.querySelectorAll('#chat-log li')].some((li) => li.textContent.includes('Gil') && li.textContent.includes('Hi Hana')));
    // Each message once on each page (the sender's own copy is not doubled by the echo).
    for (const page of [host, guest]) {
      assert.equal(await page.locator('#chat-log li', { hasText: 'Hello from Hana' }).count(), 1);
      assert.equal(await page.locator('#chat-log li', { hasText: 'Hi Hana' }).count(), 1);
    }
    assert.equal(await host.locator('#error').isVisible(), false, await text(host, '#error'));
  });

  await step('screen sharing: presented, or the node\'s refusal shown', async () => {
    await host.click('#share');
    await until(host, 'sharing, or the refusal shown', () =>
      !document.getElementById('error').hidden || (window.convene.state.presentation && window.convene.state.presentation.callUuid));
    const error = (await host.locator('#error').isVisible()) ? await text(host, '#error') : '';
    if (error) {
      assert.match(error, /^Screen sharing is not available yet: /);
      assert.equal(await host.locator('#share').getAttribute('aria-pressed'), 'false');
      console.log(`   share: ${error}`);
      return;
    }
    assert.equal(await host.locator('#share').getAttribute('aria-pressed'), 'true');
    await guest.locator('#notice', { hasText: 'Hana is presenting' }).waitFor();
    await host.click('#share');
    await guest.locator('#notice').waitFor({ state: 'hidden' });
  });

  await step('the Host mutes the Guest; the Guest is muted on both pages', async () => {
    await host.locator('#roster li', { hasText: 'Gil' }).locator('.p-mute').click();
    await until(host, 'Gil muted on the host page', () =>
      [...document.querySelectorAll('#roster li')].some((li) => li.textContent.includes('Gil') && li.querySelector('.p-muted')));
    await until(guest, 'the guest muted on the guest page', () =>
      document.getElementById('mute-audio').getAttribute('aria-pressed') === 'true'
      && [...document.querySelectorAll('#roster li')].some((li) => li.textContent.includes('Gil') && li.querySelector('.p-muted')));
    // The microphone is off in the Guest's browser too.
    assert.equal(await guest.evaluate(() => window.convene.local.audio.enabled), false);
  });

  await step('the Guest turns their camera off and unmutes themselves; the Host sees both', async () => {
    const gilOnHost = host.locator('#roster li', { hasText: 'Gil' });
    await guest.click('#mute-video');
    assert.equal(await text(guest, '#mute-video'), 'Start video');
    assert.equal(await guest.evaluate(() => window.convene.local.video.enabled), false);
    await gilOnHost.locator('.p-video-muted').waitFor();
    await guest.click('#mute-audio');
    assert.equal(await text(guest, '#mute-audio'), 'Mute');
    await gilOnHost.locator('.p-muted').waitFor({ state: 'detached' });
    assert.equal(await guest.evaluate(() => window.convene.local.audio.enabled), true);
    await guest.click('#mute-video');
    await gilOnHost.locator('.p-video-muted').waitFor({ state: 'detached' });
    assert.equal(await guest.locator('#error').isVisible(), false, await text(guest, '#error'));
  });

  await step('the call screen fits a phone', async () => {
    const overflow = await guest.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the 390px screen`);
    await shot(guest, 'guest-390');
    await shot(host, 'host');
  });

  await step('the Host\'s token is refreshed at half its life and still works, events too', async () => {
    const before = await host.evaluate(() => window.convene.state.session.token);
    await host.clock.fastForward('01:05');
    await until(host, 'a new token', (old) => window.convene.state.session.token !== old, before);
    await host.click('#lock'); // now Unlock
    await guest.locator('#locked').waitFor({ state: 'hidden' });
    await host.locator('#locked').waitFor({ state: 'hidden' });
    assert.equal(await host.locator('#error').isVisible(), false);
  });

  await step('the Guest leaves; the Host sees them go', async () => {
    await guest.click('#leave');
    await guest.locator('#join-view').waitFor({ state: 'visible' });
    await rosterIs(host, 'the host', ['Hana']);
  });

  await step('the Host leaves', async () => {
    await host.click('#leave');
    await host.locator('#join-view').waitFor({ state: 'visible' });
    assert.equal(await host.locator('#locked').isVisible(), false);
  });
}

async function page_value(page, sel) {
  return page.locator(sel).inputValue();
}

async function media() {
  let host;
  await step('a participant joins with camera and microphone', async () => {
    host = await openClient('media', `?alias=${encodeURIComponent(ALIAS)}`);
    await until(host, 'the camera preview to play', () => document.getElementById('preview').videoWidth > 0);
    await joinAs(host, 'Mia', HOST_PIN);
  });
  await step('the composite arrives in #remote', async () => {
    const deadline = Date.now() + 30000;
    let seen;
    for (;;) {
      seen = await host.evaluate(async () => ({
        stats: await window.convene.inboundVideo(),
        width: document.getElementById('remote').videoWidth,
        state: document.getElementById('media-state').textContent,
      }));
      if (seen.stats && seen.stats.framesDecoded > 10 && seen.width > 0) break;
      if (Date.now() > deadline) throw new Error(`no video decoded in #remote within 30 s: ${JSON.stringify(seen)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(`inbound video: ${JSON.stringify(seen)}`);
  });
  let guest;
  await step('a second participant joins; each sees the other\'s camera in the composite', async () => {
    guest = await openClient('media-guest', `?alias=${encodeURIComponent(ALIAS)}`, { width: 390, height: 844 });
    await until(guest, 'the camera preview to play', () => document.getElementById('preview').videoWidth > 0);
    await joinAs(guest, 'Noor', '');
    // Chromium's fake camera is a green picture: the share of green pixels in #remote.
    const green = (page) => page.evaluate(() => {
      const v = document.getElementById('remote');
      if (!v.videoWidth) return 0;
      const c = document.createElement('canvas');
      c.width = 160;
      c.height = 90;
      const g = c.getContext('2d', { willReadFrequently: true });
      g.drawImage(v, 0, 0, c.width, c.height);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 90 && d[i] < 80 && d[i + 2] < 80) n += 1;
      return n / (c.width * c.height);
    });
    for (const [label, page] of [['host', host], ['guest', guest]]) {
      const deadline = Date.now() + 30000;
      let share = 0;
      while ((share = await green(page)) < 0.1) {
        if (Date.now() > deadline) throw new Error(`the ${label}'s composite shows no camera picture (${(share * 100).toFixed(1)}% green)`);
        await new Promise((r) => setTimeout(r, 250));
      }
      console.log(`${label}: ${(share * 100).toFixed(0)}% of #remote is the other's green camera picture`);
    }
    await shot(host, 'media');
    await shot(guest, 'media-guest-390');
  });
  await step('leaving hangs up', async () => {
    await guest.click('#leave');
    await guest.locator('#join-view').waitFor({ state: 'visible' });
    await rosterIs(host, 'the host', ['Mia']);
    await host.click('#leave');
    await host.locator('#join-view').waitFor({ state: 'visible' });
  });
}

let failed = false;
try {
  if (MODE === 'media') await media();
  else await flow();
  assert.deepEqual(problems, [], 'no script errors');
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.stack || e}`);
  for (const { label, page } of pages) {
    try {
      const state = await page.evaluate(() => ({
        error: document.getElementById('error').textContent,
        notice: document.getElementById('notice').textContent,
        media: document.getElementById('media-state').textContent,
        roster: [...document.querySelectorAll('#roster li')].map((li) => li.textContent),
      }));
      console.error(`${label} page: ${JSON.stringify(state)}`);
      await shot(page, `failure-${label}`);
    } catch {
      // The page is gone.
    }
  }
  if (problems.length) console.error(problems.join('\n'));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
