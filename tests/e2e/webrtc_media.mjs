// WebRTC media through the Client API, in headless Chromium, without the browser client's UI:
// each browser is a separate Chromium whose fake camera plays a solid-colour Y4M file. Every
// page joins ALIAS with `request_token`, sends its offer to `participants/<uuid>/calls`, applies
// the answer, `ack`s, and then samples the composite it receives: it draws the <video> on a
// canvas and counts pixels of each known colour. A browser passes when it decodes frames, sees
// every colour in EXPECT_OTHERS (the other participants) and, from its first decoded frame on,
// never its own colour.
//
// With PRESENT=<name>, that browser also presents: `take_floor`, then a second peer connection
// whose only track is a solid yellow canvas, sent with `calls` and `present: "send"`; every
// browser must then see yellow (list it in EXPECT) and get a `presentation_start` event naming
// the presenter. With SECOND=<name>, that browser also asks for the presentation as a stream of
// its own (`calls` with `present: "receive"`): it must see yellow filling that stream and, once
// the stream runs, no yellow in its conference picture. With UPDATE=<name>, that browser, once
// it decodes, restarts ICE with a new offer through `calls/<call_uuid>/update` and must keep
// decoding, then sends `*7` with the call's `dtmf` and must see the conference locked.
//
// With DIGITS=<keys>, every browser sends those keys with its call's `dtmf` once it decodes.
// With WANT_SIZE=<w>x<h>, every browser must end up showing a picture of that size (a gateway
// call in one codec forwards the far end's own picture rather than one the node drew).
//
// Environment: CLIENT_URL, ALIAS, BROWSERS (`red:/path/red.y4m,green:/path/green.y4m`),
// EXPECT (per browser the colours it must see: `red=green+blue,green=red+blue`), RELAY=1 to use
// only TURN relay candidates (the `turn` list and `use_relay_candidates_only` from request_token;
// the selected candidate pair must be a relay one), CHROMIUM. Prints one JSON line per browser
// ({name, framesDecoded, firstFrameMs, seen, ownSeen, candidateType, audioPackets}); exits 0 when
// every check passed.

import { chromium } from 'playwright-core';

const CLIENT = (process.env.CLIENT_URL || '').replace(/\/$/, '');
const ALIAS = process.env.ALIAS || '';
const RELAY = process.env.RELAY === '1';
const browsers = (process.env.BROWSERS || '').split(',').filter(Boolean).map((b) => {
  const [name, file] = b.split(':');
  return { name, file };
});
const expect = Object.fromEntries(
  (process.env.EXPECT || '').split(',').filter(Boolean).map((e) => {
    const [name, others] = e.split('=');
    return [name, others.split('+')];
  }),
);
if (!CLIENT || !ALIAS || browsers.length === 0) {
  console.error('CLIENT_URL, ALIAS and BROWSERS must be set');
  process.exit(2);
}

// Runs in the page: join, call, then sample until the expectations hold (or time runs out).
async function inPage({ alias, name, others, relay, present, presenter, second, update, digits, wantSize }) {
  const api = (path) => `/api/client/v2/conferences/${encodeURIComponent(alias)}/${path}`;
  const post = async (path, body, token) => {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.token = token;
    const r = await fetch(api(path), { method: 'POST', headers, body: JSON.stringify(body) });
    return [r.status, await r.json()];
  };
  const [s, t] = await post('request_token', { display_name: name });
  if (s !== 200) return { error: `request_token ${s}: ${JSON.stringify(t)}` };
  const { token, participant_uuid: me, turn, use_relay_candidates_only: relayOnly } = t.result;
  if (relay && (!turn.length || !relayOnly)) return { error: `no TURN in request_token: ${JSON.stringify(t.result)}` };
  const iceServers = turn.map((x) => ({ urls: x.urls, username: x.username, credential: x.credential }));
  const events = [];
  const source = new EventSource(`${api('events')}?token=${encodeURIComponent(token)}`);
  for (const e of ['presentation_start', 'presentation_stop']) {
    source.addEventListener(e, (m) => events.push([e, JSON.parse(m.data)]));
  }
  const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: relayOnly ? 'relay' : 'all' });
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 180 } });
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  const video = document.createElement('video');
  video.muted = true;
  video.autoplay = true;
  document.body.appendChild(video);
  pc.ontrack = (e) => {
    if (e.track.kind === 'video') video.srcObject = new MediaStream([e.track]);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && done());
    setTimeout(done, 5000);
  });
  const t0 = performance.now();
  const [cs, c] = await post(`participants/${me}/calls`, { call_type: 'WEBRTC', sdp: pc.localDescription.sdp }, token);
  if (cs !== 200) return { error: `calls ${cs}: ${JSON.stringify(c)}` };
  await pc.setRemoteDescription({ type: 'answer', sdp: c.result.sdp });
  const [as] = await post(`participants/${me}/calls/${c.result.call_uuid}/ack`, {}, token);
  if (as !== 200) return { error: `ack ${as}` };

  const secondVideo = document.createElement('video');
  secondVideo.muted = true;
  secondVideo.autoplay = true;
  let secondSince = null;
  if (second) {
    const rpc = new RTCPeerConnection({ iceServers, iceTransportPolicy: relayOnly ? 'relay' : 'all' });
    window.presentationStream = rpc;
    rpc.addTransceiver('video', { direction: 'recvonly' });
    rpc.ontrack = (e) => {
      secondVideo.srcObject = new MediaStream([e.track]);
    };
    await rpc.setLocalDescription(await rpc.createOffer());
    await new Promise((done) => {
      if (rpc.iceGatheringState === 'complete') return done();
      rpc.addEventListener('icegatheringstatechange', () => rpc.iceGatheringState === 'complete' && done());
      setTimeout(done, 5000);
    });
    const body = { call_type: 'WEBRTC', sdp: rpc.localDescription.sdp, present: 'receive' };
    const [rs, r] = await post(`participants/${me}/calls`, body, token);
    if (rs !== 200) return { error: `presentation stream calls ${rs}: ${JSON.stringify(r)}` };
    await rpc.setRemoteDescription({ type: 'answer', sdp: r.result.sdp });
    await post(`participants/${me}/calls/${r.result.call_uuid}/ack`, {}, token);
    secondSince = performance.now();
  }

  if (present) {
    const [fs, f] = await post(`participants/${me}/take_floor`, {}, token);
    if (fs !== 200) return { error: `take_floor ${fs}: ${JSON.stringify(f)}` };
    const screen = document.createElement('canvas');
    screen.width = 640;
    screen.height = 360;
    const sctx = screen.getContext('2d');
    const paint = () => {
      sctx.fillStyle = '#ffff00';
      sctx.fillRect(0, 0, screen.width, screen.height);
    };
    paint();
    setInterval(paint, 100); // a canvas stream only has frames when it is drawn on
    const track = screen.captureStream(10).getVideoTracks()[0];
    const ppc = new RTCPeerConnection({ iceServers, iceTransportPolicy: relayOnly ? 'relay' : 'all' });
    window.presentation = ppc;
    ppc.addTransceiver(track, { direction: 'sendonly' });
    await ppc.setLocalDescription(await ppc.createOffer());
    await new Promise((done) => {
      if (ppc.iceGatheringState === 'complete') return done();
      ppc.addEventListener('icegatheringstatechange', () => ppc.iceGatheringState === 'complete' && done());
      setTimeout(done, 5000);
    });
    const body = { call_type: 'WEBRTC', sdp: ppc.localDescription.sdp, present: 'send' };
    const [ps, pc2] = await post(`participants/${me}/calls`, body, token);
    if (ps !== 200) return { error: `presentation calls ${ps}: ${JSON.stringify(pc2)}` };
    await ppc.setRemoteDescription({ type: 'answer', sdp: pc2.result.sdp });
    await post(`participants/${me}/calls/${pc2.result.call_uuid}/ack`, {}, token);
  }

  const classify = (r, g, b) => {
    if (r > 150 && g < 100 && b < 100) return 'red';
    if (g > 120 && r < 100 && b < 100) return 'green';
    if (r > 150 && g > 150 && b < 100) return 'yellow';
    if (b > 150 && r < 100 && g < 100) return 'blue';
    return null;
  };
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  let firstFrameMs = null, framesDecoded = 0, audioPackets = 0, ownSeen = false, samples = 0;
  let seen = {};
  let secondYellow = 0, yellowInMainAfterSecond = false;
  const share = (v, colour) => {
    if (!v.videoWidth) return 0;
    canvas.width = v.videoWidth;
    canvas.height = v.videoHeight;
    ctx.drawImage(v, 0, 0);
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 16) if (classify(px[i], px[i + 1], px[i + 2]) === colour) n++;
    return n / (px.length / 16);
  };
  const deadline = performance.now() + 30000;
  while (performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const stats = await pc.getStats();
    stats.forEach((st) => {
      if (st.type === 'inbound-rtp' && st.kind === 'video') framesDecoded = st.framesDecoded || 0;
      if (st.type === 'inbound-rtp' && st.kind === 'audio') audioPackets = st.packetsReceived || 0;
    });
    if (framesDecoded > 0 && firstFrameMs === null) firstFrameMs = Math.round(performance.now() - t0);
    if (!framesDecoded || !video.videoWidth) continue;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    ctx.drawImage(video, 0, 0);
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const counts = {};
    for (let i = 0; i < px.length; i += 16) {
      const k = classify(px[i], px[i + 1], px[i + 2]);
      if (k) counts[k] = (counts[k] || 0) + 1;
    }
    const total = px.length / 16;
    // A colour is "there" when it covers a thumbnail's worth of the picture (0.3%).
    const present = Object.keys(counts).filter((k) => counts[k] / total > 0.003);
    samples++;
    if (present.includes(name)) ownSeen = true;
    if (second) {
      secondYellow = Math.max(secondYellow, share(secondVideo, 'yellow'));
      if (present.includes('yellow') && performance.now() - secondSince > 1500) yellowInMainAfterSecond = true;
    }
    seen = Object.fromEntries(present.map((k) => [k, true]));
    // Only once everyone is in: the *7 below locks the conference, which would hold back a
    // browser that has not joined yet.
    if (update && framesDecoded > 0 && others.every((o) => seen[o]) && !window.updated) {
      window.updated = true;
      await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
      await new Promise((done) => {
        if (pc.iceGatheringState === 'complete') return done();
        pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && done());
        setTimeout(done, 5000);
      });
      const [us, u] = await post(`participants/${me}/calls/${c.result.call_uuid}/update`, { sdp: pc.localDescription.sdp }, token);
      if (us !== 200) return { error: `update ${us}: ${JSON.stringify(u)}` };
      await pc.setRemoteDescription({ type: 'answer', sdp: u.result.sdp });
      window.framesAtUpdate = framesDecoded;
      const [ds, dd] = await post(`participants/${me}/calls/${c.result.call_uuid}/dtmf`, { digits: '*7' }, token);
      if (ds !== 200) return { error: `dtmf ${ds}: ${JSON.stringify(dd)}` };
    }
    // DIGITS: keys sent with the call's `dtmf` once the picture is there (on a gateway call
    // they go on to the far end).
    if (digits && framesDecoded > 0 && !window.keyed) {
      window.keyed = true;
      const [ks, kd] = await post(`participants/${me}/calls/${c.result.call_uuid}/dtmf`, { digits }, token);
      if (ks !== 200) return { error: `dtmf ${ks}: ${JSON.stringify(kd)}` };
    }
    const updated = !update || (window.framesAtUpdate !== undefined && framesDecoded > window.framesAtUpdate + 10 && pc.connectionState === 'connected');
    const announced = !presenter || events.some(([e, d]) => e === 'presentation_start' && d.presenter_name === presenter);
    const secondDone = !second || secondYellow > 0.5;
    const sized = !wantSize || `${video.videoWidth}x${video.videoHeight}` === wantSize;
    if (samples >= 5 && others.every((o) => seen[o]) && audioPackets > 20 && announced && secondDone && updated && sized) break;
  }
  // The local candidate of the pair in use: `relay` when the media goes through TURN.
  const final = await pc.getStats();
  let candidateType = null;
  final.forEach((st) => {
    if (st.type === 'candidate-pair' && st.nominated && st.state === 'succeeded') {
      candidateType = final.get(st.localCandidateId)?.candidateType ?? null;
    }
  });
  // Leaving, called once every browser is done: the presenter releases the floor first.
  window.leave = async () => {
    if (present) await post(`participants/${me}/release_floor`, {}, token);
    await post('release_token', {}, token);
    source.close();
  };
  let locked = null;
  if (update) {
    const r = await fetch(api('conference_status'), { headers: { token } });
    locked = (await r.json()).result?.locked ?? null;
  }
  const presentationStart = events.find(([e]) => e === 'presentation_start')?.[1] ?? null;
  return { name, size: `${video.videoWidth}x${video.videoHeight}`, framesDecoded, firstFrameMs, seen: Object.keys(seen), ownSeen, candidateType, audioPackets, state: pc.connectionState, presentationStart, secondYellow, yellowInMainAfterSecond,
    framesAtUpdate: window.framesAtUpdate ?? null, locked };
}

const args = ['--no-sandbox', '--disable-gpu', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic', '--no-first-run', '--autoplay-policy=no-user-gesture-required'];
const launched = [];
const runs = [];
const pages = [];
for (const b of browsers) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [...args, `--use-file-for-fake-video-capture=${b.file}`],
  });
  launched.push(browser);
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && !m.text().includes('404') && console.error(`${b.name}: ${m.text()}`));
  await page.goto(`${CLIENT}/api/client/v2/status`);
  pages.push([b.name, page]);
  const presenter = process.env.PRESENT || null;
  runs.push(page.evaluate(inPage, { alias: ALIAS, name: b.name, others: expect[b.name] || [], relay: RELAY, present: presenter === b.name, presenter, second: process.env.SECOND === b.name, update: process.env.UPDATE === b.name, digits: process.env.DIGITS || '', wantSize: process.env.WANT_SIZE || '' }));
}
let failed = false;
for (const r of await Promise.all(runs)) {
  console.log(JSON.stringify(r));
  const problems = [];
  if (r.error) problems.push(r.error);
  else {
    if (!(r.framesDecoded > 0)) problems.push('no video decoded');
    if (!(r.audioPackets > 20)) problems.push('no audio received');
    for (const o of expect[r.name] || []) if (!r.seen.includes(o)) problems.push(`never saw ${o}`);
    if (process.env.WANT_SIZE && r.size !== process.env.WANT_SIZE) problems.push(`shown ${r.size}, not ${process.env.WANT_SIZE}`);
    if (r.ownSeen) problems.push('saw its own colour');
    if (RELAY && r.candidateType !== 'relay') problems.push(`candidate ${r.candidateType}, not relay`);
    if (process.env.PRESENT && r.presentationStart?.presenter_name !== process.env.PRESENT) problems.push(`no presentation_start from ${process.env.PRESENT}`);
    if (process.env.SECOND === r.name && !(r.secondYellow > 0.5)) problems.push(`the presentation stream was not the presentation (yellow ${r.secondYellow})`);
    if (process.env.UPDATE === r.name && !(r.framesAtUpdate !== null && r.framesDecoded > r.framesAtUpdate + 10)) problems.push(`not decoding after the update (${r.framesAtUpdate} → ${r.framesDecoded})`);
    if (process.env.UPDATE === r.name && r.locked !== true) problems.push(`*7 by call dtmf did not lock the conference (locked: ${r.locked})`);
    if (process.env.SECOND === r.name && r.yellowInMainAfterSecond) problems.push('the presentation stayed in the conference picture beside its own stream');
  }
  if (problems.length) {
    failed = true;
    console.error(`${r.name || '?'}: ${problems.join('; ')}`);
  }
}
// The presenter stops presenting and leaves first, then the others leave.
pages.sort(([a], [b]) => (b === process.env.PRESENT) - (a === process.env.PRESENT));
for (const [, page] of pages) await page.evaluate(() => window.leave && window.leave()).catch(() => {});
for (const b of launched) await b.close();
process.exit(failed ? 1 : 0);
