// The seed's original stack, as a comparison peer for the end-to-end
// benchmark: @twurple/chat (anonymous, plain TCP to the given address) reads
// Twitch chat, every PRIVMSG (and /me) becomes the ingress envelope built with
// JSON.stringify and crypto.randomUUID, published with the `nats` client to
// internal.ingress.v1 over core NATS or JetStream (with a msgID). On SIGTERM
// or SIGINT it quits chat, waits (bounded) for outstanding publishes, and
// prints one JSON summary line to stdout.
//
//   node peer.js --irc 127.0.0.1:6667 --channel-count 100 --channel-prefix ch \
//                --nats nats://127.0.0.1:4222 [--jetstream --stream INGRESS]

import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ChatClient, parseEmotePositions } from '@twurple/chat';
import { connect, nanos } from 'nats';

function fail(msg) {
  process.stderr.write(`twurple-peer: ${msg}\n`);
  process.exit(2);
}

const { values: opt } = parseArgs({
  options: {
    irc: { type: 'string', default: '127.0.0.1:6667' },
    tls: { type: 'boolean', default: false },
    channels: { type: 'string', default: '' },
    'channel-count': { type: 'string', default: '0' },
    'channel-prefix': { type: 'string', default: 'ch' },
    connections: { type: 'string', default: '1' },
    'bot-level': { type: 'string', default: 'verified' },
    nats: { type: 'string', default: 'nats://127.0.0.1:4222' },
    subject: { type: 'string', default: 'internal.ingress.v1' },
    jetstream: { type: 'boolean', default: false },
    stream: { type: 'string', default: '' },
    'no-msg-id': { type: 'boolean', default: false },
    drain: { type: 'string', default: '10' },
  },
  strict: true,
});

let channels = [];
const channelCount = Number(opt['channel-count']);
if (opt.channels && channelCount > 0) fail('give --channels or --channel-count, not both');
if (opt.channels) {
  channels = opt.channels.split(',').map((c) => c.trim().replace(/^#/, '').toLowerCase()).filter(Boolean);
} else {
  for (let i = 0; i < channelCount; i++) channels.push(`${opt['channel-prefix']}${i}`);
}
if (channels.length === 0) fail('no channels: give --channels or --channel-count');
const connections = Math.min(Math.max(Number(opt.connections) || 1, 1), channels.length);
if (!['none', 'known', 'verified'].includes(opt['bot-level'])) fail('--bot-level: want none, known or verified');
const drainMs = Number(opt.drain) * 1000;

const m = /^(.*):(\d+)$/.exec(opt.irc);
if (!m) fail(`--irc ${opt.irc}: want host:port`);
const host = m[1].replace(/^\[(.*)\]$/, '$1');
const port = Number(m[2]);

const start = process.hrtime.bigint();
const counts = { received: 0, published: 0, duplicates: 0, errors: 0, inFlight: 0, maxInFlight: 0 };
const encoder = new TextEncoder();

const nc = await connect({ servers: opt.nats, name: 'twurple-peer', maxReconnectAttempts: -1 });
let js = null;
if (opt.jetstream) {
  if (opt.stream) {
    const jsm = await nc.jetstreamManager();
    try {
      await jsm.streams.info(opt.stream);
    } catch {
      await jsm.streams.add({ name: opt.stream, subjects: [opt.subject], duplicate_window: nanos(120_000) });
    }
  }
  js = nc.jetstream();
}

// buildEnvelope is the seed's §13 envelope, as the seed's EnvelopeBuilder
// would write it from Twurple's onMessage arguments.
function buildEnvelope(channel, text, msg) {
  const id = randomUUID();
  const u = msg.userInfo;
  return {
    v: '1',
    id,
    correlationId: id,
    traceId: randomUUID(),
    timestamp: new Date().toISOString(),
    type: 'external.chat.message.v1',
    source: { platform: 'twitch', channel, channelId: msg.channelId ?? '' },
    user: {
      id: u.userId,
      name: u.userName,
      displayName: u.displayName || u.userName,
      profileImageUrl: '',
      role: '',
    },
    routingSlip: [],
    finalizationDestination: 'internal.finalizer.v1',
    payload: {
      text,
      messageId: msg.id,
      badges: [...u.badges.keys()],
      isMod: u.isMod,
      isSubscriber: u.isSubscriber,
      color: u.color ?? '',
      emotes: parseEmotePositions(text, msg.emoteOffsets).map((e) => ({
        id: e.id,
        name: e.name,
        start: e.position,
        end: e.position + e.length - 1,
      })),
      raw: { tags: Object.fromEntries(msg.tags) },
    },
  };
}

function onChat(channel, _user, text, msg) {
  counts.received++;
  let data;
  try {
    data = encoder.encode(JSON.stringify(buildEnvelope(channel, text, msg)));
  } catch {
    counts.errors++;
    return;
  }
  if (!js) {
    try {
      nc.publish(opt.subject, data);
      counts.published++;
    } catch {
      counts.errors++;
    }
    return;
  }
  // An event callback cannot apply backpressure to the chat socket, so
  // in-flight JetStream publishes are not bounded here; the summary reports
  // the most there were at once.
  counts.inFlight++;
  counts.maxInFlight = Math.max(counts.maxInFlight, counts.inFlight);
  const po = opt['no-msg-id'] || !msg.id ? {} : { msgID: msg.id };
  js.publish(opt.subject, data, po).then(
    (ack) => {
      if (ack.duplicate) counts.duplicates++;
      else counts.published++;
    },
    () => {
      counts.errors++;
    },
  ).finally(() => {
    counts.inFlight--;
  });
}

// setPort points a client at a port other than the one ChatClient derives
// from `ssl` (6667 plain, 6697 TLS): @twurple/chat 8 takes `hostName`, `ssl`
// and `webSocket` but no port, so the port is set on the connection target of
// its IRC client, which is read afresh at every (re)connect.
function setPort(chat, p) {
  const target = chat._ircClient?._connection?._target;
  if (!target || typeof target !== 'object' || !('port' in target)) {
    fail('cannot set the IRC port on this @twurple/chat version; serve IRC on port 6667 (plain) instead');
  }
  target.port = p;
}

const clients = [];
for (let i = 0; i < connections; i++) {
  const mine = channels.filter((_, j) => j % connections === i);
  const chat = new ChatClient({
    hostName: host,
    ssl: opt.tls,
    webSocket: false,
    channels: mine,
    botLevel: opt['bot-level'],
    logger: { minLevel: 'error' },
  });
  if (port !== (opt.tls ? 6697 : 6667)) setPort(chat, port);
  chat.onMessage(onChat);
  chat.onAction(onChat);
  chat.onConnect(() => process.stderr.write(`twurple-peer: client ${i} connected to ${opt.irc}\n`));
  chat.connect();
  clients.push(chat);
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  for (const chat of clients) chat.quit();
  const deadline = Date.now() + drainMs;
  while (counts.inFlight > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  counts.errors += counts.inFlight;
  try {
    await Promise.race([nc.flush(), new Promise((_, rej) => setTimeout(() => rej(new Error('flush timeout')), drainMs))]);
    await nc.close();
  } catch (e) {
    process.stderr.write(`twurple-peer: flush: ${e.message}\n`);
    counts.errors++;
  }
  process.stdout.write(
    JSON.stringify({
      peer: 'twurple',
      mode: js ? 'jetstream' : 'core',
      channels: channels.length,
      connections,
      received: counts.received,
      published: counts.published,
      duplicates: counts.duplicates,
      errors: counts.errors,
      maxInFlight: counts.maxInFlight,
      seconds: Number(process.hrtime.bigint() - start) / 1e9,
    }) + '\n',
  );
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
